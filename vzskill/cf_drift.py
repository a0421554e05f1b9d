"""CF decoding attributes of a repository array vs its source: what changes the decoded values.

Raw values can be equal while the decoded ones are not: the repository keeps a variable's
attributes as JSON, so ``scale_factor`` / ``add_offset`` stored as float32 in a NetCDF file come
back as float64 (xarray then decodes to float64, not float32), and a variable concatenated from
files with different ``units`` is decoded with the first file's. :func:`attr_drift` lists the
differing attributes (value or stored type); :func:`decode` applies xarray's CF decoding with a
given set of attributes, so both sides can be decoded the way a reader would.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CF_ATTRS", "AttrDiff", "attr_drift", "decode", "describe", "repo_attrs"]

CF_ATTRS = ("scale_factor", "add_offset", "_FillValue", "missing_value", "units", "calendar")


@dataclass
class AttrDiff:
    name: str
    repo: Any
    source: Any
    value_differs: bool  # False: same value, different stored type

    def text(self) -> str:
        if self.value_differs:
            return f"{self.name} {_show(self.source)} in the source, {_show(self.repo)} in the repository"
        return f"{self.name} is {_type(self.source)} in the source, {_type(self.repo)} in the repository"


def repo_attrs(array: Any) -> dict[str, Any]:
    """A repository array's attributes, ``_FillValue`` decoded the way xarray's Zarr backend does (base64 floats)."""
    from xarray.backends.zarr import FillValueCoder

    attrs = dict(array.attrs)
    fill = attrs.get("_FillValue")
    if isinstance(fill, (str, list)) and np.dtype(array.dtype).kind in "fc":
        try:
            attrs["_FillValue"] = FillValueCoder.decode(fill, array.dtype)
        except (TypeError, ValueError):
            pass
    return attrs


def _type(value: Any) -> str:
    if value is None:
        return "absent"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, int):
        return "int64"
    return str(np.asarray(value).dtype)


def _show(value: Any) -> str:
    return "absent" if value is None else repr(value.item() if isinstance(value, np.generic) else value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        try:  # zarr keeps a NaN fill value as the string "NaN"; CF units may be the number-like text '1'
            fa, fb = float(a), float(b)
        except (TypeError, ValueError):
            return str(a) == str(b)
        return fa == fb or bool(np.isnan(fa) and np.isnan(fb))
    try:
        x, y = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    except (TypeError, ValueError):
        return bool(a == b)
    return x.shape == y.shape and bool(np.all((x == y) | (np.isnan(x) & np.isnan(y))))


def attr_drift(repo_attrs: dict[str, Any], source_attrs: dict[str, Any]) -> list[AttrDiff]:
    """CF decoding attributes that differ between the repository array and the source variable."""
    out = []
    for name in CF_ATTRS:
        r, s = repo_attrs.get(name), source_attrs.get(name)
        if r is None and s is None:
            continue
        if r is None or s is None or not _same(r, s):
            out.append(AttrDiff(name, r, s, True))
        elif _type(r) != _type(s) and not isinstance(r, str):
            out.append(AttrDiff(name, r, s, False))
    return out


def decode(values: np.ndarray, attrs: dict[str, Any], name: str = "v") -> np.ndarray:
    """``values`` decoded with xarray's CF rules and ``attrs`` (mask, scale/offset, times)."""
    import xarray as xr

    keep = {k: v for k, v in attrs.items() if k in CF_ATTRS}
    if isinstance(keep.get("_FillValue"), str):
        try:
            keep["_FillValue"] = float(keep["_FillValue"])
        except ValueError:
            keep.pop("_FillValue")
    var = xr.Variable(tuple(f"d{i}" for i in range(values.ndim)), values, keep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = xr.conventions.decode_cf_variable(name, var, decode_timedelta=False)
        return np.asarray(out.values)


def describe(diffs: list[AttrDiff]) -> str:
    return "; ".join(d.text() for d in diffs)
