"""Features of a *valid* file that a VirtualiZarr parser cannot virtualize, found from metadata only.

Each probe reads the file's own structure with the format's reference library (h5py, astropy, a
NetCDF3 header walk, the Kerchunk JSON) and names the variable and the feature. A probe that
cannot read the structure raises :class:`Unreadable` - the bytes prove the file is damaged, which
is the only case :mod:`vzskill.errors` calls "corrupt".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

# HDF5 filter ids with no Zarr codec (what HDFParser cannot virtualize).
UNSUPPORTED_FILTERS = {32000: "LZF", 4: "szip", 5: "N-bit", 6: "scale-offset"}


class Unreadable(ValueError):
    """The format library cannot read the file's structure: it is damaged (or not that format)."""


@dataclass(frozen=True)
class Feature:
    """One variable (HDF5 dataset, NetCDF3 variable, FITS HDU) and what stops the parser.

    ``what`` is a machine name: ``reference``, ``vlen``, ``object``, ``compact``, ``external``,
    ``attribute``, ``filter``, ``char_fill``, ``binary_table``, ``hdu_type``, ``zero_length``, ``inlined``;
    ``detail`` the human part (filter name, attribute name, HDU type...).
    """

    variable: str
    what: str
    detail: str = ""


class Findings(list):  # type: ignore[type-arg]
    """The :class:`Feature` list of a probe, plus ``variables``: every data variable/HDU it saw."""

    def __init__(self, found: Any = (), variables: Any = ()) -> None:
        super().__init__(found)
        self.variables: list[str] = list(variables)

    @property
    def leaves_nothing(self) -> bool:
        """Dropping the variables named here would leave no data variable."""
        named = {f.variable for f in self}
        return bool(self.variables) and all(v in named for v in self.variables)


# --------------------------------------------------------------------------- HDF5


def _h5_attribute_problem(obj: Any) -> str | None:
    """The first attribute whose value JSON (Zarr metadata) cannot hold: complex or compound values."""
    import numpy as np

    for key in obj.attrs:
        try:
            value = obj.attrs[key]
        except Exception:  # noqa: BLE001 - an attribute h5py cannot read is a problem too
            return str(key)
        dt = getattr(value, "dtype", None)
        if dt is not None and (dt.kind == "c" or dt.fields is not None):
            return str(key)
        if isinstance(value, complex) or isinstance(value, np.void):
            return str(key)
    return None


def _h5_dataset_features(name: str, obj: Any) -> list[Feature]:
    import h5py

    found: list[Feature] = []
    dt = obj.dtype
    if dt.kind == "O" and h5py.check_string_dtype(dt) is None:
        if h5py.check_vlen_dtype(dt) is not None:
            found.append(Feature(name, "vlen"))
        elif h5py.check_ref_dtype(dt) is not None:
            found.append(Feature(name, "reference"))
        else:
            found.append(Feature(name, "object"))
    plist = obj.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        fid = plist.get_filter(i)[0]
        if fid in UNSUPPORTED_FILTERS:
            found.append(Feature(name, "filter", UNSUPPORTED_FILTERS[fid]))
        elif fid not in (1, 2, 3) and fid < 256:  # deflate, shuffle, fletcher32 are fine
            found.append(Feature(name, "filter", f"HDF5 filter {fid}"))
    if plist.get_external_count() > 0:
        found.append(Feature(name, "external", plist.get_external(0)[0].decode("utf-8", "replace")))
    if plist.get_layout() == h5py.h5d.COMPACT:
        found.append(Feature(name, "compact"))
    attr = _h5_attribute_problem(obj)
    if attr is not None:
        found.append(Feature(name, "attribute", attr))
    return found


def hdf5_features(url: str, registry: Any, only: list[str] | None = None) -> Findings:
    """Datasets HDFParser cannot virtualize (h5py, metadata only), most likely cause first.

    ``only`` restricts the walk to these dataset names. Raises :class:`Unreadable` when h5py cannot
    open the file, ``FileNotFoundError`` / obstore errors when it cannot be read at all.
    """
    import h5py
    from obspec_utils.readers import BlockStoreReader

    store, path = registry.resolve(url)
    found: list[Feature] = []
    names: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and (only is None or name in only):
            names.append(name)
            found.extend(_h5_dataset_features(name, obj))

    try:
        f = h5py.File(BlockStoreReader(store, path), mode="r")
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise Unreadable(first_line(exc)) from exc
    with f:
        f.visititems(visit)
    order = {"reference": 0, "vlen": 1, "object": 2, "filter": 3, "attribute": 4, "external": 5, "compact": 9}
    ranked = sorted(found, key=lambda ft: order.get(ft.what, 5))  # a compact variable parses: rarely the cause
    return Findings(ranked, names)


# --------------------------------------------------------------------------- NetCDF3


class _Header:
    """Sequential reader over a NetCDF3 header (CDF-1, CDF-2 and CDF-5)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 4
        self.wide = data[3:4] == b"\x05"

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise EOFError
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def size(self) -> int:
        return int(struct.unpack(">q", self.take(8))[0]) if self.wide else self.int32()

    def name(self) -> str:
        n = self.size()
        text = self.take(n).decode("utf-8", "replace")
        self.take(-n % 4)
        return text

    def attributes(self) -> dict[str, int]:
        """{attribute name: nc_type} (values skipped)."""
        sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
        tag, n = self.int32(), self.size()
        if tag not in (0, 12):
            raise ValueError(f"bad attribute list tag {tag}")
        out = {}
        for _ in range(n):
            key = self.name()
            nc_type, count = self.int32(), self.size()
            nbytes = sizes.get(nc_type, 1) * count
            self.take(nbytes + (-nbytes % 4))
            out[key] = nc_type
        return out


def netcdf3_features(url: str, registry: Any) -> Findings:
    """Variables NetCDF3Parser cannot virtualize (a ``char`` variable with a ``_FillValue``).

    Reads the header only (growing ranged reads). Raises :class:`Unreadable` when the header is
    damaged or the file is shorter than its header says.
    """
    import obstore

    store, path = registry.resolve(url)
    size = int(obstore.head(store, path)["size"])
    n = 1 << 16
    while True:
        data = bytes(obstore.get_range(store, path, start=0, length=min(n, size)))
        try:
            return _netcdf3_walk(data, size)
        except Unreadable:
            raise
        except EOFError:
            if n >= size:
                raise Unreadable(f"the header runs past the end of the file ({size} bytes)") from None
            n *= 8
        except (ValueError, struct.error) as exc:
            raise Unreadable(f"damaged header ({exc})") from exc


def _netcdf3_walk(data: bytes, size: int) -> Findings:
    h = _Header(data)
    h.size()  # numrecs
    tag, ndims = h.int32(), h.size()
    if tag not in (0, 10):
        raise ValueError(f"bad dimension list tag {tag}")
    for _ in range(ndims):
        h.name()
        h.size()
    h.attributes()
    tag, nvars = h.int32(), h.size()
    if tag not in (0, 11):
        raise ValueError(f"bad variable list tag {tag}")
    found: list[Feature] = []
    names: list[str] = []
    end = 0
    for _ in range(nvars):
        name = h.name()
        names.append(name)
        for _ in range(h.size()):
            h.size()  # dimension ids
        attrs = h.attributes()
        nc_type, vsize = h.int32(), h.size()
        begin = int(struct.unpack(">q", h.take(8))[0]) if data[3:4] in (b"\x02", b"\x05") else h.int32()
        end = max(end, begin + vsize)
        if nc_type == 2 and "_FillValue" in attrs:
            found.append(Feature(name, "char_fill"))
    if end > size:
        raise Unreadable(f"truncated: the header describes {end} bytes, the file has {size}")
    return Findings(found, names)


# --------------------------------------------------------------------------- FITS


def fits_features(url: str, registry: Any) -> Findings:
    """HDUs FITSParser cannot virtualize (binary tables, random groups, zero-length axes); headers only."""
    from astropy.io import fits
    from obspec_utils.readers import BlockStoreReader

    store, path = registry.resolve(url)
    found: list[Feature] = []
    try:
        hdulist = fits.open(BlockStoreReader(store, path), do_not_scale_image_data=True)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise Unreadable(first_line(exc)) from exc
    data_hdus: list[str] = []
    with hdulist:
        names: list[str] = []
        for index, hdu in enumerate(hdulist):  # the parser's naming: EXTNAME or index, repeats qualified
            name = hdu.name or str(index)
            name = f"{name}_{index}" if name in names else name
            names.append(name)
            if hdu.header.get("NAXIS", 0) == 0:
                continue
            data_hdus.append(name)
            if isinstance(hdu, fits.BinTableHDU):
                found.append(Feature(name, "binary_table"))
            elif not (hdu.is_image or isinstance(hdu, fits.TableHDU)):
                found.append(Feature(name, "hdu_type", type(hdu).__name__))
            elif any(int(hdu.header.get(f"NAXIS{i}", 1)) == 0 for i in range(1, int(hdu.header["NAXIS"]) + 1)):
                found.append(Feature(name, "zero_length"))
    return Findings(found, data_hdus)


# --------------------------------------------------------------------------- Kerchunk


def kerchunk_features(url: str, registry: Any) -> Findings:
    """Arrays of a Kerchunk JSON whose chunks are inlined (base64/text values instead of [url, offset, length])."""
    import json

    import obstore

    store, path = registry.resolve(url)
    try:
        refs = json.loads(bytes(obstore.get(store, path).bytes()))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Unreadable(f"not JSON ({exc})") from exc
    refs = refs.get("refs", refs) if isinstance(refs, dict) else {}
    inlined: list[str] = []
    for key, value in refs.items():
        array, _, leaf = str(key).rpartition("/")
        if array and not leaf.startswith(".") and leaf != "zarr.json" and isinstance(value, str) and array not in inlined:
            inlined.append(array)
    return Findings([Feature(a, "inlined") for a in inlined])


def features(kind: str | None, url: str, registry: Any) -> Findings:
    """The probe for ``kind`` (empty for formats without one)."""
    probe = {"hdf5": hdf5_features, "netcdf3": netcdf3_features, "fits": fits_features,
             "kerchunk-json": kerchunk_features}.get(kind or "")
    return probe(url, registry) if probe else Findings()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def hdf5_truncation(url: str, registry: Any) -> tuple[int, int] | None:
    """``(size, expected)`` when the HDF5 superblock says the file is longer than it is, else None."""
    import obstore

    store, path = registry.resolve(url)
    size = int(obstore.head(store, path)["size"])
    head = bytes(obstore.get_range(store, path, start=0, length=min(96, size)))
    if len(head) < 12 or head[1:4] != b"HDF":
        return None
    version = head[8]
    if version in (0, 1):
        width = head[13]
        at = 24 if version == 0 else 28
    elif version in (2, 3):
        width = head[9]
        at = 12
    else:
        return None
    fmt = {4: "<I", 8: "<Q"}.get(width)
    if fmt is None or len(head) < at + 4 * width:
        return None
    base = struct.unpack(fmt, head[at:at + width])[0]
    eof_at = at + (2 * width if version in (0, 1) else 2 * width)
    eof = struct.unpack(fmt, head[eof_at:eof_at + width])[0]
    expected = int(base + eof)
    return (size, expected) if expected > size else None
