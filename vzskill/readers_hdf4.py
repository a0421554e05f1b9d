"""Direct reads of HDF4 sources, for ``verify`` (registered for kind ``"hdf4"`` on import).

Values come from pyhdf (the HDF4 library itself); where a variable's bytes start comes from the
file's own data-descriptor (DD) blocks, read here without kerchunk (which the parser used): the
SDS's numeric data group names its data element, which is stored either plainly (the data start
at the element's offset) or compressed (a special element pointing at a compressed block, whose
offset is the reference). A chunked SDS is placed chunk by chunk from its chunk table (a Vdata of
chunk origin + the chunk's data element, :func:`vzskill.format_hdf4.chunk_table`). Linked SDS data
have no single start: such a file raises :class:`~vzskill.source_readers.NoReader` (not compared,
never a false mismatch).

pyhdf opens local paths only: a remote source is copied to a temporary file first.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import pyhdf.SD  # noqa: F401 - a missing package makes the module unimportable: verify reports NoReader naming it

from vzskill.format_hdf4 import chunk_table, data_starts
from vzskill.source_readers import NoReader, SourceFile, SourceVariable, plain_attrs, register_reader
from vzskill.sources import display_name, local_path

__all__ = ["Hdf4Source"]

class _Hdf4Variable(SourceVariable):
    """One SDS: its single data block starts at ``start``, or (chunked) ``chunks`` maps each chunk's
    byte offset to its start index, from the file's chunk table."""

    def __init__(self, name: str, sds: Any, start: int, chunks: dict[int, tuple[int, ...]] | None = None):
        self.name, self.sds, self.start, self.chunks = name, sds, start, chunks
        _, rank, dims, _, _ = sds.info()
        self.shape = tuple(int(d) for d in (dims if isinstance(dims, list) else [dims]))
        self._values: np.ndarray | None = None
        self.attrs = plain_attrs(sds.attributes())

    @property
    def dtype(self) -> np.dtype:  # type: ignore[override]
        return self._read().dtype

    def _read(self) -> np.ndarray:
        if self._values is None:
            self._values = np.asarray(self.sds.get()).reshape(self.shape)
        return self._values

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        if self.chunks is not None:
            return self.chunks.get(int(offset))
        return (0,) * len(self.shape) if int(offset) == self.start else None

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        values = self._read()
        return np.array(values[region] if region else values)


class Hdf4Source(SourceFile):
    """One HDF4 file; ``variable(name)`` is the SDS of that name."""

    kind = "hdf4"

    def __init__(self, url: str, registry: Any):
        from pyhdf.SD import SD, SDC

        self.tmp: str | None = None
        if url.startswith("file://"):
            path = local_path(url)
            with open(path, "rb") as fh:
                data = fh.read()
        else:
            store, key = registry.resolve(url)
            import obstore

            data = bytes(obstore.get(store, key).bytes())
            fd, self.tmp = tempfile.mkstemp(suffix=".hdf")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            path = self.tmp
        self.starts = data_starts(data)
        self.chunked = {ref: chunk_table(data, ref) for ref, v in self.starts.items() if v == "chunked"}
        odd = sorted({v for ref, v in self.starts.items() if isinstance(v, str) and self.chunked.get(ref) is None})
        if odd:
            raise NoReader(f"{display_name(url)}: no direct reader for hdf4 SDS stored {odd[0]}", kind="hdf4")
        self.file = SD(path, SDC.READ)
        self.names = {name: self.file.select(name) for name in self.file.datasets()}

    def variable(self, path: str) -> SourceVariable | None:
        sds = self.names.get(path.rsplit("/", 1)[-1])
        if sds is None:
            return None
        start, table = self.starts.get(int(sds.ref())), self.chunked.get(int(sds.ref()))
        if table is not None:
            return _Hdf4Variable(path.rsplit("/", 1)[-1], sds, -1, {off: at for at, (off, _, _) in table[1].items()})
        return _Hdf4Variable(path.rsplit("/", 1)[-1], sds, int(start)) if isinstance(start, int) else None

    def close(self) -> None:
        self.file.end()
        if self.tmp is not None:
            os.unlink(self.tmp)


register_reader("hdf4", Hdf4Source)
