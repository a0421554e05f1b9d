"""Where each variable's bytes live in a NetCDF3 (classic / 64-bit offset / CDF-5) file.

A small, independent reader of the classic header (the NetCDF "Classic Format Specification"):
per variable its dimensions, shape, element type, ``begin`` (byte offset of its data, or of its
first record) and whether it is a record variable; for the file the record size (the bytes of one
record of every record variable). :mod:`vzskill.verification` uses it to place a reference
``(path, offset, length)`` at a logical position in the file, independently of the parser that
wrote the reference. Values themselves are read with ``scipy.io.netcdf_file``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

__all__ = ["NetCDF3Layout", "NetCDF3Variable", "read_layout"]

_NC_DIMENSION, _NC_VARIABLE, _NC_ATTRIBUTE = 10, 11, 12
# nc_type -> (numpy dtype, size); CDF-5 adds the unsigned and 64-bit types
_TYPES = {1: ">i1", 2: "S1", 3: ">i2", 4: ">i4", 5: ">f4", 6: ">f8", 7: ">u1", 8: ">u2", 9: ">u4", 10: ">i8", 11: ">u8"}


@dataclass
class NetCDF3Variable:
    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]  # the record dimension counts numrecs
    dtype: np.dtype
    begin: int
    is_record: bool
    attrs: dict[str, Any]


@dataclass
class NetCDF3Layout:
    numrecs: int
    recsize: int  # bytes of one record (all record variables); 0 without record variables
    variables: dict[str, NetCDF3Variable]


class _Header:
    def __init__(self, fh: IO[bytes], version: int):
        self.fh = fh
        self.version = version

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise ValueError("truncated NetCDF3 header")
        return data

    def int32(self) -> int:
        return int(struct.unpack(">i", self.read(4))[0])

    def count(self) -> int:  # NON_NEG: 64-bit in CDF-5
        return int(struct.unpack(">q", self.read(8))[0]) if self.version == 5 else self.int32()

    def offset(self) -> int:
        return int(struct.unpack(">q", self.read(8))[0]) if self.version in (2, 5) else self.int32()

    def name(self) -> str:
        n = self.count()
        text = self.read(n)
        self.read(-n % 4)
        return text.decode("utf-8")

    def attributes(self) -> dict[str, Any]:
        tag, n = self.int32(), self.count()
        if tag not in (0, _NC_ATTRIBUTE):
            raise ValueError("bad NetCDF3 attribute list")
        out: dict[str, Any] = {}
        for _ in range(n):
            name = self.name()
            dtype = np.dtype(_TYPES[self.int32()])
            count = self.count()
            raw = self.read(dtype.itemsize * count)
            self.read(-len(raw) % 4)
            if dtype.kind == "S":
                out[name] = raw.decode("utf-8", "replace").rstrip("\x00")
            else:
                values = np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))
                out[name] = values[0] if count == 1 else values
        return out


def read_layout(fh: IO[bytes]) -> NetCDF3Layout:
    """Parse the header of a NetCDF3 file opened in binary mode (positioned at 0).

    Raises ``ValueError`` for a file that is not NetCDF3 or whose header is truncated.
    """
    magic = fh.read(4)
    if len(magic) != 4 or magic[:3] != b"CDF" or magic[3] not in (1, 2, 5):
        raise ValueError(f"not a NetCDF3 file (starts with {magic!r})")
    h = _Header(fh, magic[3])
    numrecs = h.count()
    tag, n = h.int32(), h.count()
    if tag not in (0, _NC_DIMENSION):
        raise ValueError("bad NetCDF3 dimension list")
    dims: list[tuple[str, int]] = [(h.name(), h.count()) for _ in range(n)]
    h.attributes()  # global attributes
    tag, n = h.int32(), h.count()
    if tag not in (0, _NC_VARIABLE):
        raise ValueError("bad NetCDF3 variable list")
    variables: dict[str, NetCDF3Variable] = {}
    recsize = 0
    for _ in range(n):
        name = h.name()
        dimids = [h.count() for _ in range(h.count())]
        attrs = h.attributes()
        dtype = np.dtype(_TYPES[h.int32()])
        vsize = h.count()
        begin = h.offset()
        is_record = bool(dimids) and dims[dimids[0]][1] == 0
        shape = tuple(numrecs if (i == 0 and is_record) else dims[d][1] for i, d in enumerate(dimids))
        variables[name] = NetCDF3Variable(name, tuple(dims[d][0] for d in dimids), shape, dtype, begin, is_record, attrs)
        if is_record:
            recsize += vsize
    records = [v for v in variables.values() if v.is_record]
    if len(records) == 1:  # a single record variable is not padded (spec: "special case")
        v = records[0]
        recsize = int(np.prod(v.shape[1:], dtype=np.int64)) * v.dtype.itemsize
    return NetCDF3Layout(numrecs, recsize, variables)


def record_start(var: NetCDF3Variable, layout: NetCDF3Layout, offset: int) -> int | None:
    """Index of the record of ``var`` whose data starts at byte ``offset`` (None: no record starts there)."""
    if not var.is_record or layout.recsize <= 0:
        return None
    delta = offset - var.begin
    if delta < 0 or delta % layout.recsize:
        return None
    index = delta // layout.recsize
    return index if index < var.shape[0] else None
