"""Pixel-interleaved TIFF images (PlanarConfiguration 1 with several samples per pixel: RGB, RGBA,
multi-band GeoTIFFs written band-interleaved-by-pixel), which virtual-tiff 0.5 cannot describe
with this zarr (its ``ChunkyCodec`` fails to build).

Such a tile (or strip) holds its pixels as ``(rows, columns, samples)`` in C order, so the array
is declared in that order, ``(y, x, band)``, with one chunk per tile spanning every band: the
bytes need no transposing codec at all, only the TIFF's compression. Only images without a
predictor are described this way (a horizontal predictor works across interleaved samples);
the rest keep virtual-tiff's refusal.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

__all__ = ["interleaved_arrays"]


class NotInterleaved(ValueError):
    """This file has an IFD the interleaved description does not cover (its reason is the message)."""


async def _open(path: str, store: Any) -> Any:
    from async_tiff import TIFF

    return await TIFF.open(path, store=store)


def _attributes(ifd: Any, dtype: np.dtype) -> tuple[dict[str, Any], Any]:
    """GeoTIFF keys, pixel scale / tie point, GDAL metadata (CF ones as numbers) and GDAL nodata as ``_FillValue``."""
    import xml.etree.ElementTree as ET

    from virtual_tiff.constants import GEO_KEYS

    from vzskill.format_tiff import numeric_cf

    attrs: dict[str, Any] = {"photometric_interpretation": int(ifd.photometric_interpretation)}
    keys = ifd.geo_key_directory
    for key in GEO_KEYS if keys else ():
        value = getattr(keys, key, None)
        if value is not None:
            attrs[key] = int(value) if isinstance(value, int) else value
    for key in ("model_pixel_scale", "model_tiepoint", "model_transformation"):
        if getattr(ifd, key, None):
            attrs[key] = [float(v) for v in getattr(ifd, key)]
    if ifd.gdal_metadata:
        root = ET.fromstring(ifd.gdal_metadata)
        attrs.update({str(i.get("name")): (i.text or "").strip() for i in root.iter("Item") if i.get("name")})
    fill = 0
    if ifd.gdal_nodata:
        fill = dtype.type(str(ifd.gdal_nodata).strip("\x00 "))
        attrs["_FillValue"] = fill.item()
    return numeric_cf(attrs), fill


def _array(ifd: Any, url: str, endian: Literal["little", "big"]) -> Any:
    from virtual_tiff.constants import COMPRESSORS, SAMPLE_DTYPES
    from virtualizarr.manifests import ChunkManifest, ManifestArray
    from virtualizarr.manifests.utils import create_v3_array_metadata
    from zarr.codecs import BytesCodec

    spp, height, width = int(ifd.samples_per_pixel), int(ifd.image_height), int(ifd.image_width)
    if int(ifd.planar_configuration) != 1 or spp < 2:
        raise NotInterleaved("not pixel-interleaved")
    if ifd.predictor not in (None, 1):
        raise NotInterleaved("a predictor across interleaved samples")
    if int(ifd.photometric_interpretation) in (6, 8):  # YCbCr / CIELab: decoded pixels are not the stored samples
        raise NotInterleaved(f"photometric interpretation {int(ifd.photometric_interpretation)} (YCbCr/CIELab)")
    if getattr(ifd, "jpeg_tables", None) or ifd.other_tags.get(330):
        raise NotInterleaved("shared JPEG tables or sub-IFDs")
    if ifd.tile_height:
        block = (int(ifd.tile_height), int(ifd.tile_width))
        offsets, counts = ifd.tile_offsets, ifd.tile_byte_counts
    else:
        block = (min(int(ifd.rows_per_strip), height), width)
        if height % block[0]:
            raise NotInterleaved("strips that do not divide the image height")
        offsets, counts = ifd.strip_offsets, ifd.strip_byte_counts
    dtype = np.dtype(SAMPLE_DTYPES[(int(ifd.sample_format[0]), int(ifd.bits_per_sample[0]))])
    compressor = COMPRESSORS.get(int(ifd.compression))
    if int(ifd.compression) != 1 and compressor is None:
        raise NotInterleaved(f"compression {int(ifd.compression)}")
    codecs = [BytesCodec(endian=endian)] + ([compressor()] if compressor is not None else [])
    grid = (math.ceil(height / block[0]), math.ceil(width / block[1]), 1)
    manifest = ChunkManifest.from_arrays(
        paths=np.full(grid, url, dtype=np.dtypes.StringDType()),
        offsets=np.asarray(offsets, dtype=np.uint64).reshape(grid),
        lengths=np.asarray(counts, dtype=np.uint64).reshape(grid),
    )
    attrs, fill = _attributes(ifd, dtype)
    metadata = create_v3_array_metadata(
        shape=(height, width, spp), data_type=dtype, chunk_shape=(*block, spp),
        codecs=[c.to_dict() for c in codecs], dimension_names=("y", "x", "band"), fill_value=fill, attributes=attrs,
    )
    return ManifestArray(metadata=metadata, chunkmanifest=manifest)


def interleaved_arrays(url: str, registry: Any, ifd: int | None) -> dict[str, Any]:
    """``{"<i>": ManifestArray}`` for the file's IFDs (``ifd``: that one), interleaved ones as ``(y, x, band)``.

    Raises :class:`NotInterleaved` when an IFD is neither a plain single-sample image virtual-tiff
    could describe nor an interleaved one described here (the caller keeps virtual-tiff's refusal).
    """
    from async_tiff.enums import Endianness
    from zarr.core.sync import sync

    store, path = registry.resolve(url)
    tiff = sync(_open(path, store))
    endian: Literal["little", "big"] = "little" if tiff.endianness == Endianness.LittleEndian else "big"
    indices = range(len(tiff.ifds)) if ifd is None else [ifd]
    return {str(i): _array(tiff.ifds[i], url, endian) for i in indices}
