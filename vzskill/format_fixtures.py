"""Sample files of the formats beyond NetCDF/HDF5/FITS, each written by the format's own writer.

* TIFF: :func:`make_tiff` (tifffile): tiles or strips, a codec, several samples per pixel, COG
  overviews; :func:`make_tiff_variant` for the variants vzskill refuses (sub-IFD pyramid, strips that
  do not divide the height, a codec imagecodecs cannot decode here);
* GRIB2: :func:`make_grib` (eccodes, from its ``regular_ll_sfc_grib2`` sample): one message per
  field and step, simple or complex packing;
* HDF4: :func:`make_hdf4` (pyhdf): SDS datasets, uncompressed or deflated.

Pixel / field values are deterministic (:func:`tiff_values`, :func:`grib_values`, :func:`hdf4_values`),
so a read-back can be compared exactly.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["GRIB_PACKINGS", "TIFF_VARIANTS", "grib_values", "hdf4_values", "make_grib", "make_hdf4", "make_tiff",
           "make_tiff_variant", "tiff_values"]

TIFF_VARIANTS = ("subifd", "partial_strips", "jetraw", "interleaved", "interleaved_predictor")
GRIB_PACKINGS = {"simple": "grid_simple", "complex": "grid_complex",
                 "complex_spatial": "grid_complex_spatial_differencing", "ccsds": "grid_ccsds"}


def tiff_values(shape: tuple[int, ...] = (100, 120), dtype: str = "uint16", page: int = 0) -> np.ndarray:
    """The pixels :func:`make_tiff` writes to page ``page``: a smooth ramp plus a checkerboard."""
    ny, nx = shape[-2], shape[-1]
    y, x = np.mgrid[0:ny, 0:nx]
    base = (y * 7 + x * 3 + page * 11) % 251 + ((y // 8 + x // 8) % 2) * 4
    if len(shape) == 3:
        base = np.stack([base + 17 * b for b in range(shape[0])])
    return base.astype(dtype)


def make_tiff(
    path: str | os.PathLike[str],
    *,
    shape: tuple[int, ...] = (100, 120),
    dtype: str = "uint16",
    tile: tuple[int, int] | None = (32, 32),
    rowsperstrip: int | None = None,
    compression: str | None = "zlib",
    predictor: bool = False,
    planarconfig: str | None = None,
    pages: int = 1,
    overviews: int = 0,
    geo: bool = False,
    bigtiff: bool = False,
    byteorder: Literal["<", ">"] = "<",
) -> Path:
    """Write a TIFF with tifffile: ``pages`` images of :func:`tiff_values` plus ``overviews`` COG levels.

    ``shape`` is ``(y, x)`` or ``(band, y, x)``; ``tile=None`` writes strips of ``rowsperstrip``
    rows. Overviews are reduced-resolution IFDs (``subfiletype=1``) after the full-resolution ones.
    ``bigtiff`` writes BigTIFF (``II+``), ``byteorder=">"`` a big-endian file (``MM``). ``geo`` adds GeoTIFF tags (EPSG:4326 keys, pixel scale, tie point) and GDAL metadata carrying CF
    ``units`` / ``scale_factor`` / ``add_offset`` as text, the way GDAL writes them.
    """
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"compression": compression, "predictor": predictor or None}
    if tile is not None:
        options["tile"] = tile
    else:
        options["rowsperstrip"] = rowsperstrip
    if len(shape) == 3:
        options["planarconfig"] = planarconfig or "separate"
        options["photometric"] = "minisblack"
    if geo:
        keys = (1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 2054, 0, 1, 9102)
        gdal = ('<GDALMetadata><Item name="units">K</Item><Item name="scale_factor">0.01</Item>'
                '<Item name="add_offset">200</Item></GDALMetadata>')
        options["extratags"] = [(34735, "H", len(keys), keys, True), (33550, "d", 3, (0.5, 0.5, 0.0), True),
                                (33922, "d", 6, (0, 0, 0, -10.0, 60.0, 0), True), (42112, "s", 0, gdal, True)]
    with tifffile.TiffWriter(path, bigtiff=bigtiff, byteorder=byteorder) as tw:
        for page in range(pages):
            tw.write(tiff_values(shape, dtype, page), **options)
        data = tiff_values(shape, dtype)
        for level in range(1, overviews + 1):
            tw.write(np.ascontiguousarray(data[..., :: 2**level, :: 2**level]), subfiletype=1, **options)
    return path


def make_tiff_variant(path: str | os.PathLike[str], kind: str) -> Path:
    """A TIFF vzskill refuses (``kind`` in :data:`TIFF_VARIANTS`), written by tifffile."""
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = tiff_values((64, 96))
    if kind == "subifd":  # a pyramid stored as sub-IFDs of the full-resolution image
        with tifffile.TiffWriter(path) as tw:
            tw.write(data, tile=(32, 32), subifds=1)
            tw.write(data[::2, ::2], tile=(32, 32), subfiletype=1)
    elif kind == "partial_strips":  # 64 rows in strips of 15
        tifffile.imwrite(path, data, rowsperstrip=15)
    elif kind == "jetraw":  # an uncompressed tiled image whose Compression tag then says JetRaw (48124)
        tifffile.imwrite(path, data, tile=(32, 32))
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            tag = page.tags["Compression"]
            where, byteorder = tag.valueoffset, tf.byteorder
        with open(path, "r+b") as fh:
            fh.seek(where)
            fh.write((48124).to_bytes(2, "little" if byteorder == "<" else "big"))
    elif kind == "interleaved":  # RGB pixels interleaved (PlanarConfiguration 1): virtualized as (y, x, band)
        tifffile.imwrite(path, np.stack([data.astype("uint8")] * 3, axis=-1), photometric="rgb", tile=(32, 32))
    elif kind == "interleaved_predictor":  # the same with a horizontal predictor across the samples: refused
        tifffile.imwrite(path, np.stack([data.astype("uint8")] * 3, axis=-1), photometric="rgb", tile=(32, 32),
                         compression="zlib", predictor=True)
    else:
        raise ValueError(f"unknown TIFF variant {kind!r} (one of {TIFF_VARIANTS})")
    return path


def grib_values(step: int, ny: int = 10, nx: int = 12, field: int = 0, date: int = 20240101) -> np.ndarray:
    """The field :func:`make_grib` writes for ``step`` on ``date`` (Kelvin-like, 0.1 steps: exact at 16 bits;
    +1 per day of the month after the 1st, so files of different dates differ in their values too)."""
    day = date % 100 - 1
    return 270.0 + 5.0 * field + np.arange(ny * nx, dtype="float64").reshape(ny, nx) / 10.0 + step + day


def make_grib(
    path: str | os.PathLike[str],
    *,
    steps: tuple[int, ...] = (0, 6, 12),
    packing: str = "simple",
    fields: tuple[str, ...] = ("2t",),
    shape: tuple[int, int] = (10, 12),
    date: int = 20240101,
    missing: bool = False,
    levels: tuple[tuple[int, int], ...] = ((103, 2),),
) -> Path:
    """Write a GRIB2 file with eccodes (sample ``regular_ll_sfc_grib2``): one message per field and step.

    ``packing`` is a key of :data:`GRIB_PACKINGS` (or an eccodes ``packingType``); fields are eccodes
    short names (``"2t"``, ``"2d"``, ``"t"``, ``"sp"``...) written at every ``(typeOfFirstFixedSurface, level)``
    of ``levels`` (default 2 m above ground; ``(100, 850)`` = 850 hPa); ``missing`` leaves a bitmap hole at (0, 0).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ny, nx = shape
    several = len(levels) > 1
    with open(path, "wb") as fh:
        for step, (index, short), (surface, level) in itertools.product(steps, enumerate(fields), levels):
            values = grib_values(step, ny, nx, index, date) + (level / 100 if several else 0.0)
            keys = {"dataDate": date, "dataTime": 0, "shortName": short, "typeOfFirstFixedSurface": surface,
                    "level": level, "stepRange": str(step), "packingType": GRIB_PACKINGS.get(packing, packing),
                    "bitsPerValue": 16}
            _grib_message(fh, values, keys, missing)
    return path


def _grib_message(fh: Any, values: np.ndarray, keys: dict[str, Any], missing: bool) -> None:
    """Write one GRIB2 message (eccodes sample ``regular_ll_sfc_grib2``, a 1-degree grid from 50N 0E)."""
    import eccodes

    ny, nx = values.shape
    h = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib2")
    try:
        grid = {"Ni": nx, "Nj": ny, "latitudeOfFirstGridPointInDegrees": 50.0, "longitudeOfFirstGridPointInDegrees": 0.0,
                "latitudeOfLastGridPointInDegrees": 50.0 - (ny - 1), "longitudeOfLastGridPointInDegrees": float(nx - 1),
                "iDirectionIncrementInDegrees": 1.0, "jDirectionIncrementInDegrees": 1.0}
        for key, value in {**grid, **keys}.items():
            eccodes.codes_set(h, key, value)
        if missing:
            eccodes.codes_set(h, "bitmapPresent", 1)
            eccodes.codes_set(h, "missingValue", 9999.0)
            values = values.copy()
            values[0, 0] = 9999.0
        eccodes.codes_set_values(h, values.ravel())
        eccodes.codes_write(h, fh)
    finally:
        eccodes.codes_release(h)


def hdf4_values(name: str, shape: tuple[int, int] = (20, 30)) -> np.ndarray:
    """The values :func:`make_hdf4` writes for SDS ``name`` (``counts`` int16, others float32)."""
    ramp = np.arange(shape[0] * shape[1]).reshape(shape) % 300
    return ramp.astype("int16") if name == "counts" else (ramp / 7 + len(name)).astype("float32")


def make_hdf4(
    path: str | os.PathLike[str],
    *,
    names: tuple[str, ...] = ("counts", "reflectance"),
    shape: tuple[int, ...] = (20, 30),
    compression: str | None = "deflate",
    units: str | None = None,
    chunks: tuple[int, int] | None = None,
) -> Path:
    """Write an HDF4 file with pyhdf: one SDS per name (``compression`` "deflate", "rle" or None).

    ``shape`` may have 3 dims (a variant VirtualiZarr's HDF4Parser cannot read). ``chunks``: chunked
    SDS (raw, or DEFLATE chunks with ``compression="deflate"``) written by the HDF4 library through
    :mod:`vzskill.format_hdf4_chunks` (pyhdf has no ``SDsetchunk``).
    """
    from pyhdf.SD import SD, SDC

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    codes = {"deflate": (SDC.COMP_DEFLATE, 4), "rle": (SDC.COMP_RLE, 0)}
    plane = (int(shape[-2]), int(shape[-1]))
    stacked = {n: hdf4_values(n, plane) if len(shape) == 2 else np.stack([hdf4_values(n, plane)] * shape[0]) for n in names}
    if chunks is not None:
        from vzskill.format_hdf4_chunks import write_chunked

        write_chunked(path, stacked, chunks, 4 if compression == "deflate" else None)
    f = SD(str(path), SDC.WRITE if chunks is not None else SDC.WRITE | SDC.CREATE)
    try:
        for name, values in stacked.items():
            if chunks is not None:
                sds = f.select(name)
            else:
                sds = f.create(name, SDC.INT16 if values.dtype == np.int16 else SDC.FLOAT32, tuple(shape))
                if compression is not None:
                    sds.setcompress(*codes[compression])
                sds[:] = values
            sds.units = units if units is not None else ("count" if name == "counts" else "reflectance")
            sds.endaccess()
        f.title = "vzskill HDF4 sample"
    finally:
        f.end()
    return path


def make_zipped_zarr(path: str | os.PathLike[str], *, deflate: bool = False) -> Path:
    """A zipped Zarr v3 store (zarr's ``ZipStore``): ``temperature(time, lat, lon)`` float32 in
    ``(1, 10, 15)`` chunks and ``time``; ``deflate=True`` re-zips it with DEFLATE members (refused)."""
    import zipfile

    import zarr
    from zarr.storage import ZipStore

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(path.name + ".stored") if deflate else path
    store = ZipStore(target, mode="w")
    group = zarr.open_group(store, mode="w", zarr_format=3)
    temperature = group.create_array("temperature", shape=(4, 20, 30), chunks=(1, 10, 15), dtype="float32",
                                     dimension_names=("time", "lat", "lon"))
    temperature[:] = np.arange(2400, dtype="float32").reshape(4, 20, 30) / 10
    time = group.create_array("time", shape=(4,), chunks=(4,), dtype="int32", dimension_names=("time",))
    time[:] = np.arange(4, dtype="int32")
    time.attrs["units"] = "days since 2024-01-01"
    store.close()
    if deflate:
        with zipfile.ZipFile(target) as src, zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if info.filename not in dst.namelist():
                    dst.writestr(info.filename, src.read(info))
        target.unlink()
    return path


def envi_values(shape: tuple[int, int, int] = (3, 20, 30), dtype: str = "float32") -> np.ndarray:
    """The ``(band, y, x)`` cube :func:`make_envi` writes."""
    bands, ny, nx = shape
    return (np.arange(bands * ny * nx).reshape(shape) % 977 / 4).astype(dtype)


def make_envi(
    path: str | os.PathLike[str],
    *,
    shape: tuple[int, int, int] = (3, 20, 30),
    dtype: str = "float32",
    interleave: str = "bsq",
    big_endian: bool = False,
    header_offset: int = 0,
    header_name: str | None = None,
    lines: int | None = None,
    compress: bool = False,
) -> Path:
    """Write an ENVI raster: raw bytes in ``interleave`` order plus the ``.hdr`` text header.

    ``header_name`` (default ``<stem>.hdr``) places the header; ``lines`` overrides the header's
    line count (a header that does not match its data file); ``compress`` gzips the data (ENVI
    ``file compression = 1``).
    """
    from vzskill.format_envi import DTYPES, ORDER

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cube = envi_values(shape, dtype)  # (band, y, x)
    order = ORDER[interleave]
    on_disk = np.transpose(cube, [("band", "y", "x").index(d) for d in order])
    code = {np.dtype(v).str[1:]: k for k, v in DTYPES.items()}[np.dtype(dtype).str[1:]]
    data = on_disk.astype(np.dtype(dtype).newbyteorder(">" if big_endian else "<")).tobytes()
    if compress:
        import gzip

        data = gzip.compress(data)
    path.write_bytes(b"\0" * header_offset + data)
    header = "\n".join([
        "ENVI", "description = {vzskill ENVI sample}", f"samples = {shape[2]}", f"lines = {lines or shape[1]}",
        f"bands = {shape[0]}", f"header offset = {header_offset}", "file type = ENVI Standard",
        f"data type = {code}", f"interleave = {interleave}", f"byte order = {1 if big_endian else 0}",
        f"file compression = {int(compress)}", "",
    ])
    (path.parent / (header_name or path.with_suffix(".hdr").name)).write_text(header)
    return path


_DAP_TYPES = {"u1": "UInt8", "i1": "Int8", "i2": "Int16", "u2": "UInt16", "i4": "Int32", "u4": "UInt32",
              "i8": "Int64", "u8": "UInt64", "f4": "Float32", "f8": "Float64"}
_SKIP_ATTRS = {"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid", "_Netcdf4Coordinates",
               "_nc3_strict"}


def _dap_attribute(name: str, value: Any) -> str:
    from xml.sax.saxutils import escape, quoteattr

    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return f'<Attribute name={quoteattr(name)} type="String"><Value>{escape(value)}</Value></Attribute>'
    arr = np.atleast_1d(np.asarray(value))
    dap = _DAP_TYPES.get(arr.dtype.str[1:])
    if dap is None:
        return ""
    values = "".join(f"<Value>{v!r}</Value>" for v in arr.tolist())
    return f'<Attribute name={quoteattr(name)} type="{dap}">{values}</Attribute>'


def make_dmrpp(nc_path: str | os.PathLike[str]) -> Path:
    """Write ``<file>.dmrpp`` next to a NetCDF4/HDF5 file: the DMR++ sidecar OPeNDAP's ``get_dmrpp``
    would write, generated from h5py's chunk index (offsets, sizes, filters, dims, attributes)."""
    import h5py

    nc_path = Path(nc_path)
    dims: dict[str, int] = {}
    variables: list[str] = []
    with h5py.File(nc_path, "r") as f:
        for name, ds in f.items():
            if isinstance(ds, h5py.Dataset) and ds.attrs.get("CLASS") == b"DIMENSION_SCALE":
                dims[name] = int(ds.shape[0])
        for name, ds in f.items():
            if not isinstance(ds, h5py.Dataset) or ds.dtype.str[1:] not in _DAP_TYPES:
                continue
            dap = _DAP_TYPES[ds.dtype.str[1:]]
            names = [d[0].name.strip("/") if len(d) else name for d in ds.dims]
            parts = [f'<{dap} name="{name}">'] + [f'<Dim name="/{d}"/>' for d in names]
            parts += [_dap_attribute(k, v) for k, v in ds.attrs.items() if k not in _SKIP_ATTRS]
            filters = " ".join(["shuffle"] * bool(ds.shuffle) + ["deflate"] * (ds.compression == "gzip"))
            comp = f' compressionType="{filters}"' if filters else ""
            level = f' deflateLevel="{ds.compression_opts}"' if ds.compression == "gzip" else ""
            fill = f' fillValue="{ds.fillvalue}"' if ds.fillvalue is not None else ""
            parts.append(f'<dmrpp:chunks{comp}{level}{fill} byteOrder="LE">')
            chunks = ds.chunks or ds.shape
            parts.append(f"<dmrpp:chunkDimensionSizes>{' '.join(map(str, chunks))}</dmrpp:chunkDimensionSizes>")
            infos: list[Any] = []
            if ds.chunks is not None:
                ds.id.chunk_iter(infos.append)
                for info in infos:
                    pos = ",".join(str(int(c)) for c in info.chunk_offset)
                    parts.append(f'<dmrpp:chunk offset="{info.byte_offset}" nBytes="{info.size}" '
                                 f'chunkPositionInArray="[{pos}]"/>')
            else:
                parts.append(f'<dmrpp:chunk offset="{ds.id.get_offset()}" nBytes="{ds.id.get_storage_size()}"/>')
            parts.append("</dmrpp:chunks>")
            parts.append(f"</{dap}>")
            variables.append("\n".join(p for p in parts if p))
        root_attrs = [_dap_attribute(k, v) for k, v in f.attrs.items() if k not in _SKIP_ATTRS]
    xml = "\n".join([
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        f'<Dataset xmlns="http://xml.opendap.org/ns/DAP/4.0#" xmlns:dmrpp="http://xml.opendap.org/dap/dmrpp/1.0.0#" '
        f'dapVersion="4.0" dmrVersion="1.0" name="{nc_path.name}" dmrpp:href="{nc_path.as_uri()}">',
        *[f'<Dimension name="{d}" size="{n}"/>' for d, n in dims.items()],
        *variables, *[a for a in root_attrs if a], "</Dataset>", "",
    ])
    out = nc_path.with_name(nc_path.name + ".dmrpp")
    out.write_text(xml, encoding="ISO-8859-1")
    return out


def make_icechunk_source(path: str | os.PathLike[str], *, native: bool = True) -> Path:
    """A small Icechunk repository written natively with zarr: ``t(time, y, x)`` float32, one chunk
    per time step (``native=False``: chunks small enough to be inlined in the manifests)."""
    import icechunk
    import zarr

    path = Path(path)
    ny, nx = (50, 60) if native else (2, 3)
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    group = zarr.group(session.store)
    array = group.create_array("t", shape=(4, ny, nx), chunks=(1, ny, nx), dtype="float32",
                               dimension_names=("time", "y", "x"))
    array[:] = np.arange(4 * ny * nx, dtype="float32").reshape(4, ny, nx) / 3
    session.commit("sample source repository")
    return path
