"""One-line problems from exceptions, by exception *type*, and a quiet zone for library noise.

:func:`explain` turns whatever a parser, obstore, h5py or icechunk raised into a :class:`Problem`
(``kind``, one-line ``message`` naming the file/variable and ending with ``-> fix``, ``fix``).
Kinds:

``missing``      the object does not exist;
``permission``   credentials missing or refused;
``modified``     the object changed since it was referenced;
``container``    no registry key / virtual chunk container covers the URL;
``source``       the URL itself cannot be used (scheme, layout);
``unsupported``  a valid file with a feature the parser cannot virtualize (variable, feature, working option);
``corrupt``      only when the bytes prove it (signature missing, shorter than its header says);
``network``      the store could not be reached;
``unknown``      anything else, one line with the exception type (never a traceback).

:func:`quiet` silences asyncio's "Task exception was never retrieved", icechunk's Rust WARN logs
and Python warnings around a command, so a failure prints exactly one line.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, Iterator

from vzskill.sources import SourceError, display_name, local_path

REDOWNLOAD = "re-download or regenerate it, or remove it from the list"
CHECK_PATH = "check the path/URL (typo? moved? deleted?), or remove it from the list"


@dataclass(frozen=True)
class Problem:
    """What went wrong: ``kind`` (see module doc), ``message`` (one line, ends ``-> fix``), ``fix``."""

    kind: str
    message: str
    fix: str
    variable: str | None = None


def _text(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _problem(kind: str, what: str, fix: str, variable: str | None = None) -> Problem:
    return Problem(kind, f"{what} -> {fix}", fix, variable)


def explain(
    exc: BaseException,
    *,
    url: str | None = None,
    variable: str | None = None,
    kind: str | None = None,
    registry: Any = None,
) -> Problem:
    """The one-line :class:`Problem` for ``exc`` raised while reading ``url``.

    Parameters
    ----------
    exc
        The exception (parser, obstore, h5py, astropy, icechunk...).
    url
        The file (or repository) it was raised for; named in the message.
    variable
        The variable being read, when known.
    kind
        The file's format (``"hdf5"``, ``"netcdf3"``, ``"fits"``, ``"kerchunk-json"``...). With a
        ``registry`` too, a parse failure is explained by reading the file's metadata: the
        unsupported variable and feature, or proof of damage.
    registry
        The ObjectStoreRegistry that reads ``url``.

    Returns
    -------
    Problem
        ``kind``, ``message`` (one line naming the file/variable, ``what -> fix``) and ``fix``.
    """
    name = display_name(url) if url else (variable or "source")
    if url and _is_chunk_fetch(exc) and _object_missing(url, registry):  # icechunk wraps "not found" in a fetch
        return _problem("missing", f"{name}: file not found ({_where(url)})", CHECK_PATH)
    direct = _by_type(exc, url, name, variable)
    if direct is not None:
        return direct
    if url and url.startswith("file://") and not os.path.exists(local_path(url)):
        return _problem("missing", f"{name}: file not found ({local_path(url)})", CHECK_PATH)
    if kind and registry is not None and url:
        from vzskill.unsupported import explain_parse_failure

        found = explain_parse_failure(exc, url, name, kind, registry)
        if found is not None:
            return found
    from obstore.exceptions import GenericError

    if isinstance(exc, GenericError) and url and not url.startswith("file://"):  # a request that failed
        fix = "check the endpoint/URL and the network, then retry"
        return _problem("network", f"{name}: the request failed ({_text(exc)})", fix)
    if isinstance(exc, NotImplementedError):
        fix = "drop the variable (drop_variables=[...]) or load it (loadable_variables=[...]), or skip the file"
        return _problem("unsupported", f"{name}: VirtualiZarr cannot virtualize this yet ({_text(exc)})", fix, variable)
    fix = "run `vzskill inspect` on it to see its variables; drop the offending one (drop_variables=[...]) or skip the file"
    where = f"{name}: variable '{variable}'" if variable else name
    return _problem("unknown", f"{where}: cannot be virtualized ({type(exc).__name__}: {_text(exc)})", fix, variable)


def _where(url: str) -> str:
    return local_path(url) if url.startswith("file://") else url


def _is_chunk_fetch(exc: BaseException) -> bool:
    import icechunk

    return isinstance(exc, icechunk.IcechunkError) and exc.kind == icechunk.ErrorKind.VIRTUAL_CHUNK_FETCH


def _object_missing(url: str, registry: Any) -> bool:
    """True only when a look at ``url`` proves it is gone (local: no such file; remote: HEAD says not found)."""
    if url.startswith("file://"):
        return not os.path.exists(local_path(url))
    if registry is None:
        return False
    import obstore
    from obstore.exceptions import NotFoundError

    try:
        store, path = registry.resolve(url)
        obstore.head(store, path)
    except (FileNotFoundError, NotFoundError):  # obstore raises the builtin for a 404 / missing key
        return True
    except Exception:  # noqa: BLE001 - unreachable / refused: not proof of absence
        return False
    return False


def _by_type(exc: BaseException, url: str | None, name: str, variable: str | None) -> Problem | None:
    """Problems whose exception type alone says what happened."""
    from obstore import exceptions as ox

    from vzskill.formats import ParseError
    from vzskill.registry import UnmatchedURLError

    if isinstance(exc, ParseError):
        return Problem(exc.kind, str(exc), exc.fix or REDOWNLOAD)
    if isinstance(exc, UnmatchedURLError):
        fix = f"register the store under {exc.root!r}"
        if url and exc.url != url:
            return _problem("container", f"{name}: references {exc.url}, which no registry key matches", fix)
        return _problem("container", f"{name}: no registry key matches {exc.url}", fix)
    if isinstance(exc, SourceError):
        msg = str(exc)
        return Problem("source", msg, msg.split(" -> ", 1)[1] if " -> " in msg else "fix the URL")
    icechunk_problem = _icechunk(exc, name)
    if icechunk_problem is not None:
        return icechunk_problem
    if isinstance(exc, (FileNotFoundError, ox.NotFoundError)):
        return _problem("missing", f"{name}: file not found ({_where(url) if url else None})", CHECK_PATH)
    if isinstance(exc, (PermissionError, ox.PermissionDeniedError, ox.UnauthenticatedError)):
        fix = "pass credentials (Access(access_key_id=..., ...)) or Access(anonymous=True) for a public bucket"
        return _problem("permission", f"{name}: access denied ({url})", fix)
    if isinstance(exc, (ox.PreconditionError, ox.NotModifiedError)):
        fix = "re-virtualize the file (it changed after it was referenced)"
        return _problem("modified", f"{name}: the object changed since it was read ({url})", fix)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        fix = "check the endpoint/network and retry"
        return _problem("network", f"{name}: cannot reach the store ({type(exc).__name__}: {_text(exc)})", fix)
    return None


@functools.cache
def _icechunk_kinds() -> dict[str, tuple[str, str, str]]:
    """icechunk ``ErrorKind`` -> (problem kind, what happened, fix); built on first use (icechunk is heavy)."""
    from icechunk import ErrorKind as K

    return {
        K.OBJECT_NOT_FOUND: ("missing", "a referenced object is missing", CHECK_PATH),
        K.CHUNK_NOT_FOUND: ("missing", "a chunk is missing", "re-virtualize the file"),
        K.REPOSITORY_NOT_FOUND: ("missing", "no repository there", "check the repository path/URL"),
        K.VIRTUAL_CHUNK_MODIFIED: ("modified", "a source file changed after it was virtualized",
                                   "re-virtualize the changed file (vzskill verify names it)"),
        K.NO_CONTAINER_FOR_VIRTUAL_CHUNK: ("container", "no virtual chunk container covers a referenced file",
                                           "add a container for the file's prefix (containers_for(urls))"),
        K.UNAUTHORIZED_VIRTUAL_CHUNK_CONTAINER: ("container", "the virtual chunk container is not authorized",
                                                 "pass authorize_virtual_chunk_access for the prefix"),
        K.INVALID_CREDENTIALS: ("permission", "credentials refused", "check the credentials"),
        K.VIRTUAL_CHUNK_FETCH: ("network", "a source chunk could not be fetched", "check the source store and retry"),
        K.THROTTLED: ("network", "the store throttled the requests", "retry later, or lower the concurrency"),
        K.OBJECT_STORE: ("network", "the object store failed", "check the endpoint/network and retry"),
        K.IO: ("network", "an I/O error occurred", "check the storage and retry"),
    }


def _icechunk(exc: BaseException, name: str) -> Problem | None:
    import icechunk

    if not isinstance(exc, icechunk.IcechunkError):
        return None
    code = str(exc.kind or "")
    kind, what, fix = _icechunk_kinds().get(code, ("unknown", f"icechunk error [{code or type(exc).__name__}]",
                                                   "see the message; rerun with VZSKILL_DEBUG=1 for details"))
    return _problem(kind, f"{name}: {what} ({_text(exc)})", fix)


# --------------------------------------------------------------------------- quiet zone


class _DropNeverRetrieved(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API
        return not str(record.msg).startswith(("Task exception was never retrieved", "Future exception was never retrieved"))


class TaskZone:
    """Handle of :func:`quiet_tasks`: set ``failed`` when something failed inside (collect on exit)."""

    def __init__(self, failed: bool = True) -> None:
        self.failed = failed


@contextlib.contextmanager
def quiet_tasks(collect: bool = True) -> Iterator[TaskZone]:
    """Drop asyncio's "Task exception was never retrieved" reports raised in the block.

    Zarr gathers metadata reads concurrently; when several fail, only the first exception is
    raised and the others are reported by asyncio when the tasks are garbage-collected. The
    filter stays until a ``gc.collect()`` on exit has reported them (into the filter); that
    collection (~0.1-0.3 s) runs only when the block raised or set ``zone.failed``
    (``collect=False`` starts with ``failed`` unset).
    """
    logger = logging.getLogger("asyncio")
    filt = _DropNeverRetrieved()
    logger.addFilter(filt)
    zone = TaskZone(failed=collect)
    try:
        yield zone
    except BaseException:
        zone.failed = True
        raise
    finally:
        if zone.failed:
            gc.collect()  # the failed tasks are reported now, into the filter
        logger.removeFilter(filt)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No library noise around vzskill's one-line errors (unless ``VZSKILL_DEBUG`` is set).

    Silences, inside the block: Python warnings, asyncio's never-retrieved task reports,
    icechunk's Rust log lines below ERROR, and WARNING records of the zarr/numcodecs/xarray loggers.
    """
    if os.environ.get("VZSKILL_DEBUG"):
        yield
        return
    os.environ.setdefault("ICECHUNK_LOG", "error")
    loggers = [logging.getLogger(n) for n in ("zarr", "numcodecs", "xarray", "virtualizarr", "obspec_utils", "h5py")]
    levels = [lg.level for lg in loggers]
    try:
        import icechunk

        icechunk.set_logs_filter(os.environ["ICECHUNK_LOG"])
    except Exception:  # noqa: BLE001 - an older icechunk without the call: the env var is enough
        pass
    try:
        with warnings.catch_warnings(), quiet_tasks():
            warnings.simplefilter("ignore")
            for lg in loggers:
                lg.setLevel(logging.ERROR)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
