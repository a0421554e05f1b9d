"""Parsing on a dask.distributed cluster: which client, for how long.

:func:`cluster_parallel` turns ``virtualize``'s ``parallel=`` / ``dask_scheduler=`` into what
:func:`vzskill.parse.parse_files` takes, with the client made *current* for the duration of the
write (``Client.as_current``), so the parse's ``parallel="dask"`` submits to it:

* a ``distributed.Client`` -> that client (not closed afterwards);
* ``dask_scheduler="tcp://host:8786"`` (CLI ``--dask-scheduler``, default ``DASK_SCHEDULER_ADDRESS``)
  -> a client connected for this write and closed after it;
* ``parallel="dask"`` -> the current client, else one for ``DASK_SCHEDULER_ADDRESS``, else dask's
  local scheduler (``dask.delayed``: no cluster);
* anything else passes through unchanged.

Workers receive the file URLs and the registry (pickled obstore stores) and send back the parsed
files as VirtualiZarr returns them (a virtual ``xr.Dataset`` of ManifestArrays: ~6 KB pickled for
a small NetCDF4 file with 32 chunk references). Every worker must reach the files under the same
URLs (a shared file system, or remote URLs).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from vzskill.outcome import VirtualizeError

__all__ = ["Cluster", "cluster_parallel", "is_client", "ENV"]

ENV = "DASK_SCHEDULER_ADDRESS"


@dataclass(frozen=True)
class Cluster:
    """What the parse runs on: ``parallel`` for parse_files, ``distributed`` when that is a dask cluster."""

    parallel: Any
    distributed: bool
    address: str | None = None


def is_client(value: Any) -> bool:
    """True for a ``distributed.Client`` (checked without importing distributed when it is not loaded)."""
    import sys

    module = sys.modules.get("distributed")
    return module is not None and isinstance(value, module.Client)


def _connect(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise VirtualizeError(
            f"dask scheduler {address}: dask.distributed is not installed -> pip install 'dask[distributed]'"
        ) from None
    try:
        return Client(address, set_as_default=False, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise VirtualizeError(
            f"cannot reach the dask scheduler at {address} ({type(exc).__name__}) -> start it (dask scheduler), "
            f"or fix --dask-scheduler / {ENV}"
        ) from None


def _current() -> Any:
    try:
        from distributed import Client
    except ImportError:
        return None
    try:
        return Client.current(allow_global=True)
    except ValueError:
        return None


@contextmanager
def cluster_parallel(parallel: Any, dask_scheduler: str | None = None) -> Iterator[Cluster]:
    """The parse's ``parallel`` for this write, with its dask client current while the block runs.

    Raises
    ------
    VirtualizeError
        ``dask_scheduler`` together with a non-dask ``parallel`` mode, an unreachable scheduler, or
        distributed not installed.
    """
    if dask_scheduler and not is_client(parallel) and parallel not in (None, True, "auto", "dask"):
        raise VirtualizeError(
            f"dask_scheduler={dask_scheduler!r} parses on a dask cluster, parallel={parallel!r} here -> drop one of them"
        )
    if is_client(parallel):
        with parallel.as_current():
            yield Cluster("dask", True, str(parallel.scheduler.address))
        return
    if not dask_scheduler and parallel != "dask":
        yield Cluster(parallel, False)
        return
    client = _current() if not dask_scheduler else None
    if client is not None:
        with client.as_current():
            yield Cluster("dask", True, str(client.scheduler.address))
        return
    address = dask_scheduler or os.environ.get(ENV)
    if not address:  # dask without a cluster: dask.delayed on this machine
        yield Cluster("dask", False)
        return
    client = _connect(address)
    try:
        with client.as_current():
            yield Cluster("dask", True, address)
    finally:
        client.close()
