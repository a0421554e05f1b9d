"""Direct reads of ENVI rasters with numpy, for ``verify`` (registered for kind ``"envi"`` on import).

The header is read with vzskill's own parser (:func:`vzskill.format_envi.read_header`); the data
file's bytes after ``header offset`` are the array in file order. A reference's offset names the
index along the outer axis (``header offset + i * plane bytes``); a gzip-compressed file is one block.
"""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np

from vzskill.format_envi import EnviHeader, envi_header, read_header
from vzskill.source_readers import SourceFile, SourceVariable, register_reader
from vzskill.sources import display_name

__all__ = ["EnviSource"]


def _read(url: str, registry: Any) -> bytes:
    store, path = registry.resolve(url)
    return bytes(store.get(path).bytes())


class _EnviVariable(SourceVariable):
    def __init__(self, name: str, header: EnviHeader, data: bytes):
        self.name, self.header = name, header
        self.shape, self.dtype, self.attrs = header.shape, header.dtype, {}
        if header.fill is not None:
            self.attrs["_FillValue"] = header.dtype.type(header.fill)
        raw = gzip.decompress(data[header.offset:]) if header.gzip else data[header.offset:]
        self.values = np.frombuffer(raw, dtype=header.dtype, count=int(np.prod(header.shape))).reshape(header.shape)
        self.plane = int(np.prod(header.shape[1:])) * header.dtype.itemsize

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        if self.header.gzip:
            return (0, 0, 0) if offset == self.header.offset else None
        index, rest = divmod(int(offset) - self.header.offset, self.plane)
        if rest or not 0 <= index < self.shape[0]:
            return None
        return (index, 0, 0)

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.array(self.values[region] if region else self.values)


class EnviSource(SourceFile):
    """One ENVI data file; its one variable is named after the file's stem."""

    kind = "envi"

    def __init__(self, url: str, registry: Any):
        header_url = envi_header(url, registry)
        if header_url is None:
            raise FileNotFoundError(f"{display_name(url)}: its ENVI .hdr header is gone")
        self.header = read_header(_read(header_url, registry).decode("utf-8", "replace"))
        self.name = display_name(url).rsplit(".", 1)[0] if "." in display_name(url) else display_name(url)
        self.data = _read(url, registry)
        self.var: _EnviVariable | None = None

    def variable(self, path: str) -> SourceVariable | None:
        if path.rsplit("/", 1)[-1] != self.name:
            return None
        if self.var is None:
            self.var = _EnviVariable(self.name, self.header, self.data)
        return self.var


register_reader("envi", EnviSource)
