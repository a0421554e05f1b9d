"""Inventory of source files - what each looks like to VirtualiZarr: variables, shapes, chunks, codecs, dtypes, fill values, time units.

:func:`inspect_file` parses the file once with every variable virtual (``loadable_variables=[]``,
so coordinates show their on-disk chunks and codecs too, and ``time`` keeps its CF units). A file
that cannot be virtualized is still described when it is HDF5 (read with h5py, metadata only),
with the parse error attached - that is usually the fastest way to see *which* variable is the problem.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from vzskill.jsonable import fill_value, jsonable
from vzskill.sources import Access

if TYPE_CHECKING:
    import xarray as xr
    from obspec_utils.registry import ObjectStoreRegistry

    from vzskill.parse import ParsedFile


@dataclass
class VariableInfo:
    name: str
    dims: list[str]
    shape: list[int]
    dtype: str
    chunks: list[int] | None = None
    codecs: list[dict[str, Any]] = field(default_factory=list)
    compression: str | None = None  # "zlib", "blosc", "zstd", ..., or None
    level: int | None = None
    shuffle: bool = False
    fill_value: Any = None
    units: str | None = None
    calendar: str | None = None
    scale_factor: Any = None
    add_offset: Any = None
    virtual: bool = True  # False: an inlined/loaded value, not a chunk reference


@dataclass
class FileInfo:
    url: str
    kind: str | None = None
    size: int | None = None
    dims: dict[str, int] = field(default_factory=dict)
    variables: list[VariableInfo] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    time_units: str | None = None
    calendar: str | None = None
    groups: list[str] = field(default_factory=list)  # HDF5/NetCDF4 sub-groups (inspect them with group=)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def _codec_dict(codec: Any) -> dict[str, Any]:
    if hasattr(codec, "to_dict"):
        try:
            return jsonable(codec.to_dict())
        except Exception:  # noqa: BLE001
            pass
    return {"name": type(codec).__name__}


def _summarise_codecs(codecs: list[dict[str, Any]]) -> tuple[str | None, int | None, bool]:
    compression, level, shuffle = None, None, False
    for c in codecs:
        name = str(c.get("name", "")).lower()
        config = c.get("configuration") or {}
        inner = config.get("codec_config", config) if isinstance(config, dict) else {}
        short = name.split(".")[-1]
        if short in ("shuffle",):
            shuffle = True
        elif short in ("zlib", "gzip", "zstd", "blosc", "lz4", "bz2", "lzma", "imagecodecs_lzf"):
            compression = "zlib" if short in ("zlib", "gzip") else short
            lvl = inner.get("level", inner.get("clevel")) if isinstance(inner, dict) else None
            level = int(lvl) if lvl is not None else None
            if short == "blosc" and isinstance(inner, dict) and inner.get("shuffle") not in (None, 0, "noshuffle"):
                shuffle = True
    return compression, level, shuffle


def _variable_from_virtual(name: str, var: xr.Variable) -> VariableInfo:
    data = var.data  # a ManifestArray for a virtual variable (returned as is: it is a duck array)
    meta = getattr(data, "metadata", None)
    attrs = dict(var.attrs)
    enc = dict(var.encoding)
    info = VariableInfo(
        name=str(name),
        dims=[str(d) for d in var.dims],
        shape=[int(s) for s in var.shape],
        dtype=str(var.dtype),
    )
    if meta is not None:  # ManifestArray: a virtual (referenced) array
        info.chunks = [int(c) for c in meta.chunks]
        info.codecs = [_codec_dict(c) for c in meta.codecs]
        info.fill_value = fill_value(meta.fill_value)
        info.dtype = str(meta.data_type.to_native_dtype()) if hasattr(meta.data_type, "to_native_dtype") else str(var.dtype)
    else:
        info.virtual = False
        chunks = enc.get("chunks")
        info.chunks = [int(c) for c in chunks] if chunks else None
        info.codecs = [_codec_dict(c) for c in (*enc.get("filters", ()), *enc.get("compressors", ()))]
        info.fill_value = fill_value(enc.get("_FillValue", enc.get("fill_value")))
    info.compression, info.level, info.shuffle = _summarise_codecs(info.codecs)
    units = attrs.get("units", enc.get("units"))
    info.units = str(units) if units is not None else None
    cal = attrs.get("calendar", enc.get("calendar"))
    info.calendar = str(cal) if cal is not None else None
    info.scale_factor = jsonable(attrs.get("scale_factor", enc.get("scale_factor")))
    info.add_offset = jsonable(attrs.get("add_offset", enc.get("add_offset")))
    return info


_H5_FILTERS = {1: "zlib", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset", 32000: "lzf", 32001: "blosc", 32015: "zstd"}


_H5_SKIPPED_ATTRS = ("DIMENSION_LIST", "REFERENCE_LIST", "_Netcdf4Dimid", "CLASS", "NAME")
_NOT_A_VARIABLE = "This is a netCDF dimension but not a netCDF variable"


def _h5_dims(obj: Any) -> list[str]:
    dims = []
    for i, dim in enumerate(obj.dims):
        label = ""
        try:
            label = dim[0].name.rsplit("/", 1)[-1] if len(dim) else dim.label
        except Exception:  # noqa: BLE001
            label = dim.label
        dims.append(label or f"phony_dim_{i}")
    return dims


def _h5_codecs(obj: Any) -> list[dict[str, Any]]:
    codecs: list[dict[str, Any]] = []
    plist = obj.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        fid, _flags, values, _fname = plist.get_filter(i)
        entry: dict[str, Any] = {"name": _H5_FILTERS.get(fid, f"hdf5-filter-{fid}"), "id": int(fid)}
        if fid == 1 and values:
            entry["configuration"] = {"level": int(values[0])}
        codecs.append(entry)
    return codecs


def _h5_fill(obj: Any) -> Any:
    if "_FillValue" in obj.attrs:
        raw = obj.attrs["_FillValue"]
    elif obj.dtype.kind != "O":
        raw = obj.fillvalue
    else:
        return None
    if isinstance(raw, np.ndarray) and raw.size == 1:
        raw = raw.reshape(-1)[0]
    return fill_value(raw)


def _h5_variable(name: str, obj: Any) -> VariableInfo:
    import h5py

    attrs = {k: jsonable(v) for k, v in obj.attrs.items() if k not in _H5_SKIPPED_ATTRS}
    codecs = _h5_codecs(obj)
    v = VariableInfo(
        name=name,
        dims=_h5_dims(obj),
        shape=[int(s) for s in obj.shape],
        dtype=str(obj.dtype) if obj.dtype.kind != "O" else f"object ({h5py.check_dtype(vlen=obj.dtype) or 'reference'})",
        chunks=[int(c) for c in obj.chunks] if obj.chunks else None,
        codecs=codecs,
        fill_value=_h5_fill(obj),
        units=str(attrs["units"]) if "units" in attrs else None,
        calendar=str(attrs["calendar"]) if "calendar" in attrs else None,
        scale_factor=attrs.get("scale_factor"),
        add_offset=attrs.get("add_offset"),
    )
    v.shuffle = any(c["name"] == "shuffle" for c in codecs)
    for c in codecs:
        if c["name"] in ("zlib", "lzf", "blosc", "zstd", "szip"):
            v.compression = c["name"]
            v.level = (c.get("configuration") or {}).get("level")
    return v


def _describe_h5(url: str, registry: ObjectStoreRegistry) -> FileInfo:
    """Metadata-only description of an HDF5/NetCDF4 file with h5py (works where HDFParser fails)."""
    import h5py
    from obspec_utils.readers import BlockStoreReader

    store, path = registry.resolve(url)
    out = FileInfo(url=url, kind="hdf5")

    def visit(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        if str(obj.attrs.get("NAME", b"")).find(_NOT_A_VARIABLE) >= 0:
            for dim_size in obj.shape:
                out.dims[name.rsplit("/", 1)[-1]] = int(dim_size)
            return
        if obj.dims and obj.dims[0] is not None and obj.is_scale:
            for dim_size in obj.shape[:1]:
                out.dims[name.rsplit("/", 1)[-1]] = int(dim_size)
        out.variables.append(_h5_variable(name, obj))

    with h5py.File(BlockStoreReader(store, path), mode="r") as f:
        f.visititems(visit)
        out.attrs = {k: jsonable(v) for k, v in f.attrs.items() if not k.startswith("_")}
    for v in out.variables:
        for d, s in zip(v.dims, v.shape, strict=True):
            out.dims.setdefault(d, s)
    return out


def _h5_groups(url: str, registry: ObjectStoreRegistry) -> list[str]:
    """Paths of the HDF5 groups below the root ("surface", "upper/levels", ...)."""
    import h5py
    from obspec_utils.readers import BlockStoreReader

    store, path = registry.resolve(url)
    found: list[str] = []
    with h5py.File(BlockStoreReader(store, path), mode="r") as f:
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Group) else None)
    return found


def _time_of(info: FileInfo) -> None:
    for v in info.variables:
        if v.units and " since " in v.units:
            if v.name == "time" or info.time_units is None:
                info.time_units, info.calendar = v.units, v.calendar


def _size_of(url: str, registry: ObjectStoreRegistry) -> int | None:
    try:
        import obstore

        store, path = registry.resolve(url)
        return int(obstore.head(store, path)["size"])
    except Exception:  # noqa: BLE001
        return None


def _described(pf: ParsedFile, registry: ObjectStoreRegistry) -> FileInfo:
    """The FileInfo of one parsed file (a failed HDF5 file is still described with h5py, its error attached)."""
    ds = pf.dataset
    if pf.error is None and ds is not None:
        info = FileInfo(url=pf.url, kind=pf.kind, dims={str(k): int(v) for k, v in ds.sizes.items()},
                        attrs={str(k): jsonable(v) for k, v in ds.attrs.items()})
        info.variables = [_variable_from_virtual(str(n), v) for n, v in ds.variables.items()]
        if pf.kind == "hdf5":
            try:
                info.groups = _h5_groups(pf.url, registry)
            except Exception:  # noqa: BLE001
                pass
        return info
    info = FileInfo(url=pf.url, kind=pf.kind, error=pf.error)
    if pf.kind == "hdf5":
        try:
            info = _describe_h5(pf.url, registry)
            info.error = pf.error
        except Exception:  # noqa: BLE001 - corrupt file: the parse error says it
            pass
    return info


def _input_order(raw: list[str]) -> dict[str, int]:
    from vzskill.sources import SourceError, normalize_url

    order: dict[str, int] = {}
    for i, u in enumerate(raw):
        order.setdefault(u, i)
        try:
            order.setdefault(normalize_url(u), i)
        except SourceError:
            pass
    return order


def inspect_files(urls: Iterable[str | os.PathLike[str]], access: Access | None = None, *, group: str | None = None) -> list[FileInfo]:
    """Describe every file: variables, shapes, chunks, codecs, dtypes, fill values, time units.

    Parameters
    ----------
    urls
        Local paths or URLs (``s3://``, ``gs://``, ``az://``, ``https://``, ``file://``).
    access
        How to reach remote sources (credentials, region, endpoint); ``None``: anonymous / from the environment.
    group
        HDF5/NetCDF4 group to describe instead of the root.

    Returns
    -------
    list[FileInfo]
        One per input, in input order. Never raises for a bad file: its ``FileInfo.error`` says what is wrong.
    """
    from vzskill.parse import parse_files
    from vzskill.registry import build_registry_per_file_root
    from vzskill.sources import SourceError, normalize_url

    raw = [os.fspath(u) for u in urls]
    out: list[FileInfo] = []
    valid: list[str] = []
    for u in raw:
        try:
            valid.append(normalize_url(u))
        except SourceError as exc:
            out.append(FileInfo(url=u, error=str(exc)))
    if not valid:
        return out
    registry, bad = build_registry_per_file_root(valid, access)
    out.extend(FileInfo(url=u, error=msg) for u, msg in bad.items())
    valid = [u for u in valid if u not in bad]
    for pf in parse_files(valid, registry, loadable_variables=[], decode_times=False, group=group):
        info = _described(pf, registry)
        info.size = pf.size if pf.size is not None else _size_of(pf.url, registry)
        _time_of(info)
        out.append(info)
    order = _input_order(raw)
    return sorted(out, key=lambda i: order.get(i.url, len(order)))


def inspect_file(url: str | os.PathLike[str], access: Access | None = None, *, group: str | None = None) -> FileInfo:
    """Describe one file (see :func:`inspect_files`).

    Parameters
    ----------
    url
        A local path or URL.
    access
        How to reach the sources (credentials, region, endpoint, anonymous); ``None``: from the environment.
    group
        HDF5/NetCDF4 group to describe instead of the root.

    Returns
    -------
    FileInfo
        Never raises for a bad file: ``FileInfo.error`` says what is wrong.
    """
    return inspect_files([url], access, group=group)[0]


def _codec_text(v: VariableInfo) -> str:
    if v.compression:
        codec = v.compression + (f" {v.level}" if v.level is not None else "") + (" +shuffle" if v.shuffle else "")
    else:
        codec = "shuffle only" if v.shuffle else "none"
    extra = [c["name"] for c in v.codecs
             if c.get("name") in ("fletcher32", "szip", "nbit", "scaleoffset") or str(c.get("name", "")).startswith("hdf5-filter")]
    if extra:
        codec += " +" + "+".join(extra)
    if v.scale_factor is not None:
        codec += f" scale={v.scale_factor}"
    return codec


def _variable_rows(variables: list[VariableInfo]) -> list[str]:
    rows = [("variable", "dims", "dtype", "chunks", "codecs", "fill", "units")]
    for v in variables:
        rows.append((
            v.name,
            "(" + ", ".join(f"{d}={s}" for d, s in zip(v.dims, v.shape, strict=True)) + ")",
            v.dtype,
            "x".join(map(str, v.chunks)) if v.chunks else "-",
            _codec_text(v),
            str(v.fill_value) if v.fill_value is not None else "-",
            v.units or "-",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def format_info(info: FileInfo) -> str:
    """Human-readable table for one file.

    Parameters
    ----------
    info
        A description from :func:`inspect_files` / :func:`inspect_file`.

    Returns
    -------
    str
        A header line (URL, kind, size), the error if any, dims, groups, time units and one row per variable.
    """
    head = f"{info.url}  [{info.kind or '?'}"
    head += f", {info.size} bytes]" if info.size is not None else "]"
    lines = [head]
    if info.error:
        lines.append(f"  ERROR: {info.error}")
    if info.dims:
        lines.append("  dims: " + ", ".join(f"{k}={v}" for k, v in info.dims.items()))
    if info.groups:
        lines.append("  groups: " + ", ".join(info.groups))
        if not info.variables:
            lines.append(f"  (no variables at the root -> vzskill inspect FILE --group {info.groups[0]})")
    if info.time_units:
        lines.append(f"  time units: {info.time_units}" + (f" (calendar {info.calendar})" if info.calendar else ""))
    if info.variables:
        lines.extend(_variable_rows(info.variables))
    return "\n".join(lines)
