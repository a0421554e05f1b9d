"""The virtual dataset of a parsed file, with its 1-D dimension coordinates loaded without zarr.

``ManifestStore.to_virtual_dataset()`` (VirtualiZarr) loads the dimension coordinates by opening
the whole store with ``xarray.open_zarr``: every array's metadata goes through a zarr.json round
trip, every read through zarr's event-loop thread, then xarray decodes every variable and builds
the indexes. For a small NetCDF4 file that is ~15 ms of CPU for three tiny arrays (60% of a
parse), and in a thread pool all files queue for the one zarr loop thread.

:func:`virtual_dataset` gives the same dataset cheaper in the common case - every coordinate to
load is 1-D, numeric, in real (not inlined) chunks with the plain ``bytes`` codec (what the HDF5,
NetCDF3 and FITS parsers produce for coordinates): the chunks are read through the store's
registry (so a prefetched block serves them), decoded with numpy, and handed to xarray's own
backend decoding (``xr.open_dataset`` on an in-memory data store that describes each variable
exactly as xarray's zarr backend does, from the same zarr metadata). Anything else - explicit
``loadable_variables``, compressed or inlined coordinates, subgroups - goes to VirtualiZarr's
``to_virtual_dataset`` unchanged. tests/test_parallel.py compares both paths on real files.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import AbstractDataStore

__all__ = ["virtual_dataset"]


class _Unplain(Exception):
    """This store needs VirtualiZarr's own path."""


class _Loaded(AbstractDataStore):
    """Variables described as xarray's ZarrStore describes them (dims, attrs, encoding), values in memory."""

    def __init__(self, variables: dict[str, xr.Variable], attrs: dict[str, Any]) -> None:
        self._variables = variables
        self._attrs = attrs

    def get_variables(self) -> dict[str, xr.Variable]:
        return self._variables

    def get_attrs(self) -> dict[str, Any]:
        return self._attrs

    def get_dimensions(self) -> dict[str, int]:
        return {str(d): n for v in self._variables.values() for d, n in zip(v.dims, v.shape, strict=True)}


def virtual_dataset(store: Any, *, loadable_variables: Any = None, decode_times: bool | None = None) -> xr.Dataset:
    """``store.to_virtual_dataset(loadable_variables=, decode_times=)``, cheaper when it can be.

    Parameters
    ----------
    store
        A VirtualiZarr ``ManifestStore`` (what a parser returns).
    loadable_variables, decode_times
        As in ``ManifestStore.to_virtual_dataset``; the fast path is taken only for the default
        ``loadable_variables=None`` (load the dimension coordinates).

    Returns
    -------
    xr.Dataset
        The virtual dataset (ManifestArray variables, loaded dimension coordinates with indexes).
    """
    group = getattr(store, "_group", None)  # VirtualiZarr keeps it private; without it, its own path
    registry = getattr(store, "_registry", None)
    if loadable_variables is None and group is not None and registry is not None and not group.groups:
        try:
            return _fast(group, registry, decode_times)
        except _Unplain:
            pass
    return store.to_virtual_dataset(
        loadable_variables=list(loadable_variables) if loadable_variables is not None else None,
        decode_times=decode_times,
    )


def _fast(group: Any, registry: Any, decode_times: bool | None) -> xr.Dataset:
    from virtualizarr.xarray import replace_virtual_with_loadable_vars
    from zarr.core.buffer import default_buffer_prototype

    arrays = group.arrays
    names = [n for n, a in arrays.items() if tuple(a.metadata.dimension_names or ()) == (n,)]
    for name, arr in arrays.items():
        if name not in names:
            _plain_virtual(arr.metadata)
    variables = {n: _variable(arrays[n], _round_trip(arrays[n]), registry) for n in names}
    attrs = json.loads(group.metadata.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes()).get("attributes", {})
    attrs = {k: v for k, v in attrs.items() if not k.lower().startswith("_nc")}  # as ZarrStore.get_attrs
    with xr.open_dataset(_Loaded(variables, attrs), decode_times=decode_times, chunks=None) as loaded:
        return replace_virtual_with_loadable_vars(group.to_virtual_dataset(), loaded, None)


def _round_trip(marr: Any) -> Any:
    """The array's metadata after the zarr.json round trip open_zarr makes (JSON-normalised
    attributes); :class:`_Unplain` where zarr or xarray's zarr backend would refuse it."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.metadata.v3 import ArrayV3Metadata

    try:
        text = marr.metadata.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes()
        meta = ArrayV3Metadata.from_dict(json.loads(text))
        dtype = np.dtype(meta.dtype.to_native_dtype())
    except Exception as exc:  # noqa: BLE001 - VirtualiZarr's own path raises (or explains) it
        raise _Unplain from exc
    if len(meta.dimension_names or ()) != len(meta.shape) or dtype.kind not in "iufcb" or dtype.hasobject:
        raise _Unplain  # no dimension names (xarray refuses), strings, compounds: VirtualiZarr's path
    return meta


# what xarray decodes as datetimes ("<unit> since <date>") or time deltas (xarray.coding.times.TIME_UNITS)
_TIME_UNITS = frozenset({"days", "hours", "minutes", "seconds", "milliseconds", "microseconds", "nanoseconds"})


def _plain_virtual(meta: Any) -> None:
    """A variable that stays virtual: :class:`_Unplain` if xarray's decoding of it could fail or
    read values (``open_zarr`` decodes every variable; times and time deltas read the first and
    last value), so that VirtualiZarr's path decides as before."""
    from xarray.backends.zarr import FillValueCoder
    from zarr.core.buffer import default_buffer_prototype

    try:  # zarr serialises every array's metadata for open_zarr (complex attributes fail there)
        meta.to_buffer_dict(default_buffer_prototype())
        dtype = np.dtype(meta.dtype.to_native_dtype())
    except Exception as exc:  # noqa: BLE001 - VirtualiZarr's own path raises (or explains) it
        raise _Unplain from exc
    if len(meta.dimension_names or ()) != len(meta.shape) or dtype.kind not in "iufcb" or dtype.hasobject:
        raise _Unplain
    attrs = meta.attributes
    units = attrs.get("units")
    if isinstance(units, str) and ("since" in units.lower() or units.strip().lower() in _TIME_UNITS):
        raise _Unplain
    if "_FillValue" in attrs:
        try:
            FillValueCoder.decode(attrs["_FillValue"], dtype)
        except Exception as exc:  # noqa: BLE001
            raise _Unplain from exc


def _variable(marr: Any, meta: Any, registry: Any) -> xr.Variable:
    """One coordinate as ``xarray.backends.zarr.ZarrStore.open_store_variable`` builds it for a
    zarr v3 array (the properties zarr's ``Array`` derives from the same metadata)."""
    from xarray.backends.zarr import FillValueCoder
    from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec

    values = _values(marr, meta, registry)
    dims = tuple(meta.dimension_names)
    chunks = tuple(int(c) for c in meta.chunks)
    codecs = meta.inner_codecs
    encoding = {"chunks": chunks, "preferred_chunks": dict(zip(dims, chunks, strict=True)),
                "compressors": tuple(c for c in codecs if isinstance(c, BytesBytesCodec)),
                "filters": tuple(c for c in codecs if isinstance(c, ArrayArrayCodec)), "shards": meta.shards,
                "serializer": next(c for c in codecs if isinstance(c, ArrayBytesCodec)), "fill_value": meta.fill_value}
    attributes = dict(meta.attributes)
    if "_FillValue" in attributes:
        attributes["_FillValue"] = FillValueCoder.decode(attributes["_FillValue"], meta.dtype.to_native_dtype())
    return xr.Variable(dims, values, attributes, encoding)


def _values(marr: Any, meta: Any, registry: Any) -> np.ndarray:
    """The decoded values of a 1-D array in plain ``bytes``-codec chunks (else :class:`_Unplain`)."""
    from virtualizarr.manifests.manifest import INLINED_CHUNK_PATH
    from zarr.codecs import BytesCodec

    codecs = list(meta.codecs)
    if len(meta.shape) != 1 or len(codecs) != 1 or not isinstance(codecs[0], BytesCodec):
        raise _Unplain
    try:
        dtype = np.dtype(meta.dtype.to_native_dtype())
        (chunk,) = meta.chunks
    except (NotImplementedError, AttributeError, TypeError, ValueError) as exc:  # rectilinear grid, odd dtype
        raise _Unplain from exc
    if dtype.kind not in "iuf" or dtype.hasobject:
        raise _Unplain
    endian = getattr(codecs[0].endian, "value", codecs[0].endian)  # "little" / "big" (an enum in some zarr versions)
    if endian is not None and dtype.itemsize > 1:
        dtype = dtype.newbyteorder("<" if endian == "little" else ">")
    (n,) = meta.shape
    grid = -(-n // chunk) if n else 0
    manifest = marr.manifest
    parts = []
    for i in range(grid):
        entry = manifest.get_entry((i,))
        if entry is None or entry["path"] == INLINED_CHUNK_PATH or entry["length"] != chunk * dtype.itemsize:
            raise _Unplain  # missing (fill value), inlined or odd-sized chunk: zarr knows those
        obj, path = registry.resolve(entry["path"])
        data = bytes(obj.get_range(path, start=int(entry["offset"]), length=int(entry["length"])))
        if len(data) != entry["length"]:
            raise _Unplain
        parts.append(np.frombuffer(data, dtype=dtype))
    values = np.concatenate(parts)[:n] if parts else np.empty(0, dtype)
    return values.astype(dtype.newbyteorder("="), copy=False)
