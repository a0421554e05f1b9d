"""Reference bounds: every chunk reference (offset + length) must lie inside its source object.

A reference past the end of its object (a truncated file, a file changed since it was indexed, a
parser that misread the layout) reads back as an error - or as garbage - long after the commit.
:func:`bounds_findings` checks them before anything is written: the furthest reference of each
(file, variable, object) against one size per distinct object (``ParsedFile.size`` when the parse
learned it, ``os.stat`` for local files, one concurrent ``head`` per remote object otherwise).
Inlined chunks have no offset and are skipped.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Coroutine, Iterable, Mapping, Sequence

from virtualizarr.manifests.manifest import INLINED_CHUNK_PATH as INLINED

from vzskill.findings import Finding
from vzskill.parse import ParsedFile, display_name
from vzskill.sources import Access, local_path

__all__ = ["Reach", "reference_reach", "object_sizes", "bounds_findings", "resolve_store"]


@dataclass
class Reach:
    """The reference of one variable that reaches furthest into one object."""

    file: str  # URL of the parsed file the variable belongs to
    variable: str
    path: str  # the referenced object
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


def reference_reach(parsed: Sequence[ParsedFile]) -> list[Reach]:
    """Per (file, virtual variable, referenced object): the reference with the largest ``offset + length``."""
    out: list[Reach] = []
    for p in parsed:
        if p.dataset is None:
            continue
        for name, var in p.dataset.variables.items():
            manifest = getattr(var.data, "manifest", None)
            if manifest is None:
                continue
            best: dict[str, tuple[int, int]] = {}
            for _, entry in manifest.iter_refs():
                path = entry["path"]
                if path == INLINED:
                    continue
                offset, length = int(entry["offset"]), int(entry["length"])
                seen = best.get(path)
                if seen is None or offset + length > seen[0] + seen[1]:
                    best[path] = (offset, length)
            out.extend(Reach(p.url, str(name), path, o, n) for path, (o, n) in best.items())
    return out


def _run(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion, also from inside a running event loop (Jupyter): then in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


async def _head_all(targets: list[tuple[str, Any, str]]) -> list[Any]:
    import obstore

    async def head(store: Any, path: str) -> Any:
        try:
            method = getattr(store, "head_async", None)
            meta = await (method(path) if method is not None else obstore.head_async(store, path))
            return int(meta["size"])
        except Exception as exc:  # noqa: BLE001 - returned, classified by the caller
            return exc

    return await asyncio.gather(*(head(store, path) for _, store, path in targets))


def object_sizes(
    paths: Iterable[str], registry: Any = None, *, known: Mapping[str, int | None] | None = None,
    access: Access | None = None,
) -> dict[str, int | BaseException]:
    """Size in bytes of each object (or the exception that says why not); one stat/HEAD per object.

    Parameters
    ----------
    paths
        Object URLs (``file://``, ``s3://``, ``https://`` ...).
    registry
        ``ObjectStoreRegistry`` for the remote objects; objects it cannot resolve get a registry
        built from their own root (with ``access``).
    known
        Sizes already known (``ParsedFile.size``); ``None`` values are looked up.
    """
    known = known or {}
    sizes: dict[str, int | BaseException] = {}
    remote: list[str] = []
    for path in dict.fromkeys(paths):
        if known.get(path) is not None:
            sizes[path] = int(known[path])  # type: ignore[arg-type]
        elif path.startswith("file://"):
            try:
                sizes[path] = os.stat(local_path(path)).st_size
            except OSError as exc:
                sizes[path] = exc
        else:
            remote.append(path)
    targets = []
    for path in remote:
        try:
            store, key = resolve_store(path, registry, access)
        except Exception as exc:  # noqa: BLE001 - no store for it: said as "could not check"
            sizes[path] = exc
            continue
        targets.append((path, store, key))
    if targets:
        for (path, _, _), size in zip(targets, _run(lambda: _head_all(targets)), strict=True):
            sizes[path] = size
    return sizes


def resolve_store(path: str, registry: Any = None, access: Access | None = None) -> tuple[Any, str]:
    """``(store, path in store)`` for ``path``: from ``registry`` when it resolves it, else a store for its own root."""
    if registry is not None and hasattr(registry, "resolve"):
        try:
            return registry.resolve(path)
        except ValueError:
            pass
    from vzskill.registry import build_registry_per_file_root

    own, bad = build_registry_per_file_root([path], access)
    if path in bad:
        raise ValueError(bad[path])
    return own.resolve(path)


def _missing(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    try:
        from obstore.exceptions import NotFoundError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, NotFoundError)


def bounds_findings(
    parsed: Sequence[ParsedFile], names: Mapping[str, str], registry: Any = None, *,
    access: Access | None = None, skip: Iterable[tuple[str, str]] = (),
) -> list[Finding]:
    """Errors for references past the end of (or into a missing) object; warnings when a size is unknowable.

    ``names`` maps file URLs to the names shown in messages; ``skip`` holds (file URL, variable)
    pairs already explained by another finding (tile-compressed FITS).
    """
    skipped = set(skip)
    reach = [r for r in reference_reach(parsed) if (r.file, r.variable) not in skipped]
    known = {p.url: getattr(p, "size", None) for p in parsed}
    sizes = object_sizes((r.path for r in reach), registry, known=known, access=access)
    findings: list[Finding] = []
    unknown_said: set[str] = set()
    for r in reach:
        size = sizes.get(r.path)
        name = names.get(r.file, display_name(r.file))
        obj = "the file" if r.path == r.file else display_name(r.path)
        if isinstance(size, BaseException):
            if _missing(size):
                fix = f"re-generate the references, or drop it: drop_variables=['{r.variable}']"
                findings.append(Finding(
                    "error", r.file, r.variable, "missing_object",
                    f"{name}: variable '{r.variable}' references {r.path}, which does not exist -> {fix}", fix))
            elif r.path not in unknown_said:
                unknown_said.add(r.path)
                fix = "make sure the object is readable with these credentials (vzskill doctor)"
                findings.append(Finding(
                    "warning", r.file, r.variable, "bounds_unchecked",
                    f"{name}: could not learn the size of {r.path} to check its references "
                    f"({type(size).__name__}) -> {fix}", fix))
            continue
        if size is not None and r.end > size:
            fix = (
                "the object is shorter than its metadata says (truncated, or changed since it was indexed): fetch it "
                f"again, or drop the variable: drop_variables=['{r.variable}'] (loading it reads the same missing bytes)"
            )
            findings.append(Finding(
                "error", r.file, r.variable, "reference_bounds",
                f"{name}: variable '{r.variable}' references bytes up to {r.end} (offset {r.offset} + length "
                f"{r.length}) but {obj} has only {size} bytes -> {fix}", fix))
    return findings
