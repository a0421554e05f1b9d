"""Parse every source file exactly once, with the right VirtualiZarr parser.

:func:`parse_files` is the first step of both ``vzskill check`` and ``vzskill virtualize``: the
virtual datasets it returns are checked (:mod:`vzskill.check`) and then combined and written
(:mod:`vzskill.write`) without parsing the files a second time.

A file that cannot be parsed never raises: its :class:`ParsedFile` carries ``error``, one line
that names the file (and the variable, where there is one) and says the fix.
"""

from __future__ import annotations

import os
import re
import warnings
from concurrent.futures import Executor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Iterable, Sequence

import xarray as xr

from vzskill.sources import Access, SourceError, local_path, normalize_url, suggest_root

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NETCDF3_MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
FITS_MAGIC = b"SIMPLE"
HDF4_MAGIC = b"\x0e\x03\x13\x01"
ZARR_SUFFIXES = (".zarr", ".zarr/", ".zarr.zip")
KERCHUNK_JSON_SUFFIXES = (".json",)
KERCHUNK_PARQUET_SUFFIXES = (".parq", ".parquet", ".parq/", ".parquet/")

# HDF5 filter ids with no Zarr codec (what HDFParser cannot virtualize).
UNSUPPORTED_FILTERS = {32000: "LZF", 4: "szip", 5: "N-bit", 6: "scale-offset"}


class ParseError(ValueError):
    """A file vzskill cannot parse; the message is one line naming the file and the fix."""


@dataclass
class ParsedFile:
    """One source file after parsing: ``dataset`` (a virtual ``xr.Dataset``) or ``error`` (one line)."""

    url: str
    dataset: xr.Dataset | None = None
    error: str | None = None
    kind: str | None = None  # "hdf5", "netcdf3", "fits", "kerchunk-json", "kerchunk-parquet", "zarr", "hdf4"
    variable: str | None = None  # the offending variable, when the error is about one
    fix: str | None = None
    exception: str | None = field(default=None, repr=False)  # "Type: original message" (for --json / debugging)
    no_refs: list[str] = field(default_factory=list)  # non-empty arrays with no chunk reference (compact storage?)

    @property
    def ok(self) -> bool:
        return self.error is None and self.dataset is not None

    @property
    def name(self) -> str:
        return display_name(self.url)


def display_name(url: str) -> str:
    """The file name as shown in messages (basename; the URL if it has none)."""
    text = url.rstrip("/")
    base = text.rsplit("/", 1)[-1]
    return base or url


# --------------------------------------------------------------------------- parser choice


def _kind_from_suffix(url: str) -> str | None:
    low = url.lower().rstrip("/")
    if low.endswith(".zarr") or low.endswith(".zarr.zip"):
        return "zarr-zip" if low.endswith(".zip") else "zarr"
    if low.endswith(KERCHUNK_JSON_SUFFIXES):
        return "kerchunk-json"
    if low.endswith((".parq", ".parquet")):
        return "kerchunk-parquet"
    return None


def _kind_from_magic(head: bytes) -> str | None:
    if head.startswith(HDF5_MAGIC[:4]):
        return "hdf5"
    if head[:4] in NETCDF3_MAGICS:
        return "netcdf3"
    if head.startswith(FITS_MAGIC):
        return "fits"
    if head.startswith(HDF4_MAGIC):
        return "hdf4"
    return None


def _is_local_dir(url: str) -> bool:
    if not url.startswith("file://"):
        return False
    from vzskill.sources import local_path

    path = local_path(url)
    return os.path.isdir(path) and (
        os.path.exists(os.path.join(path, "zarr.json")) or os.path.exists(os.path.join(path, ".zgroup"))
    )


def read_head(url: str, registry: Any, n: int = 8) -> bytes:
    """The first ``n`` bytes of ``url``, read through ``registry`` (fewer for a shorter file).

    Raises ``FileNotFoundError`` for a missing object and :class:`ParseError` for an empty one.
    """
    import obstore

    store, path = registry.resolve(url)
    try:
        return bytes(obstore.get_range(store, path, start=0, length=n))
    except FileNotFoundError:
        raise
    except Exception as exc:  # short or empty object: the range is invalid
        meta = obstore.head(store, path)  # raises FileNotFoundError for a missing object
        size = int(meta["size"])
        if size == 0:
            raise ParseError(f"{display_name(url)}: empty file (0 bytes)") from exc
        return bytes(obstore.get_range(store, path, start=0, length=min(n, size)))


def make_parser(kind: str, *, group: str | None = None, drop_variables: Iterable[str] | None = None, links_and_references: bool = False) -> Any:
    """A VirtualiZarr parser instance for ``kind`` (see :func:`parser_for`)."""
    from virtualizarr import parsers as P

    drop = list(drop_variables) if drop_variables else None
    if kind == "hdf5":
        return P.HDFParser(group=group, drop_variables=drop, links_and_references=links_and_references)
    if kind == "netcdf3":
        return P.NetCDF3Parser(group=group, skip_variables=drop)
    if kind == "fits":
        return P.FITSParser(group=group, skip_variables=drop)
    if kind == "kerchunk-json":
        return P.KerchunkJSONParser(group=group, skip_variables=drop)
    if kind == "kerchunk-parquet":
        return P.KerchunkParquetParser(group=group, skip_variables=drop)
    if kind == "zarr":
        return P.ZarrParser(group=group, skip_variables=drop)
    if kind == "zarr-zip":
        return P.ZippedZarrParser(group=group, skip_variables=drop)  # type: ignore[call-arg]
    if kind == "hdf4":
        return P.HDF4Parser(group=group, skip_variables=drop)  # type: ignore[call-arg]
    raise ValueError(f"no parser for kind {kind!r}")


def detect_kind(url: str, registry: Any = None, access: Access | None = None) -> str:
    """``'hdf5'``, ``'netcdf3'``, ``'fits'``, ``'kerchunk-json'``, ``'kerchunk-parquet'``, ``'zarr'``...

    Extensions decide for Kerchunk references and Zarr stores; everything else by magic bytes
    (the first 8 bytes, read through ``registry``). Raises :class:`ParseError` (one line) for a
    file of unknown type, ``FileNotFoundError`` for a missing one.
    """
    url = normalize_url(url)
    kind = _kind_from_suffix(url)
    if kind is not None:
        return kind
    if _is_local_dir(url):
        return "zarr"
    if registry is None:
        from vzskill.registry import build_registry

        registry = build_registry([url], access)
    head = read_head(url, registry)
    kind = _kind_from_magic(head)
    if kind is None:
        raise ParseError(
            f"{display_name(url)}: not a NetCDF/HDF5/FITS file (starts with {head[:8]!r}) -> check the download "
            "(an HTML error page or a text file saved as .nc?), or remove it from the list"
        )
    return kind


def parser_for(
    url: str | os.PathLike[str],
    registry: Any = None,
    *,
    group: str | None = None,
    drop_variables: Iterable[str] | None = None,
    access: Access | None = None,
) -> Any:
    """The right VirtualiZarr parser for ``url`` (by extension for Kerchunk/Zarr, else by magic bytes).

    ``b"\\x89HDF"`` -> ``HDFParser``, ``b"CDF\\x01"``/``b"CDF\\x02"`` -> ``NetCDF3Parser``,
    ``b"SIMPLE"`` -> ``FITSParser``, ``.json`` -> ``KerchunkJSONParser``,
    ``.parq``/``.parquet`` -> ``KerchunkParquetParser``, Zarr store -> ``ZarrParser``.
    """
    kind = detect_kind(os.fspath(url), registry, access)
    return make_parser(kind, group=group, drop_variables=drop_variables)


# --------------------------------------------------------------------------- error messages


def _h5_problem_variables(url: str, registry: Any) -> list[tuple[str, str]]:
    """(variable, problem) for datasets HDFParser cannot virtualize, read with h5py (metadata only)."""
    import h5py
    from obspec_utils.readers import BlockStoreReader

    store, path = registry.resolve(url)
    found: list[tuple[str, str]] = []

    def visit(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        dt = obj.dtype
        if dt.kind == "O":
            if h5py.check_string_dtype(dt) is not None:
                pass
            elif h5py.check_vlen_dtype(dt) is not None:
                found.append((name, "vlen"))
            elif h5py.check_ref_dtype(dt) is not None:
                found.append((name, "reference"))
            else:
                found.append((name, "object"))
        try:
            plist = obj.id.get_create_plist()
            for i in range(plist.get_nfilters()):
                fid = plist.get_filter(i)[0]
                if fid in UNSUPPORTED_FILTERS:
                    found.append((name, UNSUPPORTED_FILTERS[fid]))
                elif fid not in (1, 2, 3) and fid < 256:  # deflate, shuffle, fletcher32 are fine
                    found.append((name, f"HDF5 filter {fid}"))
            if plist.get_layout() == h5py.h5d.COMPACT:
                found.append((name, "compact"))
        except Exception:  # pragma: no cover - exotic plists
            pass

    reader = BlockStoreReader(store, path)
    with h5py.File(reader, mode="r") as f:
        f.visititems(visit)
    return found


def _drop_fix(names: Sequence[str]) -> str:
    return f"HDFParser(drop_variables={list(names)!r})"


def explain(url: str, exc: BaseException, registry: Any = None, kind: str | None = None) -> tuple[str, str | None, str]:
    """(one-line error, variable or None, fix) for an exception raised while parsing ``url``."""
    name = display_name(url)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, ParseError):
        msg = str(exc)
        if "empty file" in msg:
            fix = "re-download or regenerate it, or remove it from the list"
            return f"{msg} -> {fix}", None, fix
        return msg, None, msg.split(" -> ", 1)[-1]
    if isinstance(exc, SourceError):
        msg = str(exc)
        return msg, None, msg.split(" -> ", 1)[-1] if " -> " in msg else "fix the URL"
    if isinstance(exc, FileNotFoundError):
        fix = "check the path/URL (typo? moved? deleted?), or remove it from the list"
        where = local_path(url) if url.startswith("file://") else url
        return f"{name}: file not found ({where}) -> {fix}", None, fix
    if isinstance(exc, PermissionError) or "PermissionDenied" in type(exc).__name__ or "403" in text:
        fix = "pass credentials (Access(access_key_id=..., ...)) or Access(anonymous=True) for a public bucket"
        return f"{name}: access denied ({url}) -> {fix}", None, fix
    if url.startswith("file://") and not os.path.exists(local_path(url)):
        fix = "check the path (typo? moved? deleted?), or remove it from the list"
        return f"{name}: file not found ({local_path(url)}) -> {fix}", None, fix
    if "Could not find an ObjectStore matching" in text:
        target = _unmatched_url(exc) or url
        fix = f"register the store under {suggest_root(target)!r}"
        if target != url:
            return f"{name}: references {target}, which no registry key matches -> {fix}", None, fix
        return f"{name}: no registry key matches {url} -> {fix}", None, fix

    if kind == "hdf5" and isinstance(exc, OSError):
        m = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", text)
        if m:
            fix = "re-download it (incomplete transfer), or remove it from the list"
            return f"{name}: truncated HDF5 file ({m.group(1)} of {m.group(2)} bytes) -> {fix}", None, fix
        fix = "re-download or regenerate it, or remove it from the list"
        detail = text.replace("Unable to synchronously open file ", "").strip().strip("()")
        return f"{name}: corrupt HDF5 file ({detail}) -> {fix}", None, fix

    problems: list[tuple[str, str]] = []
    if kind == "hdf5" and registry is not None:
        try:
            problems = _h5_problem_variables(url, registry)
        except Exception:
            problems = []
    if problems:
        problems.sort(key=lambda vw: vw[1] == "compact")  # a compact variable parses; it is rarely the cause
        var, what = problems[0]
        if what == "reference":
            fix = f"{_drop_fix([var])} (HDFParser(links_and_references=True) works only if the file has dimension scales)"
            return f"{name}: variable '{var}' holds HDF5 object references -> {fix}", var, fix
        if what == "vlen":
            fix = _drop_fix([var])
            return f"{name}: variable '{var}' is a variable-length (ragged) array, which cannot be virtualized -> {fix}", var, fix
        if what == "compact":
            fix = f"{_drop_fix([var])} and write its values separately, or repack the file (h5repack -l {var}:CONTI)"
            return f"{name}: variable '{var}' uses HDF5 compact storage -> {fix}", var, fix
        if what == "object":
            fix = _drop_fix([var])
            return f"{name}: variable '{var}' has an object dtype HDFParser cannot virtualize -> {fix}", var, fix
        unsupported = [v for v, w in problems if w not in ("reference", "vlen", "compact", "object")]
        if unsupported:
            var = unsupported[0]
            fix = f"{_drop_fix(unsupported)}, or rewrite the file with zlib (nccopy -d 4 -s)"
            return f"{name}: variable '{var}' uses the {what} filter, which has no Zarr codec -> {fix}", var, fix
    if "codec" in text.lower() and "not available" in text.lower():
        codec = re.search(r"codec '([^']+)'", text)
        fix = "drop the variable with HDFParser(drop_variables=[...]) or install the package that provides the codec"
        return f"{name}: uses codec {codec.group(1) if codec else '?'} with no Zarr implementation -> {fix}", None, fix
    if kind in ("kerchunk-json", "kerchunk-parquet") and ("decode fill_value" in text or "inlined" in text.lower()):
        fix = (
            "re-create the references fully virtual (loadable_variables=[] before to_kerchunk, or zarr_format=3), "
            "or read them with xr.open_dataset(refs, engine='kerchunk')"
        )
        return (
            f"{name}: Kerchunk references with inlined (loaded) coordinates cannot be re-opened by the Kerchunk "
            f"parser ({type(exc).__name__}: {text}) -> {fix}"
        ), None, fix
    if kind == "netcdf3" and "not a netCDF3 file" in text:
        fix = "re-download or regenerate it, or remove it from the list"
        return f"{name}: corrupt NetCDF3 file ({text}) -> {fix}", None, fix
    if kind in ("netcdf3", "fits"):
        fix = "re-download or regenerate it (truncated/corrupt?), or remove it from the list"
        return f"{name}: cannot parse {kind} file ({type(exc).__name__}: {text}) -> {fix}", None, fix
    fix = "inspect the file (h5dump -H / ncdump -h); drop the variable with drop_variables=[...] or load it with loadable_variables=[...]"
    return f"{name}: cannot be virtualized ({type(exc).__name__}: {text}) -> {fix}", None, fix


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Options:
    loadable_variables: tuple[str, ...] | None = None
    decode_times: bool | None = None
    drop_variables: tuple[str, ...] | None = None
    group: str | None = None
    auto_registry: bool = False  # the registry was built here: it may be extended for referenced files
    access: Access | None = None


def parse_one(url: str, registry: Any, options: _Options | None = None) -> ParsedFile:
    """Parse one file (never raises): a :class:`ParsedFile` with ``dataset`` or ``error``."""
    options = options or _Options()
    raw = os.fspath(url)
    try:
        url = normalize_url(raw)
    except SourceError as exc:
        return ParsedFile(url=raw, error=str(exc), fix=str(exc).split(" -> ", 1)[-1], exception=f"SourceError: {exc}")
    kind = None
    try:
        kind = detect_kind(url, registry)
        return _parse_kind(url, kind, registry, options)
    except ValueError as exc:
        # Kerchunk references point at other files: extend a registry built here to their root, once
        missing = _unmatched_url(exc)
        if kind in ("kerchunk-json", "kerchunk-parquet") and options.auto_registry and missing and missing != url:
            try:
                from vzskill.registry import store_for
                from vzskill.sources import parse_source

                source = parse_source(missing)
                registry.register(source.root, store_for(source, options.access))
                return _parse_kind(url, kind, registry, options)
            except Exception as exc2:  # noqa: BLE001
                return _failed(url, exc2, registry, kind)
        return _failed(url, exc, registry, kind)
    except Exception as exc:  # every per-file failure becomes a one-line error
        return _failed(url, exc, registry, kind)


def _unmatched_url(exc: BaseException) -> str | None:
    m = re.search(r"Could not find an ObjectStore matching the url `([^`]+)`", str(exc))
    return m.group(1) if m else None


def _failed(url: str, exc: BaseException, registry: Any, kind: str | None) -> ParsedFile:
    message, variable, fix = explain(url, exc, registry, kind)
    return ParsedFile(
        url=url, error=message, kind=kind, variable=variable, fix=fix,
        exception=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
    )


def _parse_kind(url: str, kind: str, registry: Any, options: _Options) -> ParsedFile:
    """= ``virtualizarr.open_virtual_dataset``, with a look at the manifests before anything is loaded."""
    parser = make_parser(kind, group=options.group, drop_variables=options.drop_variables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manifest_store = parser(url=url, registry=registry)
        no_refs = _arrays_without_refs(manifest_store)
        ds = manifest_store.to_virtual_dataset(
            loadable_variables=list(options.loadable_variables) if options.loadable_variables is not None else None,
            decode_times=options.decode_times,
        )
        if options.drop_variables and kind != "hdf5":
            ds = ds.drop_vars(list(options.drop_variables), errors="ignore")
        ds.encoding.setdefault("source", url)
    return ParsedFile(url=url, dataset=ds, kind=kind, no_refs=no_refs)


def _arrays_without_refs(manifest_store: Any) -> list[str]:
    """Names of non-empty arrays whose manifest references no chunk (metadata only)."""
    import numpy as np

    group = getattr(manifest_store, "_group", None)
    arrays = getattr(group, "arrays", None) or {}
    out = []
    for name, ma in arrays.items():
        manifest = getattr(ma, "manifest", None)
        paths = getattr(manifest, "_paths", None)
        if paths is None or getattr(manifest, "_inlined", None):
            continue
        if int(np.prod(ma.shape)) > 0 and bool(np.all(paths == "")):
            out.append(str(name))
    return out


def _executor(parallel: Any) -> Any:
    """A context manager yielding an Executor (caller-supplied instances are not shut down)."""
    if isinstance(parallel, Executor):
        return nullcontext(parallel)
    from virtualizarr.parallel import get_executor

    factory = get_executor(parallel)
    return factory() if not isinstance(factory, Executor) else nullcontext(factory)


def _valid_urls(urls: Sequence[str]) -> list[str]:
    out = []
    for u in urls:
        try:
            out.append(normalize_url(u))
        except SourceError:
            pass
    return out


def _registry_for(urls: list[str], access: Access | None) -> Any:
    """``build_registry(urls)``; if the URLs share no usable root, one store per file directory (so parsing still works)."""
    from vzskill.registry import build_registry, build_registry_per_file_root

    try:
        return build_registry(urls, access)
    except SourceError:
        return build_registry_per_file_root(urls, access)[0]


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
) -> list[ParsedFile]:
    """Parse each file once (in input order). Never raises for a bad file: see ``ParsedFile.error``.

    ``registry`` defaults to :func:`vzskill.registry.build_registry` over the valid URLs.
    ``drop_variables`` go to the parser (``HDFParser(drop_variables=)`` / ``skip_variables=``), so
    they avoid parse errors in the dropped variables. ``parallel``: ``None``/``False`` (serial), an
    ``Executor`` instance (``ThreadPoolExecutor(...)``, ``ProcessPoolExecutor(mp_context=
    multiprocessing.get_context("forkserver"))``) or ``"dask"``.
    """
    raw = [os.fspath(u) for u in urls]
    auto = registry is None
    if registry is None:
        valid = _valid_urls(raw)
        if valid:
            registry = _registry_for(valid, access)
    options = _Options(
        loadable_variables=tuple(loadable_variables) if loadable_variables is not None else None,
        decode_times=decode_times,
        drop_variables=tuple(drop_variables) if drop_variables else None,
        group=group,
        auto_registry=auto,
        access=access,
    )
    work = partial(parse_one, registry=registry, options=options)
    if parallel in (None, False) or len(raw) <= 1:
        return [work(u) for u in raw]
    with _executor(parallel) as pool:
        return list(pool.map(work, raw))


def datasets(parsed: Iterable[ParsedFile]) -> list[xr.Dataset]:
    """The datasets of the files that parsed (in order)."""
    return [p.dataset for p in parsed if p.ok]  # type: ignore[misc]
