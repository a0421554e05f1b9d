"""Which format a source is, and the VirtualiZarr parser that reads it.

Kerchunk references, Zarr stores and DMR++ sidecars are recognised by their extension (a local
Zarr directory by its ``zarr.json`` / ``.zgroup``, a local Icechunk repository by its ``repo`` and
``snapshots/``); everything else by its first bytes, read through the registry in one ranged
request (which also tells the object's size): HDF5/NetCDF4, NetCDF3, FITS, HDF4, TIFF, GRIB, zip
(a zipped Zarr store). Bytes without a signature may be an ENVI raster (a ``.hdr`` sidecar next to
it); gzip streams are refused with the decompress fix. The formats' own packages are optional
(:mod:`vzskill.format_extras`); their parsers live in ``vzskill/format_<fmt>.py``, the readers
``verify`` uses in ``vzskill/readers_<kind>.py``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from vzskill.format_extras import require_extra
from vzskill.sources import Access, display_name, local_path, normalize_url

if TYPE_CHECKING:
    from virtualizarr.parsers.typing import Parser

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NETCDF3_MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
FITS_MAGIC = b"SIMPLE"
HDF4_MAGIC = b"\x0e\x03\x13\x01"
GZIP_MAGIC = b"\x1f\x8b"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
GRIB_MAGIC = b"GRIB"
ZIP_MAGIC = b"PK\x03\x04"  # a zip archive: read as a zipped Zarr store
ZARR_SUFFIXES = (".zarr", ".zarr/", ".zarr.zip")
KERCHUNK_JSON_SUFFIXES = (".json",)
KERCHUNK_PARQUET_SUFFIXES = (".parq", ".parquet", ".parq/", ".parquet/")

#: Formats whose chunks live in *other* objects than the parsed URL.
REFERENCE_KINDS = ("kerchunk-json", "kerchunk-parquet", "zarr", "zarr-zip", "dmrpp")


class ParseError(ValueError):
    """A source vzskill cannot parse; the message is one line naming the file and the fix.

    ``kind`` is the problem kind of :mod:`vzskill.errors` (``"corrupt"`` when the bytes prove the
    file is not of any supported format, ``"unsupported"`` for a valid file a parser cannot read).
    """

    def __init__(self, message: str, *, kind: str = "corrupt", fix: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.fix = fix if fix is not None else (message.split(" -> ", 1)[1] if " -> " in message else None)


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes said: the format ``kind`` and the object ``size`` (None when not read)."""

    kind: str
    size: int | None = None


def kind_from_suffix(url: str) -> str | None:
    """``'zarr'``, ``'zarr-zip'``, ``'kerchunk-json'``, ``'kerchunk-parquet'``, ``'dmrpp'``, ``'icechunk'`` from the extension, else None."""
    low = url.lower().rstrip("/")
    if low.endswith(".zarr.zip"):
        return "zarr-zip"
    if low.endswith(".zarr"):
        return "zarr"
    if low.endswith(KERCHUNK_JSON_SUFFIXES):
        return "kerchunk-json"
    if low.endswith((".parq", ".parquet")):
        return "kerchunk-parquet"
    if low.endswith(".dmrpp"):
        return "dmrpp"
    if low.endswith(".icechunk"):  # a repository (a folder / an object-store prefix, not one object)
        return "icechunk"
    return None


def kind_from_magic(head: bytes) -> str | None:
    """``'hdf5'``, ``'netcdf3'``, ``'fits'``, ``'hdf4'``, ``'tiff'``, ``'grib'``, ``'zarr-zip'`` from the signature bytes, else None."""
    if head.startswith(HDF5_MAGIC[:4]):
        return "hdf5"
    if head[:4] in NETCDF3_MAGICS:
        return "netcdf3"
    if head.startswith(FITS_MAGIC):
        return "fits"
    if head.startswith(HDF4_MAGIC):
        return "hdf4"
    if head[:4] in TIFF_MAGICS:
        return "tiff"
    if head.startswith(GRIB_MAGIC):
        return "grib"
    if head.startswith(ZIP_MAGIC):
        return "zarr-zip"
    return None


def _icechunk_root(url: str) -> str | None:
    from vzskill.format_icechunk import icechunk_root

    return icechunk_root(url)


def _by_name(url: str, registry: Any, access: Access | None) -> Sniffed | None:
    """The kind known without reading the object: extension, a local Zarr folder or Icechunk repository."""
    kind = kind_from_suffix(url)
    if kind == "icechunk":
        _require_icechunk_repo(url, registry, access)
    if kind is not None:
        return Sniffed(kind)
    if _is_local_zarr_dir(url):
        return Sniffed("zarr")
    if _icechunk_root(url) is not None:
        return Sniffed("icechunk")
    return None


def _require_icechunk_repo(url: str, registry: Any, access: Access | None) -> None:
    """A ``*.icechunk`` URL must hold a repository (its ``repo`` object): else one line, before any parser."""
    if url.startswith("file://"):
        found = _icechunk_root(url) is not None
    else:
        if registry is None:
            from vzskill.registry import build_registry

            registry = build_registry([url], access)
        found = _remote_icechunk(url, registry)
    if not found:
        fix = "pass the repository's folder/prefix (the one holding 'repo' and 'snapshots/'), or check the URL"
        raise ParseError(f"{display_name(url)}: no Icechunk repository here (no 'repo' object) -> {fix}",
                         kind="source", fix=fix)


def _remote_icechunk(url: str, registry: Any) -> bool:
    from vzskill.format_icechunk import remote_icechunk_root

    return not url.startswith("file://") and remote_icechunk_root(url, registry) is not None


def _is_local_zarr_dir(url: str) -> bool:
    if not url.startswith("file://"):
        return False
    path = local_path(url)
    return os.path.isdir(path) and (
        os.path.exists(os.path.join(path, "zarr.json")) or os.path.exists(os.path.join(path, ".zgroup"))
    )


def read_range(url: str, registry: Any, n: int = 8) -> tuple[bytes, int | None]:
    """The first ``n`` bytes of ``url`` (fewer for a shorter object) and the object's size, in one request.

    Raises ``FileNotFoundError`` for a missing object and :class:`ParseError` for an empty one.
    """
    import obstore
    from obstore.exceptions import GenericError

    store, path = registry.resolve(url)
    try:
        result = obstore.get(store, path, options={"range": (0, n)})
        size = result.meta.get("size")
        return bytes(result.bytes()), int(size) if size is not None else None
    except GenericError as exc:  # a range past the end of a short/empty object
        size = int(obstore.head(store, path)["size"])  # FileNotFoundError for a missing object
        if size == 0:
            fix = "re-download or regenerate it, or remove it from the list"
            raise ParseError(f"{display_name(url)}: empty file (0 bytes) -> {fix}", fix=fix) from exc
        return bytes(obstore.get_range(store, path, start=0, length=min(n, size))), size


def read_head(url: str, registry: Any, n: int = 8) -> bytes:
    """The first ``n`` bytes of ``url``, read through ``registry`` (see :func:`read_range`)."""
    return read_range(url, registry, n)[0]


def sniff(url: str, registry: Any = None, access: Access | None = None) -> Sniffed:
    """The format of ``url`` (and its size when its first bytes had to be read).

    Raises :class:`ParseError` (one line) for content of no supported format, ``FileNotFoundError``
    for a missing object.
    """
    url = normalize_url(url)
    named = _by_name(url, registry, access)
    if named is not None:
        return named
    if registry is None:
        from vzskill.registry import build_registry

        registry = build_registry([url], access)
    try:
        head, size = read_range(url, registry)
    except FileNotFoundError:  # not an object: a remote Icechunk repository is a prefix
        if _remote_icechunk(url, registry):
            return Sniffed("icechunk")
        raise
    kind = kind_from_magic(head)
    if head.startswith(GZIP_MAGIC):  # an ENVI raster may be gzipped whole (its header says so)
        if _sidecar_kind(url, head, registry) == "envi":
            return Sniffed("envi", size)
        raise compressed_stream(url)
    if kind is not None:
        require_extra(kind, url)
    if kind is None:  # ENVI data by its header, or a native chunk object of a remote Icechunk repository
        kind = _sidecar_kind(url, head, registry) or ("icechunk" if _remote_icechunk(url, registry) else None)
    if kind is None:
        fix = "check the download (an HTML error page or a text file saved as .nc?), or remove it from the list"
        raise ParseError(
            f"{display_name(url)}: not a format vzskill reads (starts with {head[:8]!r}; it reads NetCDF3/4, HDF5, HDF4, FITS, "
            f"GRIB2, TIFF, ENVI, DMR++, Zarr, kerchunk) -> {fix}",
            fix=fix,
        )
    return Sniffed(kind, size)


def _sidecar_kind(url: str, head: bytes, registry: Any) -> str | None:
    """A format known by a file next to this one: ENVI data (``.hdr`` sidecar); an ENVI header is refused."""
    from vzskill.format_envi import ENVI_MAGIC, envi_header

    if head.startswith(ENVI_MAGIC) and url.lower().endswith(".hdr"):
        name = display_name(url)
        fix = f"pass the data file next to it (e.g. {name[:-4]}.img or {name[:-4]}), not the header"
        raise ParseError(f"{name}: an ENVI header (text), not the raster -> {fix}", kind="source", fix=fix)
    return "envi" if envi_header(url, registry) is not None else None


def compressed_stream(url: str) -> ParseError:
    """The refusal of a gzip-compressed file: a gzip stream has no byte ranges a reference could point at."""
    name = display_name(url)
    plain = name[: -len(".gz")] if name.lower().endswith(".gz") else f"the decompressed {name}"
    fix = f"gunzip -k {name}, then virtualize {plain}"
    return ParseError(
        f"{name}: gzip-compressed: decompress it first (gunzip -k {name}) -> then virtualize {plain}",
        kind="unsupported", fix=fix,
    )


def detect_kind(url: str, registry: Any = None, access: Access | None = None) -> str:
    """``'hdf5'``, ``'netcdf3'``, ``'fits'``, ``'kerchunk-json'``, ``'kerchunk-parquet'``, ``'zarr'``...

    Extensions decide for Kerchunk references and Zarr stores; everything else by magic bytes
    (the first 8 bytes, read through ``registry``). Raises :class:`ParseError` (one line) for a
    file of unknown type, ``FileNotFoundError`` for a missing one.
    """
    return sniff(url, registry, access).kind


#: kind -> VirtualiZarr parser class (``group=``, ``skip_variables=``)
_VIRTUALIZARR_PARSERS = {
    "netcdf3": "NetCDF3Parser", "fits": "FITSParser", "kerchunk-json": "KerchunkJSONParser",
    "kerchunk-parquet": "KerchunkParquetParser", "zarr": "ZarrParser",
}
#: kind -> (module, class) of vzskill's parsers around other packages (``group=``, ``drop_variables=``)
_OWN_PARSERS = {
    "tiff": ("vzskill.format_tiff", "TiffParser"), "grib": ("vzskill.format_grib", "GribParser"),
    "hdf4": ("vzskill.format_hdf4", "Hdf4Parser"), "zarr-zip": ("vzskill.format_zip", "ZipParser"),
    "dmrpp": ("vzskill.format_dmrpp", "DmrppParser"),
}


def make_parser(
    kind: str,
    *,
    group: str | None = None,
    drop_variables: Iterable[str] | None = None,
    links_and_references: bool = False,
) -> Parser:
    """A VirtualiZarr parser instance for ``kind`` (see :func:`parser_for`).

    Parameters
    ----------
    kind
        A format name returned by :func:`detect_kind`.
    group
        The HDF5/NetCDF4/Zarr group (or FITS HDU) to parse; None = the root.
    drop_variables
        Variables the parser skips (``HDFParser(drop_variables=)``, ``skip_variables=`` elsewhere).
    links_and_references
        ``HDFParser(links_and_references=)`` (dimension scales through object references).

    Returns
    -------
    Parser
        A callable ``parser(url=..., registry=...) -> ManifestStore``.
    """
    drop = list(drop_variables) if drop_variables else None
    if kind == "hdf5":
        from virtualizarr.parsers import HDFParser

        return HDFParser(group=group, drop_variables=drop, links_and_references=links_and_references)
    if kind in _OWN_PARSERS:
        module, name = _OWN_PARSERS[kind]
        return getattr(importlib.import_module(module), name)(group=group, drop_variables=drop)
    if kind == "envi":
        from vzskill.format_envi import EnviParser

        return EnviParser(group=group, drop_variables=drop)
    if kind == "icechunk":
        from virtualizarr.parsers import IcechunkParser

        return IcechunkParser(group=group, skip_variables=drop)
    if kind in _VIRTUALIZARR_PARSERS:
        from virtualizarr import parsers

        return getattr(parsers, _VIRTUALIZARR_PARSERS[kind])(group=group, skip_variables=drop)
    raise ValueError(f"no parser for kind {kind!r}")


def parser_for(
    url: str | os.PathLike[str],
    registry: Any = None,
    *,
    group: str | None = None,
    drop_variables: Iterable[str] | None = None,
    access: Access | None = None,
) -> Parser:
    """The right VirtualiZarr parser for ``url`` (by extension for Kerchunk/Zarr, else by magic bytes).

    ``b"\\x89HDF"`` -> ``HDFParser``, ``b"CDF\\x01"``/``b"CDF\\x02"`` -> ``NetCDF3Parser``,
    ``b"SIMPLE"`` -> ``FITSParser``, ``b"\\x0e\\x03\\x13\\x01"`` -> ``HDF4Parser``, ``b"II*\\x00"``/``b"MM\\x00*"``
    (and BigTIFF) -> :class:`vzskill.format_tiff.TiffParser` (virtual-tiff), ``b"GRIB"`` ->
    :class:`vzskill.format_grib.GribParser` (gribberish), ``.json`` -> ``KerchunkJSONParser``,
    ``.parq``/``.parquet`` -> ``KerchunkParquetParser``, Zarr store -> ``ZarrParser``.

    Parameters
    ----------
    url
        Path or URL of the source.
    registry
        ObjectStoreRegistry used to read the first bytes; built from ``url`` and ``access`` if None.
    group, drop_variables
        Passed to the parser (see :func:`make_parser`).
    access
        Credentials/endpoint for building the registry.

    Returns
    -------
    Parser
        A VirtualiZarr parser instance.
    """
    kind = detect_kind(os.fspath(url), registry, access)
    return make_parser(kind, group=group, drop_variables=drop_variables)
