"""Per-file descriptions: what a virtual concatenation depends on, read from one parsed virtual dataset.

:func:`describe_file` returns, per variable, the properties :mod:`vzskill.rules` compares across files:
dims/shape (and the shape along the non-concat dims), dtype, chunk shape, codec pipeline (a normalised
key and its text), fill value, scale_factor/add_offset, CF time units/calendar (and whether time is
decoded), and the values of loaded 1-D dimension coordinates along the non-concat dims. Metadata only:
no chunk is read.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import xarray as xr

__all__ = ["describe_file", "describe_codecs", "codec_key", "scalar", "hashable", "is_virtual", "compact_variables"]


def scalar(value: Any) -> Any:
    """A hashable, comparable form of a fill value / attribute (NaN == NaN)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size == 1:
            value = value.reshape(()).item()
        else:
            return tuple(scalar(v) for v in value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return tuple(scalar(v) for v in value)
    return value


def codec_key(codecs: Sequence[Any]) -> tuple:
    """Normalised codec pipeline: (name, sorted config) tuples; dtype-derived details dropped."""
    key = []
    for c in codecs:
        try:
            d = c.to_dict()
        except Exception:
            d = {"name": type(c).__name__, "configuration": {}}
        name = str(d.get("name", type(c).__name__)).replace("numcodecs.", "")
        conf = dict(d.get("configuration") or {})
        if name == "shuffle":
            conf.pop("elementsize", None)  # follows the dtype (reported separately)
        if name == "blosc":
            conf.pop("typesize", None)
        if name == "bytes" and conf.get("endian") == "little":
            conf = {}
        key.append((name, tuple(sorted((k, scalar(v)) for k, v in conf.items()))))
    return tuple(key)


def describe_codecs(key: tuple) -> str:
    """``zlib level 4 with shuffle`` / ``no compression`` / ``blosc(cname=lz4) ...`` for a codec key."""
    names = [n for n, _ in key]
    conf = {n: dict(c) for n, c in key}
    parts = []
    endian = conf.get("bytes", {}).get("endian")
    compressors = [n for n in names if n not in ("bytes", "shuffle", "transpose")]
    if not compressors:
        parts.append("no compression")
    for n in compressors:
        c = conf[n]
        if n in ("zlib", "gzip") and "level" in c:
            parts.append(f"{n} level {c['level']}")
        elif c:
            parts.append(f"{n}(" + ", ".join(f"{k}={v}" for k, v in c.items()) + ")")
        else:
            parts.append(n)
    text = " + ".join(parts)
    if compressors:
        text += " with shuffle" if "shuffle" in names else " without shuffle"
    elif "shuffle" in names:
        text += " (shuffle)"
    if endian == "big":
        text += ", big-endian"
    return text


def nccopy_hint(key: tuple) -> str:
    conf = {n: dict(c) for n, c in key}
    if "zlib" in conf and "level" in conf["zlib"]:
        return f" (e.g. nccopy -d {conf['zlib']['level']}{' -s' if 'shuffle' in conf else ''})"
    if len(key) <= 1:
        return " (e.g. nccopy -d 0)"
    return ""


def time_units(var: xr.Variable) -> tuple[str | None, str | None, bool]:
    """(units, calendar, decoded) for a CF time variable; (None, None, False) otherwise."""
    units = var.attrs.get("units")
    calendar = var.attrs.get("calendar")
    decoded = False
    if not (isinstance(units, str) and " since " in units):
        units = var.encoding.get("units")
        calendar = var.encoding.get("calendar", calendar)
        decoded = True
    if not (isinstance(units, str) and " since " in units):
        return None, None, False
    if decoded and not (np.issubdtype(var.dtype, np.datetime64) or np.issubdtype(var.dtype, np.timedelta64) or var.dtype == object):
        decoded = False
    return units.strip(), (calendar or "standard"), decoded


def is_virtual(var: xr.Variable) -> bool:
    return type(var.data).__name__ == "ManifestArray"


def has_no_refs(ma: Any) -> bool:
    """True when a ManifestArray references no chunk at all, not even an inlined one (never-written data,
    or HDF5 compact storage)."""
    manifest = getattr(ma, "manifest", None)
    if manifest is None:
        return False
    return next(iter(manifest.iter_refs()), None) is None


def compact_variables(url: str, names: list[str], registry: Any = None) -> list[str]:
    """The variables among ``names`` stored with HDF5 compact layout (h5py, metadata only)."""
    import h5py
    from obspec_utils.readers import BlockStoreReader

    from vzskill.extents import resolve_store

    store, path = resolve_store(url, registry)
    out = []
    with h5py.File(BlockStoreReader(store, path), mode="r") as f:
        for name in names:
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset) and obj.id.get_create_plist().get_layout() == h5py.h5d.COMPACT:
                out.append(name)
    return out


def describe_file(ds: xr.Dataset, concat_dims: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per-variable properties of one parsed file (metadata only)."""
    out: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        name = str(name)
        virtual = is_virtual(var)
        info: dict[str, Any] = {
            "virtual": virtual,
            "is_coord": name in ds.coords,
            "dims": tuple(str(d) for d in var.dims),
            "shape": tuple(int(s) for s in var.shape),
            "shape_other": tuple((str(d), int(n)) for d, n in zip(var.dims, var.shape, strict=True) if d not in concat_dims),
        }
        units, calendar, decoded = time_units(var)
        if units is not None:
            info["time_units"] = units
            info["calendar"] = calendar
            info["time_decoded"] = decoded
        if virtual:
            md = var.data.metadata
            info["dtype"] = str(var.dtype)
            chunks = getattr(md, "chunks", None)
            if chunks is None:  # sharded or v2 metadata
                chunks = getattr(md, "chunk_grid", None)
            info["chunks"] = tuple(int(c) for c in chunks) if chunks is not None else None
            info["codec_key"] = codec_key(getattr(md, "codecs", ()) or ())
            info["codecs"] = describe_codecs(info["codec_key"])
            info["fill_value"] = scalar(getattr(md, "fill_value", None))
            info["no_refs"] = has_no_refs(var.data) and int(np.prod(var.shape)) > 0
            scale = var.attrs.get("scale_factor", var.encoding.get("scale_factor"))
            offset = var.attrs.get("add_offset", var.encoding.get("add_offset"))
            info["scale_offset"] = None if scale is None and offset is None else (scalar(scale), scalar(offset))
        else:
            info["dtype"] = str(var.encoding.get("dtype", var.dtype))
            if name in ds.indexes and var.ndim == 1 and var.dims[0] not in concat_dims:
                values = np.asarray(var.values)
                info["values"] = values
                info["values_key"] = (values.dtype.str, values.shape, values.tobytes())
        out[name] = info
    return out

def hashable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, list):
        return tuple(hashable(x) for x in v)
    return v

