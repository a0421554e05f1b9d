"""Parse every source file exactly once, with the right VirtualiZarr parser.

:func:`parse_files` is the first step of both ``vzskill check`` and ``vzskill virtualize``: the
virtual datasets it returns are checked (:mod:`vzskill.preflight`) and then combined and written
(:mod:`vzskill.write`) without parsing the files a second time.

A file that cannot be parsed never raises: its :class:`ParsedFile` carries ``error``, one line
that names the file (and the variable, where there is one) and says the fix (see
:func:`vzskill.errors.explain`). Format detection and the parser factory live in
:mod:`vzskill.formats` (re-exported here).
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable, Sequence

import xarray as xr

from vzskill.coordinates import virtual_dataset
from vzskill.errors import explain, quiet_tasks
from vzskill.reading import SERVED_KINDS
from vzskill.formats import (  # noqa: F401 - re-exported: callers import them from vzskill.parse
    FITS_MAGIC,
    HDF4_MAGIC,
    HDF5_MAGIC,
    NETCDF3_MAGICS,
    ParseError,
    detect_kind,
    kind_from_magic,
    kind_from_suffix,
    make_parser,
    parser_for,
    read_head,
    sniff,
)
from vzskill.sources import Access, SourceError, display_name, local_path, normalize_url

# Compact HDF5 datasets hold at most 64 KiB: loaded variables up to this size are checked for "no data".
_SMALL = 64 * 1024
_LOAD_LIMIT = 16 * 1024 * 1024


@dataclass
class ParsedFile:
    """One source file after parsing: ``dataset`` (a virtual ``xr.Dataset``) or ``error`` (one line).

    ``kind`` is the format (``"hdf5"``, ``"netcdf3"``, ``"fits"``, ``"kerchunk-json"``,
    ``"kerchunk-parquet"``, ``"zarr"``, ``"hdf4"``; None when not even that was learned), ``size``
    the object's size in bytes when the parse learned it without an extra request (else None),
    ``problem`` the problem kind of a failure (:mod:`vzskill.errors`: ``"unsupported"``,
    ``"corrupt"``, ``"missing"``...).
    """

    url: str
    dataset: xr.Dataset | None = None
    error: str | None = None
    kind: str | None = None
    variable: str | None = None  # the offending variable, when the error is about one
    fix: str | None = None
    exception: str | None = field(default=None, repr=False)  # "Type: original message" (for --json / debugging)
    no_refs: list[str] = field(default_factory=list)  # non-empty arrays with no chunk reference (compact storage?)
    size: int | None = None
    problem: str | None = None
    # FITS: {variable: (HDU index, ZCMPTYPE)} of tile-compressed images, read at parse time from the
    # prefetched block (vzskill.fits_tiles.tile_compressed); None = not known (check reads the headers)
    fits_tiles: dict[str, tuple[int, str]] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and self.dataset is not None

    @property
    def name(self) -> str:
        return display_name(self.url)


@dataclass(frozen=True)
class _Options:
    loadable_variables: tuple[str, ...] | None = None
    decode_times: bool | None = None
    drop_variables: tuple[str, ...] | None = None
    group: str | None = None


def parse_one(url: str, registry: Any, options: _Options | None = None) -> ParsedFile:
    """Parse one file (never raises): a :class:`ParsedFile` with ``dataset`` or ``error``.

    A file whose format comes from its bytes is read first with ONE ranged request (its first
    block and its size, :func:`vzskill.reading.prefetch`); the parser and the loaded coordinates
    are served from that block, so a small file costs one request in all.
    """
    options = options or _Options()
    raw = os.fspath(url)
    try:
        url = normalize_url(raw)
    except SourceError as exc:
        return _failed(raw, exc, None, None)
    kind = size = None
    pre = None
    try:
        kind, size, pre = _detect(url, registry)
        reader = pre.registry if pre is not None and kind in SERVED_KINDS else registry
        parsed = _parse_kind(url, kind, reader, options)
        parsed.size = size
        return parsed
    except Exception as exc:  # every per-file failure becomes a one-line error
        failed = _failed(url, exc, registry, kind)
        failed.size = size
        return failed
    finally:
        if pre is not None:
            pre.release()


def _detect(url: str, registry: Any) -> tuple[str, int | None, Any]:
    """(kind, size, prefetched block or None): extensions and directories first, else the first block."""
    from vzskill.reading import prefetch

    if kind_from_suffix(url) is not None or (url.startswith("file://") and os.path.isdir(local_path(url))):
        sniffed = sniff(url, registry)
        return sniffed.kind, sniffed.size, None
    pre = prefetch(url, registry)
    kind = kind_from_magic(pre.data)
    if kind is None:  # no signature: sniff() knows the rest (ENVI by its .hdr sidecar) or raises the one-line error
        pre.release()
        return sniff(url, registry).kind, pre.size, None
    return kind, pre.size, pre


def _failed(url: str, exc: BaseException, registry: Any, kind: str | None, variable: str | None = None) -> ParsedFile:
    problem = explain(exc, url=url, variable=variable, kind=kind, registry=registry)
    text = str(exc).strip()
    return ParsedFile(
        url=url, error=problem.message, kind=kind, variable=problem.variable or variable, fix=problem.fix,
        exception=f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}", problem=problem.kind,
    )


def _parse_kind(url: str, kind: str, registry: Any, options: _Options) -> ParsedFile:
    """= ``virtualizarr.open_virtual_dataset`` (coordinates loaded by :mod:`vzskill.coordinates`),
    then a look at the manifests (metadata only)."""
    parser = make_parser(kind, group=options.group, drop_variables=options.drop_variables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manifest_store = parser(url=url, registry=registry)
        ds = virtual_dataset(manifest_store, loadable_variables=options.loadable_variables,
                             decode_times=options.decode_times)
        if options.drop_variables and kind != "hdf5":
            ds = ds.drop_vars(list(options.drop_variables), errors="ignore")
        ds.encoding.setdefault("source", url)
        _load_small(ds)
        no_refs = arrays_without_data(ds)
    if no_refs and kind == "hdf5":
        external = _external_storage(url, registry, no_refs)
        if external is not None:
            return ParsedFile(url=url, kind=kind, error=external.message, variable=external.variable,
                              fix=external.fix, problem=external.kind, exception="external storage")
    return ParsedFile(url=url, dataset=ds, kind=kind, no_refs=no_refs,
                      fits_tiles=_fits_tiles(url, registry) if kind == "fits" else None)


def _fits_tiles(url: str, registry: Any) -> dict[str, tuple[int, str]] | None:
    """The tile-compressed images of a FITS file, while its first block is served from memory (no
    extra request for headers inside it); None when the headers cannot be read here."""
    from vzskill.fits_tiles import tile_compressed

    try:
        return tile_compressed(url, registry)
    except Exception:  # noqa: BLE001 - the parse worked; the check reads the headers itself then
        return None


def _load_small(ds: xr.Dataset) -> None:
    """Load the (lazily read) loaded variables of up to 16 MiB in place, while the file's first
    block is still served from memory (later they would be read again, one request each)."""
    for var in ds.variables.values():
        if _manifest(var) is None and var.size * var.dtype.itemsize <= _LOAD_LIMIT:
            var.load()


def _external_storage(url: str, registry: Any, names: list[str]) -> Any:
    """The problem of a variable among ``names`` whose data are in another file (HDF5 external storage)."""
    from vzskill.features import hdf5_features
    from vzskill.unsupported import describe

    try:
        found = [f for f in hdf5_features(url, registry, only=names) if f.what == "external"]
    except Exception:  # noqa: BLE001 - the parse worked; check's compact-storage probe still looks
        return None
    return describe(found, display_name(url), "hdf5") if found else None


def _manifest(var: xr.Variable) -> Any:
    from virtualizarr.manifests import ManifestArray

    data = var.data
    return data.manifest if isinstance(data, ManifestArray) else None


def arrays_without_data(ds: xr.Dataset) -> list[str]:
    """Non-empty variables with no chunk to read (public ``ChunkManifest`` API / loaded values).

    A virtual variable qualifies when its manifest has no reference at all (neither a path nor an
    inlined chunk); a loaded variable of at most 64 KiB when every value is its fill value (what
    zarr returns for a variable without chunks - HDF5 compact storage is the usual cause).
    """
    import numpy as np

    out = []
    for name, var in ds.variables.items():
        if int(np.prod(var.shape)) == 0:
            continue
        manifest = _manifest(var)
        if manifest is not None:
            if next(manifest.iter_nonempty_paths(), None) is None and next(manifest.iter_refs(), None) is None:
                out.append(str(name))
        elif var.size * var.dtype.itemsize <= _SMALL and var.dtype.kind in "iufcb" and _all_fill(var):
            out.append(str(name))
    return out


def _all_fill(var: xr.Variable) -> bool:
    import numpy as np

    values = np.asarray(var.values)
    fill = var.encoding.get("_FillValue", var.attrs.get("_FillValue", 0))
    if values.dtype.kind in "fc" and bool(np.all(np.isnan(values))):
        return True
    try:
        return bool(np.all(values == fill)) or bool(np.all(values == 0))
    except (TypeError, ValueError):
        return False


def reference_urls(datasets: Iterable[Any]) -> list[str]:
    """Every distinct chunk path (file URL) the virtual datasets reference, in first-seen order.

    Parameters
    ----------
    datasets
        Virtual ``xr.Dataset`` objects, :class:`ParsedFile` objects (failed ones are skipped), or
        nested lists of them (an N-D grid).

    Returns
    -------
    list[str]
        The URLs of the referenced objects: for NetCDF/HDF5/FITS the parsed files themselves, for
        Kerchunk references and Zarr stores the files/chunk objects they point to. Registry roots
        and icechunk virtual chunk containers must cover all of them.
    """
    seen: dict[str, None] = {}
    for ds in _flat(datasets):
        for var in ds.variables.values():
            manifest = _manifest(var)
            if manifest is not None:
                for path in manifest.iter_nonempty_paths():
                    seen.setdefault(str(path), None)
    return list(seen)


def _flat(items: Any) -> Iterable[xr.Dataset]:
    if isinstance(items, xr.Dataset):
        yield items
    elif isinstance(items, ParsedFile):
        if items.ok:
            yield items.dataset  # type: ignore[misc]
    elif isinstance(items, (list, tuple)):
        for item in items:
            yield from _flat(item)
    else:
        for item in items:
            yield from _flat(item)


def _valid_urls(urls: Sequence[str]) -> list[str]:
    out = []
    for u in urls:
        try:
            out.append(normalize_url(u))
        except SourceError:
            pass
    return out


def _registry_for(urls: list[str], access: Access | None) -> Any:
    """A registry vzskill owns for ``urls``: one store per root, extended on demand to the roots of
    referenced files (Kerchunk/Zarr references pointing outside the given folders).

    If the URLs share no usable root, one store per file directory (so parsing still works).
    """
    from vzskill.registry import SourceRegistry, build_registry, build_registry_per_file_root

    try:
        built = build_registry(urls, access)
    except SourceError:
        built = build_registry_per_file_root(urls, access)[0]
    registry = SourceRegistry.wrap(built, access=access)
    registry.extend = True
    return registry


def parse_files(
    urls: Iterable[str | os.PathLike[str]],
    registry: Any = None,
    *,
    loadable_variables: Iterable[str] | None = None,
    decode_times: bool | None = None,
    drop_variables: Iterable[str] | None = None,
    group: str | None = None,
    parallel: Any = None,
    access: Access | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ParsedFile]:
    """Parse each file once (in input order). Never raises for a bad file: see ``ParsedFile.error``.

    Parameters
    ----------
    urls
        Local paths or URLs.
    registry
        ObjectStoreRegistry (or ``{prefix: store}``) that reads them; by default one built over the
        valid URLs that also covers the files Kerchunk/Zarr references point to.
    loadable_variables, decode_times
        As in ``ManifestStore.to_virtual_dataset``.
    drop_variables
        Passed to the parser (``HDFParser(drop_variables=)`` / ``skip_variables=``), so they also
        avoid parse errors in the dropped variables.
    group
        HDF5/NetCDF4/Zarr group.
    parallel
        ``None``/``False``/``"serial"``, ``"auto"`` (or ``True``: threads for remote files,
        forkserver processes for many local ones, see :func:`vzskill.parallel.choose`),
        ``"threads"``, ``"processes"``, ``"dask"`` (the current dask.distributed client or
        ``DASK_SCHEDULER_ADDRESS``, else ``dask.delayed``), or an ``Executor`` instance (not shut down).
    access
        Credentials/endpoint for the registry built here.
    workers
        Threads/processes for the pool parse_files makes (None: the mode's default).
    progress
        Called as ``progress(done, total)`` while files finish.

    Returns
    -------
    list[ParsedFile]
        One per URL, in input order.
    """
    from vzskill.registry import SourceRegistry

    raw = [os.fspath(u) for u in urls]
    if registry is None:
        valid = _valid_urls(raw)
        if valid:
            registry = _registry_for(valid, access)
    else:
        registry = SourceRegistry.wrap(registry)  # unmatched URLs raise a typed error naming them
    options = _Options(
        loadable_variables=tuple(loadable_variables) if loadable_variables is not None else None,
        decode_times=decode_times,
        drop_variables=tuple(drop_variables) if drop_variables else None,
        group=group,
    )
    from vzskill.parallel import choose, map_ordered

    work = partial(parse_one, registry=registry, options=options)
    with quiet_tasks(collect=False) as zone:
        if isinstance(parallel, Executor):
            out = list(parallel.map(work, raw))
            if progress is not None:
                progress(len(out), len(out))
        else:
            out = map_ordered(work, raw, choose(parallel, raw, workers), progress)
        zone.failed = any(not p.ok for p in out)
    return out
