"""Tile-compressed FITS images (``CompImageHDU``): VirtualiZarr's FITS parser cannot virtualize them.

A tile-compressed image is stored as a binary table (``XTENSION = 'BINTABLE'``, ``ZIMAGE = T``,
``ZCMPTYPE = 'RICE_1'`` ...) whose rows hold compressed tiles; astropy presents it as an image, and
the FITS parser references the table's bytes as if they were raw pixels (reading back garbage, or
past the end of the file). :func:`tile_compressed` reads the headers only and names those HDUs.
"""

from __future__ import annotations

from typing import Any

from vzskill.findings import Finding
from vzskill.parse import ParsedFile
from vzskill.sources import local_path

__all__ = ["tile_compressed", "tile_compressed_findings"]


def _open(url: str, registry: Any, *, raw: bool) -> Any:
    """The HDU list, headers only; ``raw`` shows tile-compressed images as the binary tables they are."""
    from astropy.io import fits

    options = {"disable_image_compression": raw, "do_not_scale_image_data": True, "lazy_load_hdus": True}
    if url.startswith("file://"):
        return fits.open(local_path(url), memmap=False, **options)
    from obspec_utils.readers import BlockStoreReader

    from vzskill.extents import resolve_store

    store, path = resolve_store(url, registry)
    return fits.open(BlockStoreReader(store=store, path=path), **options)


def _parser_names(url: str, registry: Any) -> list[str]:
    """HDU names as VirtualiZarr's FITS parser gives them (EXTNAME or index; repeats qualified by index)."""
    names: list[str] = []
    with _open(url, registry, raw=False) as hdulist:
        for index, hdu in enumerate(hdulist):
            name = hdu.name or str(index)
            names.append(f"{name}_{index}" if name in names else name)
    return names


def tile_compressed(url: str, registry: Any = None) -> dict[str, tuple[int, str]]:
    """``{variable name: (HDU index, compression (ZCMPTYPE))}`` of the tile-compressed image HDUs of a FITS file.

    Parameters
    ----------
    url
        The FITS file (``file://`` read directly; other schemes through ``registry``).
    registry
        An ``ObjectStoreRegistry`` resolving ``url`` (not needed for local files).

    Returns
    -------
    dict
        Names as VirtualiZarr's FITS parser names the variables (matched by HDU index: the
        decompressed view's EXTNAME, or the index; repeats qualified by the index). Empty when no
        HDU is tile-compressed.
    """
    compressed: dict[int, str] = {}
    with _open(url, registry, raw=True) as hdulist:
        for index, hdu in enumerate(hdulist):
            header = hdu.header
            if header.get("XTENSION") == "BINTABLE" and header.get("ZIMAGE") is True:
                compressed[index] = str(header.get("ZCMPTYPE", "unknown compression")).strip()
    if not compressed:
        return {}
    # the parser sees the decompressed view, named by the image's own EXTNAME (ZEXTNAME), not the table's
    names = _parser_names(url, registry)
    return {names[i]: (i, kind) for i, kind in compressed.items() if i < len(names)}


def tile_compressed_findings(parsed: ParsedFile, name: str, registry: Any = None) -> list[Finding]:
    """One error per tile-compressed image variable of a parsed FITS file (``[]`` for other kinds)."""
    if parsed.kind != "fits" or parsed.dataset is None:
        return []
    compressed = tile_compressed(parsed.url, registry)
    findings = []
    others = [v for v in parsed.dataset.data_vars if v not in compressed]
    for var, (index, compression) in compressed.items():
        if var not in parsed.dataset.variables:
            continue
        skip = f"skip it (drop_variables=['{var}']) or the file" if others else "skip the file (it has no other data)"
        fix = (
            f"decompress it with astropy (hdu = fits.open(f)[{index}]; fits.writeto('uncompressed.fits', hdu.data, "
            f"hdu.header)) and virtualize the uncompressed copy, or {skip}"
        )
        findings.append(Finding(
            "error", parsed.url, var, "fits_tile_compressed",
            f"{name}: variable '{var}' is a tile-compressed FITS image ({compression}, CompImageHDU): VirtualiZarr's "
            f"FITS parser cannot virtualize tile-compressed images (its references point at the compressed tiles as "
            f"if they were raw pixels) -> {fix}",
            fix,
        ))
    return findings
