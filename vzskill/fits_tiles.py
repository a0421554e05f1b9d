"""FITS content VirtualiZarr's FITS parser references but cannot read back: refused before writing.

Tile-compressed images (``CompImageHDU``, :func:`tile_compressed`) and ASCII tables whose text the
table codec cannot parse (:func:`ascii_table_findings`).

Tile-compressed FITS images: VirtualiZarr's FITS parser cannot virtualize them.

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

__all__ = ["ascii_table_findings", "tile_compressed", "tile_compressed_findings", "undecodable_fields"]


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
    known = getattr(parsed, "fits_tiles", None)  # read at parse time from the bytes already fetched
    compressed = known if known is not None else tile_compressed(parsed.url, registry)
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


# --------------------------------------------------------------------------- ASCII tables


def undecodable_fields(text: Any, dtype: Any) -> Any:
    """Boolean mask of the fields of one ASCII-table column that VirtualiZarr's table codec cannot parse.

    The codec's rule (``virtualizarr.codecs.FITSAsciiTableCodec``): integers with numpy's own
    parse; floats after Fortran exponents (``D``, ``d``, ``e``) become ``E`` and an all-blank
    field becomes NaN. A null marker (``TNULLn``, e.g. ``'*'``) or a blank integer does not parse.
    """
    import numpy as np

    dtype = np.dtype(dtype)
    text = np.asarray(text)
    if dtype.kind in "fc":
        for exponent in (b"D", b"d", b"e"):
            text = np.strings.replace(text, exponent, b"E")
        text = np.where(np.strings.strip(text) == b"", b"NaN", text)
    try:
        text.astype(dtype)
        return np.zeros(text.shape, dtype=bool)
    except (ValueError, OverflowError):
        pass
    bad = np.zeros(text.shape, dtype=bool)
    for i, field in enumerate(text.reshape(-1)):
        try:
            np.array([field]).astype(dtype)
        except (ValueError, OverflowError):
            bad.reshape(-1)[i] = True
    return bad


def _table_bytes(url: str, offset: int, length: int, registry: Any) -> bytes:
    if url.startswith("file://"):
        with open(local_path(url), "rb") as fh:
            fh.seek(offset)
            return fh.read(length)
    import obstore

    from vzskill.extents import resolve_store

    store, path = resolve_store(url, registry)
    return bytes(obstore.get_range(store, path, start=offset, length=length))


def _ascii_codec(var: Any) -> Any:
    from virtualizarr.codecs import FITSAsciiTableCodec

    for codec in getattr(getattr(var.data, "metadata", None), "codecs", ()):
        if isinstance(codec, FITSAsciiTableCodec):
            return codec
    return None


def _undecodable(codec: Any, raw: bytes) -> list[tuple[int, str, bytes, int]]:
    """``(column index, column, first bad text, rows)`` per column the codec cannot parse."""
    import numpy as np

    stored = np.dtype({"names": [c[0] for c in codec.columns], "formats": [f"S{c[2]}" for c in codec.columns],
                       "offsets": [c[1] for c in codec.columns], "itemsize": codec.row_nbytes})
    rows = np.frombuffer(raw[: len(raw) - len(raw) % codec.row_nbytes], dtype=stored)
    out = []
    for index, (name, _offset, _width, dtype) in enumerate(codec.columns):
        bad = undecodable_fields(rows[name], dtype)
        if bad.any():
            out.append((index, name, bytes(rows[name][bad][0]).strip(), int(bad.sum())))
    return out


def ascii_table_findings(parsed: ParsedFile, name: str, registry: Any = None) -> list[Finding]:
    """One error per FITS ASCII-table variable holding text the table codec cannot parse (``[]`` otherwise).

    Reads the referenced table bytes (ASCII tables only) and parses every column as the codec will:
    a repository written from it would fail on every read of the table.
    """
    if parsed.kind != "fits" or parsed.dataset is None:
        return []
    ds = parsed.dataset
    findings = []
    for var in ds.variables:
        codec = _ascii_codec(ds[var].variable)
        if codec is None:
            continue
        entries = ds[var].data.manifest.dict()
        bad = []
        for entry in entries.values():
            bad += _undecodable(codec, _table_bytes(entry["path"], int(entry["offset"]), int(entry["length"]), registry))
        if not bad:
            continue
        index, column, text, n = bad[0]
        shown = text.decode("ascii", "replace")
        null = str(ds[var].attrs.get(f"TNULL{index + 1}", "")).strip()
        what = f"its null marker (TNULL{index + 1} = {shown!r})" if null and null == shown else "text that is not a number"
        others = [v for v in ds.data_vars if v != var]
        fix = f"skip it (drop_variables=['{var}']) or the file" if others else "skip the file (it has no other data)"
        more = f"; {len(bad) - 1} more column(s) too" if len(bad) > 1 else ""
        findings.append(Finding(
            "error", parsed.url, str(var), "fits_ascii_table",
            f"{name}: variable '{var}' is a FITS ASCII table whose column '{column}' holds {shown!r}, {what}, in {n} "
            f"row(s){more}: VirtualiZarr's ASCII-table codec cannot parse it, so the written table could not be read "
            f"back -> {fix}",
            fix,
        ))
    return findings
