"""TIFF / GeoTIFF / COG sources through ``virtual-tiff`` (tiles and strips are the chunks).

Each image file directory (IFD) is one array named by its index (``"0"``, ``"1"``...), dims
``(y, x)`` (``(band, y, x)`` for several samples per pixel). Without ``group``, every IFD of the
first IFD's shape is virtualized (a multi-page stack); IFDs of another shape (a COG's overviews,
reduced-resolution masks) are left out; ``group="1"`` virtualizes IFD 1 alone.

Pixel-interleaved multi-sample images (RGB...), whose codec virtual-tiff 0.5 cannot build with this
zarr, are described by :mod:`vzskill.format_tiff_interleaved` as ``(y, x, band)`` arrays.

Refused before anything is written, naming the file and the fix: sub-IFD pyramids, strips that do
not divide the image height, TIFF codecs this installation cannot decode (imagecodecs without
that codec, e.g. JetRaw), interleaved pixels with a predictor, and the variants virtual-tiff itself
rejects.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Iterable

from vzskill.format_extras import require_extra
from vzskill.format_manifest import manifest_array, manifest_store
from vzskill.formats import ParseError
from vzskill.sources import display_name

__all__ = ["CF_NUMERIC", "TiffParser", "numeric_cf", "undecodable_codecs"]

_REWRITE_COG = "rewrite it as a COG (gdal_translate -of COG in.tif out.tif) or skip the file"
_FIXES = (  # (text in virtual-tiff's / async-tiff's message, what it means, fix)
    ("Sub-IFD", "a sub-IFD pyramid", "rewrite it with the overviews as top-level IFDs (" + _REWRITE_COG + ")"),
    ("'Ifd'", "a sub-IFD pyramid", "rewrite it with the overviews as top-level IFDs (" + _REWRITE_COG + ")"),
    ("rows per strip", "strips that do not divide the image height",
     "rewrite it tiled (tifffile.imwrite(..., tile=(256, 256)) or gdal_translate -co TILED=YES), or skip the file"),
    ("Endian()", "interleaved samples (PlanarConfiguration 1 with several samples per pixel)",
     "rewrite it band-sequential (tifffile planarconfig='separate' or gdal_translate -co INTERLEAVE=BAND), or skip the file"),
    ("compressor tag", "an unknown compression", _REWRITE_COG),
    ("quantization tables", "JPEG with shared quantization tables", _REWRITE_COG),
)


#: CF decoding attributes GDAL's metadata XML carries as text (``<Item name="scale_factor">0.01</Item>``)
CF_NUMERIC = ("scale_factor", "add_offset", "valid_min", "valid_max")


def numeric_cf(attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` with the CF decoding attributes GDAL stored as text turned into numbers (xarray multiplies by
    ``scale_factor``: a string there makes every read fail)."""
    out = dict(attrs)
    for key in CF_NUMERIC:
        value = out.get(key)
        if isinstance(value, str):
            try:
                out[key] = float(value)
            except ValueError:
                del out[key]  # not a number: unusable for decoding, and it would break every read
    return out


def _cf_edit(meta: dict[str, Any]) -> None:
    meta["attributes"] = numeric_cf(meta.get("attributes") or {})


def _refusal(url: str, exc: BaseException) -> ParseError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    codec = re.search(r"imagecodecs\.numcodecs' has no attribute '(\w+)'", text)
    if codec:  # virtual-tiff asks imagecodecs for a codec this build of imagecodecs does not have
        return _no_decoder(url, "0", codec.group(1).lower())
    what, fix = "a TIFF variant virtual-tiff cannot virtualize", _REWRITE_COG
    for needle, meaning, remedy in _FIXES:
        if needle in text:
            what, fix = meaning, remedy
            break
    return ParseError(f"{display_name(url)}: {what} ({text}) -> {fix}", kind="unsupported", fix=fix)


def _no_decoder(url: str, ifd: str, codec: str) -> ParseError:
    fix = "convert it to a codec imagecodecs decodes here (e.g. gdal_translate -co COMPRESS=DEFLATE), or skip the file"
    return ParseError(f"{display_name(url)}: IFD {ifd} is {codec}-compressed and this installation's imagecodecs "
                      f"cannot decode {codec} -> {fix}", kind="unsupported", fix=fix)


def undecodable_codecs(codecs: Iterable[Any]) -> list[str]:
    """The imagecodecs-backed codecs in ``codecs`` that this installation's imagecodecs cannot decode."""
    import imagecodecs

    out = []
    for codec in codecs:
        name = str(getattr(codec, "codec_name", ""))
        if name.startswith("imagecodecs_"):
            impl = getattr(imagecodecs, name.removeprefix("imagecodecs_").upper(), None)
            if impl is None or not getattr(impl, "available", False):
                out.append(name.removeprefix("imagecodecs_"))
    return out


class TiffParser:
    """A VirtualiZarr parser for TIFF files (see the module docstring).

    Parameters
    ----------
    group
        An IFD index (``"0"``, ``"1"``...) to virtualize alone; None = every IFD of the first IFD's shape.
    drop_variables
        IFD names (``"1"``...) to leave out.
    """

    def __init__(self, group: str | None = None, drop_variables: Iterable[str] | None = None) -> None:
        if group not in (None, "", "/") and not str(group).strip("/").isdigit():
            raise ValueError(f"TIFF group must be an IFD index ('0', '1', ...), not {group!r}")
        self.ifd = int(str(group).strip("/")) if group not in (None, "", "/") else None
        self.drop = set(drop_variables or ())

    def __call__(self, url: str, registry: Any) -> Any:
        require_extra("tiff", url)
        from virtual_tiff import VirtualTIFF

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nested = VirtualTIFF(ifd=self.ifd, ifd_layout="nested")(url, registry)
                tree = nested.to_virtual_datatree(loadable_variables=[], decode_times=False)
        except IndexError as exc:  # group names an IFD the file does not have
            fix = "pass group='0' (the full-resolution image) or a smaller index; `vzskill inspect` lists the arrays"
            raise ParseError(f"{display_name(url)}: no IFD {self.ifd} in this TIFF -> {fix}", kind="source", fix=fix) from exc
        except TypeError as exc:
            if "Endian()" not in str(exc):
                raise _refusal(url, exc) from exc
            return self._interleaved(url, registry, exc)
        except (NotImplementedError, ValueError, RuntimeError, AttributeError) as exc:  # virtual-tiff's refusals
            raise _refusal(url, exc) from exc
        return self._store({name: manifest_array(node.to_dataset()[name], _cf_edit)
                            for name, node in tree.children.items()}, url, registry)

    def _interleaved(self, url: str, registry: Any, cause: BaseException) -> Any:
        """Pixel-interleaved IFDs as ``(y, x, band)`` (:mod:`vzskill.format_tiff_interleaved`), else the refusal."""
        from vzskill.format_tiff_interleaved import NotInterleaved, interleaved_arrays

        try:
            arrays = interleaved_arrays(url, registry, self.ifd)
        except NotInterleaved as exc:
            fix = next(remedy for needle, _, remedy in _FIXES if needle == "Endian()")
            raise ParseError(f"{display_name(url)}: interleaved samples (PlanarConfiguration 1 with several samples per "
                             f"pixel) with {exc} -> {fix}", kind="unsupported", fix=fix) from cause
        return self._store(arrays, url, registry)

    def _store(self, found: dict[str, Any], url: str, registry: Any) -> Any:
        arrays: dict[str, Any] = {}
        shape = None
        for name, array in found.items():
            shape = array.shape if shape is None else shape
            if name in self.drop or (self.ifd is None and array.shape != shape):
                continue  # dropped, or an overview / mask of another resolution
            self._check_codecs(url, name, array)
            arrays[name] = array
        return manifest_store(arrays, {}, registry)

    @staticmethod
    def _check_codecs(url: str, name: str, array: Any) -> None:
        missing = undecodable_codecs(array.metadata.codecs)
        if missing:
            raise _no_decoder(url, name, missing[0])
