"""Sources that changed since the snapshot: missing, modified, unreadable; containers; references past the end.

For every referenced file: is it under a declared and authorized virtual chunk container; stat it
through the obstore registry (not found -> ``missing``; last modified after the snapshot ->
``modified``; a reference whose ``offset + length`` exceeds the object's size -> an error
"reference past end of object", never blamed on access); then read one chunk per file through
icechunk, which checks each file's mtime/ETag against the reference's ``last_updated_at``
(``ErrorKind.VIRTUAL_CHUNK_MODIFIED`` -> ``modified``).

Exceptions are classified by type first (icechunk ``exc.kind``, obstore / builtin exception
classes), by message only where no type exists.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from vzskill.parse import display_name
from vzskill.references import ReferenceIndex
from vzskill.verify_report import Stale, VerifyReport

if TYPE_CHECKING:
    import icechunk

__all__ = ["check_containers", "classify", "find_stale"]

_STALE_KINDS = {"missing": "missing", "modified": "modified", "container": "container", "permission": "credentials"}

FIXES = {
    "missing": "restore the file, or re-virtualize without it (a new commit), or rename_paths to its new location",
    "modified": "re-virtualize it (its byte ranges may have moved) and commit; pin sources with last_updated_at",
    "unreadable": "check access/credentials to the source",
}


def classify(exc: BaseException, url: str | None = None, registry: Any = None) -> str:
    """``'modified'`` | ``'missing'`` | ``'container'`` | ``'credentials'`` | ``'unreadable'``.

    By :func:`vzskill.errors.explain` (icechunk ``ErrorKind``, obstore / builtin exception classes;
    icechunk's generic fetch failure is 'missing' when a look at ``url`` through ``registry`` proves it).
    """
    from vzskill.errors import explain

    return _STALE_KINDS.get(explain(exc, url=url, registry=registry).kind, "unreadable")


def _container_prefix(url: str) -> str:
    """The container prefix vzskill would declare for ``url`` (its folder; a bucket's folder for object stores)."""
    from vzskill.sources import SourceError, parse_source, suggest_root

    try:
        return parse_source(url).prefix
    except SourceError:
        return suggest_root(url).rstrip("/") + "/"


def check_containers(report: VerifyReport, repo: icechunk.Repository, locations: list[str]) -> set[str]:
    """Container findings; returns the locations no authorized container covers."""
    config = repo.config
    declared = sorted((config.virtual_chunk_containers or {}).keys()) if config is not None else []
    authorized = set(repo.authorized_virtual_container_prefixes)
    uncovered: dict[str, list[str]] = defaultdict(list)
    for u in locations:
        match = [p for p in declared if u.startswith(p)]
        if not match:
            uncovered["none"].append(u)
        elif not any(p in authorized for p in match):
            uncovered[match[0]].append(u)
    for prefix, us in uncovered.items():
        if prefix == "none":
            want = sorted({_container_prefix(u) for u in us})
            report.error("container", f"{len(us)} referenced file(s) (e.g. {us[0]}) are under no virtual chunk "
                         f"container (declared: {', '.join(declared) or 'none'}) -> add a container for "
                         f"{', '.join(want)} (vzskill.containers.add_containers) or re-virtualize with the right paths")
        else:
            report.error("container", f"container {prefix} is declared but not authorized, so {len(us)} file(s) "
                         f"cannot be read -> open the repository with authorize_virtual_chunk_access for {prefix!r} "
                         "(vzskill.containers.open_repo)")
    return {u for us in uncovered.values() for u in us}


class _StaleSet:
    def __init__(self, report: VerifyReport, by_file: dict[str, dict[str, list[int]]]):
        self.report, self.by_file = report, by_file
        self.files: set[str] = set()

    def add(self, u: str, reason: str, detail: str) -> None:
        if u in self.files:
            return
        self.files.add(u)
        variables = sorted(self.by_file.get(u, {}))
        n = sum(len(v) for v in self.by_file.get(u, {}).values())
        self.report.stale.append(Stale(
            u, reason, n, variables,
            f"{display_name(u)}: {detail}; {n} reference(s) in {', '.join(variables)} are affected ({u}) -> {FIXES[reason]}",
        ))


def _reference_ends(index: ReferenceIndex, u: str, per_var: dict[str, list[int]]) -> tuple[int, str, tuple[int, ...]]:
    """The furthest byte any reference into ``u`` reaches: (end, variable, chunk)."""
    best: tuple[int, str, tuple[int, ...]] = (0, "", ())
    for var, rows in per_var.items():
        refs = index.arrays[var]
        ends = refs.offsets[rows].astype(np.int64) + refs.lengths[rows].astype(np.int64)
        i = int(np.argmax(ends))
        if int(ends[i]) > best[0]:
            best = (int(ends[i]), var, refs.chunk(rows[i]))
    return best


def _stat(report: VerifyReport, index: ReferenceIndex, stale: _StaleSet, u: str, registry: Any,
          written_at: datetime | None) -> bool:
    """Stat one file: missing / unreadable / modified after the snapshot; False when a reference lies past its end."""
    import obstore

    by_file = stale.by_file
    try:
        store, path = registry.resolve(u)
        info = obstore.head(store, path)
    except Exception as exc:
        if classify(exc, u, registry) == "missing":
            stale.add(u, "missing", "source deleted or moved (not found)")
        else:
            stale.add(u, "unreadable", f"cannot stat the source ({type(exc).__name__}: {_line(exc)})")
        return True
    size = info.get("size")
    end, var, chunk = _reference_ends(index, u, by_file[u])
    if size is not None and end > int(size):
        report.error("past_end", f"{display_name(u)}: reference past end of object: {var} chunk {chunk} reads up "
                     f"to byte {end} but the object has {int(size)} bytes ({u}) -> the file was truncated or replaced since "
                     "it was virtualized (re-virtualize it), or the parser produced byte ranges the file does not "
                     "have (tile-compressed FITS / CompImageHDU: drop or load that variable)", file=u, variable=var)
        return False
    modified = info.get("last_modified")
    if written_at is not None and modified is not None:
        try:
            if modified > written_at:
                stale.add(u, "modified", f"source changed after the snapshot was written "
                          f"({modified:%Y-%m-%d %H:%M:%S.%f} > {written_at:%Y-%m-%d %H:%M:%S.%f} UTC)")
        except TypeError:
            pass
    return True


def _probe(report: VerifyReport, index: ReferenceIndex, stale: _StaleSet, u: str, registry: Any) -> bool:
    """Read one chunk of ``u`` through icechunk (its own mtime/ETag check); False when no container serves it."""
    var, rows = next(iter(sorted(stale.by_file[u].items())))
    refs = index.arrays[var]
    try:
        refs.array[refs.region(rows[0])]
    except Exception as exc:
        kind = classify(exc, u, registry)
        if kind == "modified":
            stale.add(u, "modified", "icechunk: the checksum of the object owning the virtual chunk has changed")
        elif kind == "missing":
            stale.add(u, "missing", "icechunk: source not found")
        elif kind == "container":
            report.error("container", f"{display_name(u)}: {_line(exc)} -> add/authorize its container", file=u)
            return False
        elif _is_icechunk(exc):
            stale.add(u, "unreadable", f"icechunk cannot read it ({type(exc).__name__}: {_line(exc)})")
        # else: the bytes were fetched but do not decode - the value comparison reports it
    return True


def find_stale(report: VerifyReport, index: ReferenceIndex, registry: Any, written_at: datetime | None,
               skip: set[str]) -> set[str]:
    """Stat every referenced file, check reference extents, probe one chunk per file; returns unreadable files."""
    stale = _StaleSet(report, index.by_file())
    files = [u for u in sorted(stale.by_file) if u not in skip]
    bad = {u for u in files if not _stat(report, index, stale, u, registry, written_at)}
    bad |= {u for u in files if u not in stale.files and u not in bad and not _probe(report, index, stale, u, registry)}
    return stale.files | bad


def _line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _is_icechunk(exc: BaseException) -> bool:
    import icechunk

    return isinstance(exc, icechunk.IcechunkError)
