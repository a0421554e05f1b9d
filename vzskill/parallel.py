"""How many files are parsed at once, and by what: serial, threads, processes or dask.

Parsing a file is I/O-bound when it is remote (a round trip per request; vzskill makes one
request per small file) and CPU-bound when it is local (HDF5 metadata decoding, ~10-40 ms a
file). :func:`choose` turns ``--parallel auto`` into a mode by these measured rules (see
benchmarks/README.md):

* fewer than :data:`MIN_FILES` files -> ``serial`` (a pool's start-up costs more than it saves);
* any remote file (``s3://``, ``https://``...) -> ``threads`` (I/O overlaps; obstore releases the
  GIL while it waits), ``min(files, 16)`` workers;
* local files only, at least :data:`MIN_PROCESS_FILES` of them and more than one core ->
  ``processes`` (a ``forkserver`` ``ProcessPoolExecutor``, one worker per core; the script that
  calls it needs the ``if __name__ == "__main__":`` guard, as for any process pool);
* otherwise ``serial``.

:func:`map_ordered` runs a per-file function in the chosen mode and returns the results in input
order, calling ``progress(done, total)`` as files finish (so the CLI's progress bar keeps moving).
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import BrokenExecutor, Executor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, TypeVar

__all__ = ["MODES", "Choice", "choose", "map_ordered", "executor_for"]

T = TypeVar("T")

MODES = ("auto", "serial", "threads", "processes", "dask")
MIN_FILES = 8  # below this, serial
MIN_PROCESS_FILES = 200  # local files: a process pool pays off from here (start-up + worker warm-up 1-3 s)
MAX_THREADS = 16
PRELOAD = ("vzskill.parse", "vzskill.formats", "virtualizarr.parsers", "xarray", "h5py", "h5py._hl.dims", "dask.array", "scipy")


@dataclass(frozen=True)
class Choice:
    """The resolved mode (``serial``/``threads``/``processes``/``dask``), its workers and why."""

    mode: str
    workers: int
    reason: str


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def choose(parallel: Any, urls: Sequence[str], workers: int | None = None) -> Choice:
    """Resolve ``parallel`` (a mode name, ``None``/``False``/``True``) for these files.

    Parameters
    ----------
    parallel
        ``"auto"`` (or ``True``), ``"serial"`` (or ``None``/``False``), ``"threads"``,
        ``"processes"``, ``"dask"``.
    urls
        The files (their number and whether any is remote decide ``auto``).
    workers
        Worker count; None = the mode's default (threads: ``min(files, 16)``; processes: cores).

    Raises
    ------
    ValueError
        An unknown mode, or ``workers`` < 1.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers={workers}: need at least 1 -> pass --workers 1 or more")
    mode = "serial" if parallel in (None, False) else "auto" if parallel is True else parallel
    if mode not in MODES:
        raise ValueError(f"parallel={parallel!r}: choose one of {', '.join(MODES)}")
    n = len(urls)
    if mode == "auto":
        mode, reason = _auto(urls)
    else:
        reason = "as asked"
    if mode == "threads":
        return Choice(mode, workers or max(1, min(n, MAX_THREADS)), reason)
    if mode == "processes":
        return Choice(mode, workers or max(1, min(n, _cores())), reason)
    if mode == "dask":
        return Choice(mode, workers or _cores(), reason)
    return Choice("serial", 1, reason)


def _auto(urls: Sequence[str]) -> tuple[str, str]:
    n = len(urls)
    if n < MIN_FILES:
        return "serial", f"{n} file(s): fewer than {MIN_FILES}"
    if any(_remote(u) for u in urls):
        return "threads", "remote files: requests overlap in threads"
    if n >= MIN_PROCESS_FILES and _cores() > 1:
        return "processes", f"{n} local files, {_cores()} cores: CPU-bound parse in forkserver processes"
    return "serial", f"{n} local files: too few for a process pool" if n < MIN_PROCESS_FILES else "one core"


@contextmanager
def executor_for(choice: Choice) -> Iterator[Executor | None]:
    """The Executor of ``choice`` (None for serial and for dask without a distributed client)."""
    if choice.mode == "threads":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=choice.workers, thread_name_prefix="vzskill-parse") as pool:
            yield pool
    elif choice.mode == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("forkserver")
        # the fork server imports the parsing stack once; every worker forks from it already
        # loaded (else each worker imports xarray/virtualizarr/h5py itself: ~2 s CPU apiece)
        ctx.set_forkserver_preload(list(PRELOAD))
        with ProcessPoolExecutor(max_workers=choice.workers, mp_context=ctx) as pool:
            yield pool
    elif choice.mode == "dask":
        client = _dask_client()
        yield client.get_executor() if client is not None else None
    else:
        yield None


def _dask_client() -> Any:
    """The current dask.distributed client, or one for ``DASK_SCHEDULER_ADDRESS``; None if neither."""
    try:
        from distributed import Client, get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        address = os.environ.get("DASK_SCHEDULER_ADDRESS")
        return Client(address) if address else None


def _batches(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _run_batch(work: Callable[[Any], T], batch: list[Any]) -> list[T]:
    return [work(item) for item in batch]


def map_ordered(
    work: Callable[[Any], T],
    items: Sequence[Any],
    choice: Choice,
    progress: Callable[[int, int], None] | None = None,
) -> list[T]:
    """``[work(i) for i in items]`` run as ``choice`` says, in input order.

    ``progress(done, total)`` is called after each finished item (serial, threads) or batch
    (processes, dask: items are sent in batches to keep the per-task cost low). ``work`` must be
    picklable for processes and dask.
    """
    total = len(items)
    step = progress or (lambda done, n: None)
    if choice.mode == "serial" or total <= 1:
        out = []
        for item in items:
            out.append(work(item))
            step(len(out), total)
        return out
    try:
        return _pooled(work, items, choice, step)
    except BrokenExecutor:  # a worker died (killed, out of memory, no __main__ guard): redo serially
        return map_ordered(work, items, Choice("serial", 1, f"{choice.mode} pool broke"), progress)


def _pooled(work: Callable[[Any], T], items: Sequence[Any], choice: Choice, step: Callable[[int, int], None]) -> list[T]:
    total = len(items)
    size = 1 if choice.mode == "threads" else max(1, min(16, total // (choice.workers * 4) or 1))
    batches = _batches(items, size)
    with warnings.catch_warnings(), executor_for(choice) as pool:
        warnings.simplefilter("ignore")  # parsers warn; per-thread catch_warnings would race
        if pool is None:  # dask without a distributed client: dask.delayed, default scheduler
            import dask

            tasks = [dask.delayed(_run_batch)(work, b) for b in batches]
            results = dask.compute(*tasks, num_workers=choice.workers)
            step(total, total)
            return [r for batch in results for r in batch]
        if choice.mode == "processes":
            done = _shared(work, batches, pool, step, total)
        else:
            done = {}
            futures = {pool.submit(_run_batch, work, b): i for i, b in enumerate(batches)}
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                step(sum(len(b) for b in done.values()), total)
    return [r for i in range(len(batches)) for r in done[i]]


class _Claims:
    """Batch indexes handed out from both ends, each exactly once (thread-safe)."""

    def __init__(self, n: int) -> None:
        self._lo, self._hi = 0, n
        self._lock = threading.Lock()

    def front(self) -> int | None:
        with self._lock:
            if self._lo >= self._hi:
                return None
            self._lo += 1
            return self._lo - 1

    def back(self) -> int | None:
        with self._lock:
            if self._lo >= self._hi:
                return None
            self._hi -= 1
            return self._hi


def _shared(work: Callable[[Any], T], batches: list[list[Any]], pool: Executor, step: Callable[[int, int], None],
            total: int) -> dict[int, list[T]]:
    """Process pool + this process: a thread submits batches from the front (the first submit waits
    1-3 s for the fork server and the workers to start) while this process parses from the back."""
    claims = _Claims(len(batches))
    futures: dict[Any, int] = {}
    failed: list[BaseException] = []

    def submit_front() -> None:
        try:
            while (i := claims.front()) is not None:
                futures[pool.submit(_run_batch, work, batches[i])] = i
        except BaseException as exc:  # noqa: BLE001 - re-raised below as a broken pool
            failed.append(exc)

    submitter = threading.Thread(target=submit_front, name="vzskill-submit", daemon=True)
    submitter.start()
    done: dict[int, list[T]] = {}
    while (j := claims.back()) is not None:
        done[j] = _run_batch(work, batches[j])
        step(sum(len(b) for b in done.values()), total)
    submitter.join()
    if failed:
        raise BrokenExecutor(f"submitting to the process pool failed: {failed[0]!r}")
    for future in as_completed(futures):
        done[futures[future]] = future.result()
        step(sum(len(b) for b in done.values()), total)
    return done
