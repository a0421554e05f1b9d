"""The last step of a write: one Icechunk commit on a branch, or nothing at all.

* the branch is created from ``main`` when missing (and deleted again if the write fails);
* every attempt opens the writable session FIRST and reads the stored data from it: the checks and
  the write see the same snapshot (checking one tip and writing on a newer one put files out of order);
* the tip must suit the write: empty for a first write, compatible data for an append (same
  variables, the append dimension stored); an append's files are placed by their coordinate values
  (:mod:`vzskill.append`: already stored -> skipped, overlapping -> refused, in a gap before the
  tail -> inserted by moving chunk references), and the axis must be strictly increasing before the commit;
* appends merge the stored global attributes with the new files' (drop_conflicts); names dropped
  by any earlier write are remembered in the snapshot metadata (``vzskill:dropped_attrs``) and stay
  dropped;
* a ``ConflictError`` (another writer committed first) redoes everything from the new tip, after a
  full-jitter backoff, at most ``retries`` times;
  any other error discards the session: the branch tip is unchanged.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import icechunk
import xarray as xr

from vzskill.append import (
    Placement,
    assert_compatible,
    assert_increasing,
    axis_values,
    file_sources,
    place,
    reorder,
    stored_sources,
)
from vzskill.combination import merge_attrs
from vzskill.outcome import VirtualizeError
from vzskill.parse import ParsedFile
from vzskill.registry import build_registry
from vzskill.sources import Access, display_name, local_path

DROPPED_KEY = "vzskill:dropped_attrs"
DEFAULT_RETRIES = 16  # 8+ writers racing on one branch all land (measured: tests/test_concurrency_s3.py)
Step = Callable[[str, int, int], None]


@dataclass
class Stored:
    """What a branch tip holds, for an append: the dataset (lazy), its global attrs, names dropped before."""

    dataset: xr.Dataset | None
    attrs: dict[str, Any]
    dropped: list[str]
    groups: list[str] = field(default_factory=list)  # the root's subgroups (a datatree written before)


def _stored_from(repo: icechunk.Repository, store: Any, snapshot_id: str) -> Stored:
    import zarr

    try:
        group = zarr.open_group(store, mode="r", zarr_format=3)
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.GroupNotFoundError):  # no root group yet
        return Stored(None, {}, [])
    if not list(group.array_keys()):
        return Stored(None, dict(group.attrs), [], groups=[str(k) for k in group.group_keys()])
    dataset = xr.open_zarr(store, consolidated=False, zarr_format=3, chunks=None)
    info = repo.lookup_snapshot(snapshot_id)
    dropped = list((info.metadata or {}).get(DROPPED_KEY) or [])
    return Stored(dataset, dict(group.attrs), dropped)


def read_stored(repo: icechunk.Repository, branch: str) -> Stored:
    """The data on ``branch`` (``dataset`` None when the branch has no arrays or does not exist)."""
    if branch not in repo.list_branches():
        branch = "main"
    session = repo.readonly_session(branch=branch)
    return _stored_from(repo, session.store, session.snapshot_id)


def check_append(stored: Stored, combined: xr.Dataset, concat_dim: str, branch: str) -> None:
    """Refuse appends that cannot be placed (the order of the values is :func:`vzskill.append.place`'s).

    Raises
    ------
    VirtualizeError
        The stored data lacks ``concat_dim``, or the new files lack a stored variable or bring a new one.
    """
    existing = stored.dataset
    assert existing is not None
    if concat_dim not in existing.dims:
        raise VirtualizeError(
            f"append_dim {concat_dim!r} is not a dimension of the data on branch {branch!r} "
            f"(dims: {', '.join(map(str, existing.dims))}) -> use the stored dimension name"
        )
    missing = sorted(set(map(str, existing.data_vars)) - set(map(str, combined.data_vars)))
    if missing:
        raise VirtualizeError(
            f"the new files lack variable(s) {', '.join(missing)} stored on branch {branch!r} -> append files with the same variables"
        )
    extra = sorted(set(map(str, combined.data_vars)) - set(map(str, existing.data_vars)))
    if extra:
        drops = ", ".join(repr(v) for v in extra)
        raise VirtualizeError(
            f"the new files have variable(s) {', '.join(extra)} not stored on branch {branch!r}, nothing written -> "
            f"drop them (drop_variables=[{drops}] / --drop {' --drop '.join(extra)}), or write them to a new repository"
        )


def _discard(session: Any) -> None:
    try:
        session.discard_changes()
    except Exception:  # noqa: BLE001
        pass


def _cleanup_branch(repo: icechunk.Repository, branch: str, created: str | None) -> None:
    """Delete a branch this call created, unless somebody else has committed to it meanwhile."""
    if created is None:
        return
    try:
        if repo.lookup_branch(branch) == created:
            repo.delete_branch(branch)
    except Exception:  # noqa: BLE001
        pass


def _ensure_branch(repo: icechunk.Repository, branch: str) -> str | None:
    if branch in repo.list_branches():
        return None
    if "main" not in repo.list_branches():
        raise VirtualizeError(f"branch {branch!r} does not exist and there is no 'main' to start it from")
    start = repo.lookup_branch("main")
    try:
        repo.create_branch(branch, start)
    except icechunk.IcechunkError as exc:  # another writer created it first: write on theirs
        if getattr(exc, "kind", None) == icechunk.ErrorKind.BRANCH_ALREADY_EXISTS:
            return None
        raise
    return start


@dataclass
class Committed:
    """What :func:`commit_write` did: the snapshot (the tip when nothing was left to write) and what it wrote."""

    snapshot_id: str
    dropped: list[str]
    written: xr.Dataset | xr.DataTree | None
    skipped: list[str] = field(default_factory=list)
    inserted: list[str] = field(default_factory=list)
    attempts: int = 1


@dataclass
class Files:
    """An append's new files, one virtual dataset per URL, and how to combine a subset of them (in order)."""

    urls: list[str]
    datasets: list[xr.Dataset]
    combine: Callable[[list[xr.Dataset]], xr.Dataset]


def _with_attrs(ds: xr.Dataset, attrs: dict[str, Any]) -> xr.Dataset:
    out = ds.copy()
    out.attrs = attrs
    return out


def _append_target(session: Any, stored: Stored, combined: xr.Dataset, files: Files | None, concat_dim: str,
                   branch: str) -> tuple[xr.Dataset | None, list[str], Placement]:
    """The dataset to append from this tip (None: every file is stored already), the dropped names, the placement."""
    existing = stored.dataset
    assert existing is not None
    check_append(stored, combined, concat_dim, branch)
    if files is None:
        attrs, dropped = merge_attrs([stored.attrs, combined.attrs], stored.dropped)
        return _with_attrs(combined, attrs), dropped, Placement(order=[0])
    var = next((str(n) for n in existing.data_vars if concat_dim in existing[n].dims), None)
    name = next((n for n in (file_sources(ds, concat_dim)[0] for ds in files.datasets) if n is not None), var)
    new_sources = [file_sources(ds, concat_dim, name) for ds in files.datasets]  # the same variable in every file

    cache: dict[str, Any] = {}

    def sources_at(start: int, stop: int) -> set[tuple[str, int, int]] | None:
        if "at" not in cache:  # the stored manifest is read once, and only when a file may be stored already
            cache["at"] = stored_sources(session.store, name, concat_dim) if name else None
        return cache["at"](start, stop) if cache["at"] is not None else None

    placement = place(
        axis_values(existing, concat_dim), [axis_values(ds, concat_dim) for ds in files.datasets], files.urls,
        concat_dim, sources_at=sources_at, new_sources=[refs for _, refs in new_sources],
    )
    if not placement.order:
        return None, stored.dropped, placement
    for i in placement.order:
        assert_compatible(session.store, files.datasets[i], files.urls[i], concat_dim)
    kept = [files.datasets[i] for i in placement.order]
    data = files.combine(kept) if len(kept) > 1 else kept[0]
    attrs, dropped = merge_attrs([stored.attrs, *(ds.attrs for ds in kept)], stored.dropped)
    return _with_attrs(data, attrs), dropped, placement


_UNREACHABLE = {icechunk.ErrorKind.OBJECT_STORE, icechunk.ErrorKind.IO, icechunk.ErrorKind.THROTTLED,
                icechunk.ErrorKind.STORAGE_OTHER}


def _why(exc: BaseException) -> str:
    """The first line of ``exc``; a repository storage that cannot be reached (icechunk ErrorKind) says what to do."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, icechunk.IcechunkError) and getattr(exc, "kind", None) in _UNREACHABLE:
        return f"{text} -> the repository storage could not be reached; the branch tip is unchanged: rerun when it is up"
    return text


def _put_root_attrs(store: Any, attrs: dict[str, Any]) -> None:
    """Replace the root group's attributes by the merged ones (a name dropped by drop_conflicts goes)."""
    import zarr

    group = zarr.open_group(store, mode="r+", zarr_format=3)
    if dict(group.attrs) != attrs:
        group.attrs.put(attrs)


def _backoff(attempt: int, base: float, cap: float = 2.0) -> None:
    """Full-jitter exponential backoff: writers that lost together do not retry together."""
    if base > 0:
        time.sleep(random.uniform(0, min(cap, base * 2 ** attempt)))


def _attempt(repo: icechunk.Repository, session: Any, combined: xr.Dataset | xr.DataTree, *, branch: str, concat_dim: str | None,
             append: bool, message: str, dropped: list[str], files: Files | None, step: Step,
             confirm: Callable[[list[str]], None] | None, urls: list[str], extra: dict[str, Any]) -> Committed:
    """One try on the session's tip: re-read the stored data, place, write, reorder, guard, commit."""
    stored = _stored_from(repo, session.store, session.snapshot_id)
    if not append:
        if stored.dataset is not None or stored.groups:
            raise VirtualizeError(
                f"branch {branch!r} already holds data -> pass --append/append=True to add the files along "
                f"{concat_dim or 'the concat dim'}, or write to a new repository or branch"
            )
        data, all_dropped, placement = combined, dropped, Placement(order=[0])
    else:
        if stored.dataset is None:
            raise VirtualizeError(
                f"nothing to append to: branch {branch!r} has no arrays yet -> run the first write without --append/append=True"
            )
        assert concat_dim is not None and isinstance(combined, xr.Dataset)
        found, all_dropped, placement = _append_target(session, stored, combined, files, concat_dim, branch)
        if found is None:  # every file is in the repository already: nothing to commit
            return Committed(session.snapshot_id, all_dropped, None, skipped=placement.skipped)
        data = found
    step("write", 0, 1)
    if append:
        assert isinstance(data, xr.Dataset)
        data.vz.to_icechunk(session.store, append_dim=concat_dim)
        _put_root_attrs(session.store, data.attrs)  # the append keeps the stored root attributes otherwise
        if placement.inserted:
            reorder(session, str(concat_dim))
        assert_increasing(session.store, str(concat_dim))
    else:
        data.vz.to_icechunk(session.store)
    if confirm is not None:  # a source deleted/replaced since it was parsed: its references would be dangling
        confirm([files.urls[i] for i in placement.order] if files is not None else urls)
    metadata = {**extra, **({DROPPED_KEY: all_dropped} if all_dropped else {})}
    snapshot_id = session.commit(message, metadata=metadata or None)
    step("write", 1, 1)
    return Committed(snapshot_id, all_dropped, data, skipped=placement.skipped, inserted=placement.inserted)


def commit_write(
    repo: icechunk.Repository,
    combined: xr.Dataset | xr.DataTree,
    *,
    branch: str,
    concat_dim: str | None,
    append: bool,
    message: str,
    dropped: list[str],
    retries: int = DEFAULT_RETRIES,
    step: Step | None = None,
    files: Files | None = None,
    backoff: float = 0.05,
    confirm: Callable[[list[str]], None] | None = None,
    urls: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Committed:
    """Write ``combined`` (a Dataset, or a DataTree for a first write of several groups) with
    ``.vz.to_icechunk`` in ONE commit on ``branch``.

    Every attempt opens the writable session first and reads the stored data from THAT session, so
    the checks and the write see the same snapshot. An append places ``files`` against it
    (:func:`vzskill.append.place`: already stored -> skipped, overlapping -> refused, before the tail
    -> inserted by moving references); a ``ConflictError`` (another writer committed first) discards
    the session and redoes everything from the new tip, after a jittered backoff.

    Parameters
    ----------
    retries
        Redo attempts after a conflict (bounded; the total is ``retries + 1``).
    files
        An append's files one by one (placement, skipping, inserting); None appends ``combined`` as it is.
    backoff
        Base of the full-jitter exponential backoff between attempts, in seconds (capped at 2 s).
    confirm, urls
        Called with the URLs being written right before the commit (raises when a source disappeared).
    metadata
        More snapshot metadata (a batched write's ``vzskill:batch`` mark, :mod:`vzskill.batches`).

    Raises
    ------
    VirtualizeError
        The tip does not suit the write, the write failed, or other writers won ``retries + 1`` times;
        nothing is committed.
    """
    step = step or (lambda stage, done, total: None)
    created = _ensure_branch(repo, branch)
    attempt = 0
    while True:
        session = repo.writable_session(branch)
        try:
            done = _attempt(repo, session, combined, branch=branch, concat_dim=concat_dim, append=append,
                            message=message, dropped=dropped, files=files, step=step, confirm=confirm,
                            urls=list(urls or []), extra=dict(metadata or {}))
            done.attempts = attempt + 1
            return done
        except icechunk.ConflictError as exc:
            _discard(session)
            attempt += 1
            if attempt > retries:
                _cleanup_branch(repo, branch, created)
                raise VirtualizeError(
                    f"another writer committed to branch {branch!r} first ({attempt} attempts), nothing committed -> "
                    "rerun (or raise --retries / conflict_retries=), or serialize the writers (each try re-checks "
                    "against the new tip)"
                ) from exc
            _backoff(attempt, backoff)
        except VirtualizeError:
            _discard(session)
            _cleanup_branch(repo, branch, created)
            raise
        except Exception as exc:  # noqa: BLE001 - anything: nothing is committed
            _discard(session)
            _cleanup_branch(repo, branch, created)
            raise VirtualizeError(f"write failed, nothing committed: {_why(exc)}") from exc


# --------------------------------------------------------------------------- sources confirmed before the commit


def _size_now(url: str, registry: Any) -> int | None:
    """The source's size right now (None: it does not exist any more; -1: it exists, size unknown)."""
    if url.startswith("file://"):
        try:
            return os.stat(local_path(url)).st_size
        except FileNotFoundError:
            return None
    import obstore
    from obstore.exceptions import NotFoundError

    store, path = registry.resolve(url)
    try:
        return int(obstore.head(store, str(path))["size"])
    except NotFoundError:
        return None
    except Exception:  # noqa: BLE001 - some HTTP servers refuse HEAD (405/403): one byte by GET proves it is there
        try:
            obstore.get_range(store, str(path), start=0, length=1)
        except FileNotFoundError:  # obstore's NotFoundError, or the builtin for an HTTP 404 on GET
            return None
        return -1  # there, size unknown


# a remote store is a prefix, not an object: it is there when its marker object is (its size changes on every commit)
_MARKERS = {"icechunk": ("repo",), "zarr": ("zarr.json", ".zgroup", ".zarray")}


def _now(url: str, kind: str | None, registry: Any) -> int | None:
    """:func:`_size_now` of a file; of a remote Icechunk/Zarr store: -1 (there) when a marker object exists, else None."""
    markers = _MARKERS.get(kind or "")
    if markers is None or url.startswith("file://"):
        return _size_now(url, registry)
    base = url.rstrip("/")
    return -1 if any(_size_now(f"{base}/{m}", registry) is not None for m in markers) else None


def source_guard(parsed: Sequence[ParsedFile], access: Access | None,
                 registry: Any = None) -> Callable[[Sequence[str]], None]:
    """A check run right before the commit: every written source still exists with the size it was parsed at.

    One metadata request per remote file (16 at a time, on the keep-alive connections of one
    registry: ``registry``, the one the files were parsed through, else one built here), one
    ``stat`` per local file. A remote Icechunk repository or Zarr store (a prefix) is confirmed by
    its marker object (``repo``; ``zarr.json``/``.zgroup``/``.zarray``), its size not compared.
    """
    sizes = {p.url: p.size for p in parsed}
    kinds = {p.url: p.kind for p in parsed}
    remote = [u for u in sizes if not u.startswith("file://")]
    if remote and registry is None:
        registry = build_registry(remote, access)

    def confirm(urls: Sequence[str]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        todo = list(dict.fromkeys(urls))
        try:
            with ThreadPoolExecutor(max_workers=16) as pool:
                now = dict(zip(todo, pool.map(lambda u: _now(u, kinds.get(u), registry), todo), strict=True))
        except Exception as exc:  # noqa: BLE001 - unreachable/permission: the write must not go on blind
            raise VirtualizeError(
                f"could not confirm the sources before the commit ({type(exc).__name__}: {_why(exc)}), "
                "nothing committed -> rerun when the sources are reachable"
            ) from exc
        for url in todo:
            before = sizes.get(url)
            if now[url] is None or (before is not None and now[url] not in (before, -1)):
                what = "disappeared" if now[url] is None else f"changed size ({before} -> {now[url]} bytes)"
                raise VirtualizeError(
                    f"{display_name(url)}: the source {what} while writing, nothing committed -> restore it, or rerun "
                    "with the files as they are now"
                )

    return confirm
