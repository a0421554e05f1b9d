"""Raw reads of source files, per format, and where a byte range lives in them.

Each reader opens one source with the format's own library and hands out variables that can

* ``locate(offset, length)``: the logical start index of the block whose stored bytes begin at
  ``offset`` (None: no block of this variable starts there) - how :mod:`vzskill.verification` places a
  repository chunk in its source whatever the combine layout;
* ``read(region)``: the stored values of a region, before any CF decoding (no mask, no
  scale/offset, no time decoding);
* ``attrs``: the variable's attributes with their stored types (CF decoding attributes matter).

Formats: HDF5/NetCDF4 (h5py: chunk offsets from ``chunk_iter``, contiguous data from
``get_offset``), NetCDF3 (:mod:`vzskill.netcdf3_layout` for offsets, ``scipy.io.netcdf_file``
with ``mmap=False, maskandscale=False`` for values), FITS (astropy, ``do_not_scale_image_data=True``;
the data offset from ``HDUList.fileinfo``), Zarr stores and zipped Zarr stores
(:mod:`vzskill.source_zarr`). Kerchunk references point at the files they index, so those files are read
with the readers above.

More formats: :func:`register_reader` adds an opener for a format name (the ``kind`` that
:func:`vzskill.formats.detect_kind` returns). For a kind without a reader, :func:`open_source`
first imports ``vzskill.readers_<kind>`` (``-`` -> ``_``), a module that registers its reader when
imported; still none -> :class:`NoReader`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable

import numpy as np

from vzskill.parse import display_name
from vzskill.sources import local_path

__all__ = ["NoReader", "Opener", "SourceFile", "SourceVariable", "open_source", "plain_attrs", "reader_for",
           "register_reader", "source_target"]


class NoReader(NotImplementedError):
    """No direct reader for this source's format (valid content, not compared); ``kind``: the format."""

    def __init__(self, message: str, kind: str = ""):
        super().__init__(message)
        self.kind = kind


def plain_attrs(attrs: Any) -> dict[str, Any]:
    """Attributes with bytes decoded and one-element arrays unwrapped (numpy scalar types kept)."""
    out: dict[str, Any] = {}
    for key, value in dict(attrs).items():
        if isinstance(value, (bytes, np.bytes_)):
            value = bytes(value).decode("utf-8", "replace")
        elif isinstance(value, np.ndarray):
            if value.dtype.kind in "SO" and value.size == 1:
                item = value.reshape(-1)[0]
                value = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
            elif value.size == 1:
                value = value.reshape(())[()]
        out[str(key)] = value
    return out


class SourceVariable:
    """One variable of one source: shape, dtype, attrs, ``locate`` and raw ``read``.

    ``locate(offset, length)``: the start index (one int per dim) of the stored block whose bytes
    begin at ``offset``, None when no block of this variable starts there. ``read(region)``: the
    stored values of ``region`` (a tuple of slices; ``()`` = everything), before CF decoding.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    attrs: dict[str, Any]
    scale: tuple[float, float] | None = None  # FITS BSCALE, BZERO (the repository applies them in a codec)
    rtol: float = 0.0  # relative tolerance for float values computed on both sides (e.g. GRIB lat/lon from projections)

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        raise NotImplementedError

    def locate_at(self, url: str, offset: int, length: int) -> tuple[int, ...] | None:
        """``locate`` for a reference to ``url``: override when the object URL itself names the block."""
        return self.locate(offset, length)

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        raise NotImplementedError


class SourceFile:
    """One opened source: ``variable(path)`` -> :class:`SourceVariable` or None (not in this file).

    ``path`` is the repository's array path (``group/name``): a reader resolves it against its own
    names (e.g. with the trailing parts first, a repository group may be the source's root).
    """

    kind: str = ""

    def variable(self, path: str) -> SourceVariable | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def source_target(url: str, registry: Any) -> Any:
    """What a format library opens: a local path for ``file://``, else a seekable file-like reader.

    The reader is obspec-utils' ``BlockStoreReader`` over the store that ``registry`` resolves.
    """
    if url.startswith("file://"):
        return local_path(url)
    from obspec_utils.readers import BlockStoreReader

    store, path = registry.resolve(url)
    return BlockStoreReader(store, path)


def _candidates(path: str) -> list[str]:
    """``a/b/x`` -> ``a/b/x``, ``b/x``, ``x``: a repository group may be a source's root."""
    parts = path.strip("/").split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]


# --------------------------------------------------------------------------- HDF5 / NetCDF4


class _H5Variable(SourceVariable):
    def __init__(self, name: str, ds: Any):
        self.name, self.ds = name, ds
        self.shape, self.dtype = tuple(ds.shape), ds.dtype
        self.attrs = plain_attrs({k: v for k, v in ds.attrs.items() if k not in ("DIMENSION_LIST", "REFERENCE_LIST")})
        self._starts: dict[int, tuple[int, ...]] | None = None

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        dsid = self.ds.id
        if self.ds.chunks is None:
            return (0,) * len(self.shape) if dsid.get_offset() == offset else None
        if self._starts is None:
            infos: list[Any] = []
            if callable(getattr(dsid, "chunk_iter", None)):
                dsid.chunk_iter(infos.append)
            else:
                infos = [dsid.get_chunk_info(i) for i in range(dsid.get_num_chunks())]
            self._starts = {int(i.byte_offset): tuple(int(c) for c in i.chunk_offset) for i in infos}
        return self._starts.get(int(offset))

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        import h5py

        ds = self.ds
        info = h5py.check_string_dtype(ds.dtype)
        if info is not None and info.length is None:  # variable-length strings: str, as netCDF/xarray/zarr hold them
            try:
                ds = ds.asstr()
                return np.asarray(ds[region] if region else ds[()], dtype=object)
            except UnicodeDecodeError:  # not in its declared encoding: compare the bytes (a difference is real)
                ds = self.ds
        return np.asarray(ds[region] if region else ds[()])


class _H5File(SourceFile):
    kind = "hdf5"

    def __init__(self, url: str, registry: Any):
        import h5py

        self.file = h5py.File(source_target(url, registry), "r")
        self.vars: dict[str, _H5Variable | None] = {}

    def variable(self, path: str) -> SourceVariable | None:
        import h5py

        if path not in self.vars:
            found = None
            for cand in _candidates(path):
                obj = self.file.get(cand)
                if isinstance(obj, h5py.Dataset):
                    found = _H5Variable(cand, obj)
                    break
            self.vars[path] = found
        return self.vars[path]

    def close(self) -> None:
        self.file.close()


# --------------------------------------------------------------------------- NetCDF3


class _NC3Variable(SourceVariable):
    def __init__(self, var: Any, layout_var: Any, layout: Any):
        self.var, self.lv, self.layout = var, layout_var, layout
        self.name = layout_var.name
        self.shape, self.dtype = tuple(layout_var.shape), np.dtype(layout_var.dtype)
        self.attrs = dict(layout_var.attrs)  # from the header, with their stored types

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        from vzskill.netcdf3_layout import record_start

        if self.lv.is_record:
            index = record_start(self.lv, self.layout, offset)
            return None if index is None else (index,) + (0,) * (len(self.shape) - 1)
        return (0,) * len(self.shape) if offset == self.lv.begin else None

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        data = self.var.data
        return np.array(data[region] if region else data)


class _NC3File(SourceFile):
    kind = "netcdf3"

    def __init__(self, url: str, registry: Any):
        from scipy.io import netcdf_file

        from vzskill.netcdf3_layout import read_layout

        target = source_target(url, registry)
        if isinstance(target, str):
            with open(target, "rb") as fh:
                self.layout = read_layout(fh)
        else:
            self.layout = read_layout(target)
            target.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.file = netcdf_file(target, "r", mmap=False, maskandscale=False)

    def variable(self, path: str) -> SourceVariable | None:
        name = path.rsplit("/", 1)[-1]
        if name not in self.file.variables or name not in self.layout.variables:
            return None
        return _NC3Variable(self.file.variables[name], self.layout.variables[name], self.layout)

    def close(self) -> None:
        self.file.close()


# --------------------------------------------------------------------------- FITS


class _FitsVariable(SourceVariable):
    def __init__(self, name: str, hdu: Any, data_offset: int):
        self.name, self.hdu, self.data_offset = name, hdu, data_offset
        header = hdu.header
        naxis = int(header.get("NAXIS", 0))
        self.shape = tuple(int(header[f"NAXIS{i}"]) for i in range(naxis, 0, -1))
        self.attrs = {}
        self._data: np.ndarray | None = None
        if "BSCALE" in header or "BZERO" in header:
            self.scale = (float(header.get("BSCALE", 1)), float(header.get("BZERO", 0)))
        blank = header.get("BLANK") if int(header.get("BITPIX", 0)) > 0 else None
        if blank is not None:  # FITS: BLANK marks undefined integer pixels (a physical value when scaled)
            self.attrs["_FillValue"] = blank * self.scale[0] + self.scale[1] if self.scale else int(blank)

    @property
    def dtype(self) -> np.dtype:  # type: ignore[override]
        return self._values().dtype

    def _values(self) -> np.ndarray:
        if self._data is None:
            self._data = np.asarray(self.hdu.data)
        return self._data

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        return (0,) * len(self.shape) if offset == self.data_offset else None

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        data = self._values()
        return np.array(data[region] if region else data)


class _FitsTableVariable(SourceVariable):
    """An ASCII table HDU: one structured value per row (the columns parsed from their text by astropy)."""

    def __init__(self, name: str, hdu: Any, data_offset: int):
        self.name, self.hdu, self.data_offset = name, hdu, data_offset
        names = list(hdu.columns.names)
        self.dtype = np.dtype([(n, hdu.columns[n].format.recformat) for n in names])  # as the FITS parser types them
        self.shape = (int(hdu.header["NAXIS2"]),)
        self.attrs = {}

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        return (0,) if offset == self.data_offset else None

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        data = self.hdu.data
        out = np.empty(self.shape, dtype=self.dtype)
        for field in self.dtype.names or ():
            out[field] = data[field]
        return out[region] if region else out


class _FitsFile(SourceFile):
    kind = "fits"

    def __init__(self, url: str, registry: Any):
        from astropy.io import fits

        self.hdul = fits.open(source_target(url, registry), mode="readonly", memmap=False, do_not_scale_image_data=True,
                              uint=False, lazy_load_hdus=False)
        self.by_name: dict[str, SourceVariable] = {}
        seen: list[str] = []
        for index, hdu in enumerate(self.hdul):
            name = hdu.name or str(index)  # the FITS parser's array names: EXTNAME, repeats qualified by index
            if name in seen:
                name = f"{name}_{index}"
            seen.append(name)
            if hdu.is_image and int(hdu.header.get("NAXIS", 0)) > 0:
                self.by_name[name] = _FitsVariable(name, hdu, int(self.hdul.fileinfo(index)["datLoc"]))
            elif isinstance(hdu, fits.TableHDU):  # ASCII table (binary tables are refused by the parser)
                self.by_name[name] = _FitsTableVariable(name, hdu, int(self.hdul.fileinfo(index)["datLoc"]))

    def variable(self, path: str) -> SourceVariable | None:
        return self.by_name.get(path.rsplit("/", 1)[-1])

    def close(self) -> None:
        self.hdul.close()


Opener = Callable[[str, Any], SourceFile]
"""``opener(url, registry) -> SourceFile``: opens one referenced file (``registry`` resolves remote URLs)."""

def _zipped_zarr(url: str, registry: Any) -> SourceFile:
    from vzskill.source_zarr import ZippedZarrSource

    return ZippedZarrSource(url, registry)


_READERS: dict[str, Opener] = {"hdf5": _H5File, "netcdf3": _NC3File, "fits": _FitsFile, "zarr-zip": _zipped_zarr}


def register_reader(kind: str, opener: Opener) -> None:
    """Read ``kind`` sources with ``opener`` (replaces an earlier reader of that kind).

    Parameters
    ----------
    kind
        A format name as :func:`vzskill.formats.detect_kind` returns it (``"hdf4"``, ...).
    opener
        ``opener(url, registry) -> SourceFile``; may raise the format library's exception when the
        file cannot be opened (verify reports it as unreadable), :class:`NoReader` when this file's
        content has no reader.
    """
    _READERS[kind] = opener


def reader_for(kind: str) -> Opener | None:
    """The opener registered for ``kind``, importing ``vzskill.readers_<kind>`` once if there is none."""
    if kind not in _READERS and kind.replace("-", "_").isidentifier():
        name = f"vzskill.readers_{kind.replace('-', '_')}"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the reader module exists but needs a package that is missing
                raise NoReader(f"no direct reader for {kind} sources ({exc.name} is not installed)", kind) from exc
    return _READERS.get(kind)


def open_source(url: str, registry: Any, kind: str) -> SourceFile:
    """Open ``url`` (a file referenced by the repository) with the reader for ``kind``.

    Raises :class:`NoReader` for formats without a reader; the format library's exception when the
    file cannot be opened.
    """
    opener = reader_for(kind)
    if opener is None:
        raise NoReader(f"{display_name(url)}: no direct reader for {kind} sources", kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return opener(url, registry)
