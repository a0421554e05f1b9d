"""Read each source file's first block once and serve the parser from it (fewest requests).

VirtualiZarr's parsers open a file through ``obspec_utils.readers.BlockStoreReader``: a ``HEAD``
for the size, then 1 MiB blocks; the loaded coordinates are then read again, chunk by chunk,
through the registry. Over a link with 25-50 ms per request that is what a user waits for (7
requests for a small NetCDF4 file). Here the first block is fetched with ONE ranged ``GET``
(it also returns the object's size, so no ``HEAD``), the format is detected from its first bytes,
and while the file is parsed every read inside that block - the parser's, the coordinates',
repeated ones - is served from memory. Reads outside the block go to the real store unchanged.

A small file (<= :data:`BLOCK` bytes) therefore costs exactly one request; a bigger one one
request less than plain VirtualiZarr plus whatever the parser needs beyond the first block.
"""

from __future__ import annotations

import builtins
from typing import Any, Sequence

from obspec_utils.registry import ObjectStoreRegistry

__all__ = ["BLOCK", "SERVED_KINDS", "Prefetched", "PrefetchedStore", "PrefetchRegistry", "prefetch"]

#: Formats whose parser reads through the registry it is given (VirtualiZarr's
#: ``BlockStoreReader`` for HDF5/NetCDF3/FITS; vzskill.format_grib reads head + first block + rest
#: through it): they get the prefetched block. Others (TIFF, HDF4: obstore module functions /
#: fsspec) are given the plain registry; for them the block only decided the format (one request,
#: as a sniff).
SERVED_KINDS = frozenset({"hdf5", "netcdf3", "fits", "grib"})

#: Bytes fetched up front: the same as BlockStoreReader's block, so its first block is this one.
BLOCK = 1024 * 1024


class _Result:
    """The subset of ``obstore.GetResult`` readers use (``buffer``/``bytes``/``meta``/``range``)."""

    def __init__(self, data: bytes, meta: dict[str, Any]) -> None:
        self._data = data
        self.meta = meta
        self.range = (0, len(data))
        self.attributes: dict[str, Any] = {}

    def buffer(self) -> builtins.bytes:
        return self._data

    def bytes(self) -> builtins.bytes:
        return self._data

    async def buffer_async(self) -> builtins.bytes:
        return self._data

    async def bytes_async(self) -> builtins.bytes:
        return self._data


class PrefetchedStore:
    """A store that answers reads of ``path`` inside ``data`` (bytes ``[0, len(data))``) from memory.

    Everything else (other paths, ranges past the block, writes, listings) goes to ``store``;
    attributes such as ``prefix`` and ``url`` are the wrapped store's. :meth:`release` drops the
    bytes (every later read goes to ``store``).
    """

    def __init__(self, store: Any, path: str, data: bytes, size: int) -> None:
        self._store = store
        self._path = path
        self._data: bytes | None = data
        self._size = int(size)
        self.served = 0  # reads answered from memory (for tests and benchmarks)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or "_store" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self._store, name)

    def release(self) -> None:
        """Forget the bytes: later reads go to the wrapped store."""
        self._data = None

    def _slice(self, path: str, start: int, end: int | None, length: int | None) -> bytes | None:
        data = self._data
        if data is None or path != self._path:
            return None
        stop = end if end is not None else start + length if length is not None else self._size
        if start < 0 or stop < start or (stop > len(data) and len(data) < self._size):
            return None
        self.served += 1
        return data[start:stop]

    def _meta(self) -> dict[str, Any]:
        return {"path": self._path, "size": self._size, "last_modified": None, "e_tag": None, "version": None}

    # --- obspec Head / Get / GetRange / GetRanges (sync and async)

    def head(self, path: str) -> Any:
        if path == self._path and self._data is not None:
            return self._meta()
        return self._store.head(path)

    async def head_async(self, path: str) -> Any:
        if path == self._path and self._data is not None:
            return self._meta()
        return await self._store.head_async(path)

    def _whole(self, path: str, options: Any) -> _Result | None:
        if options or self._data is None or path != self._path or len(self._data) < self._size:
            return None
        self.served += 1
        return _Result(self._data, self._meta())

    def get(self, path: str, *, options: Any = None) -> Any:
        whole = self._whole(path, options)
        return whole if whole is not None else self._store.get(path, options=options)

    async def get_async(self, path: str, *, options: Any = None) -> Any:
        whole = self._whole(path, options)
        return whole if whole is not None else await self._store.get_async(path, options=options)

    def get_range(self, path: str, *, start: int, end: int | None = None, length: int | None = None) -> Any:
        data = self._slice(path, start, end, length)
        if data is not None:
            return data
        return self._store.get_range(path, start=start, end=end, length=length)

    async def get_range_async(self, path: str, *, start: int, end: int | None = None, length: int | None = None) -> Any:
        data = self._slice(path, start, end, length)
        if data is not None:
            return data
        return await self._store.get_range_async(path, start=start, end=end, length=length)

    def _ranges(self, path: str, starts: Sequence[int], ends: Sequence[int] | None,
                lengths: Sequence[int] | None) -> list[bytes] | None:
        out = []
        for i, start in enumerate(starts):
            data = self._slice(path, start, ends[i] if ends is not None else None,
                               lengths[i] if lengths is not None else None)
            if data is None:
                return None
            out.append(data)
        return out

    def get_ranges(self, path: str, *, starts: Sequence[int], ends: Sequence[int] | None = None,
                   lengths: Sequence[int] | None = None) -> Any:
        out = self._ranges(path, starts, ends, lengths)
        if out is not None:
            return out
        return self._store.get_ranges(path, starts=starts, ends=ends, lengths=lengths)

    async def get_ranges_async(self, path: str, *, starts: Sequence[int], ends: Sequence[int] | None = None,
                               lengths: Sequence[int] | None = None) -> Any:
        out = self._ranges(path, starts, ends, lengths)
        if out is not None:
            return out
        return await self._store.get_ranges_async(path, starts=starts, ends=ends, lengths=lengths)


class PrefetchRegistry(ObjectStoreRegistry):
    """``registry`` with ONE file's store swapped for a :class:`PrefetchedStore` (same ``map``).

    Every URL resolves through ``registry`` (so its errors and extension rules still apply); the
    one (store, path) pair that was prefetched comes back wrapped.
    """

    def __init__(self, registry: Any, store: Any, prefetched: PrefetchedStore) -> None:
        self.map = registry.map
        self._registry = registry
        self.wrapped = registry  # the registry with the real stores (for readers that need obstore stores)
        self._store = store
        self.prefetched = prefetched

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or "_registry" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self._registry, name)

    def resolve(self, url: str) -> tuple[Any, str]:
        store, path = self._registry.resolve(url)
        if store is self._store and path == self.prefetched._path:
            return self.prefetched, path
        return store, path


class Prefetched:
    """The first block of one file: ``data``, the object's ``size`` and a ``registry`` serving it."""

    def __init__(self, data: bytes, size: int, registry: PrefetchRegistry) -> None:
        self.data = data
        self.size = size
        self.registry = registry

    @property
    def served(self) -> int:
        return self.registry.prefetched.served

    def release(self) -> None:
        self.registry.prefetched.release()
        self.data = b""


def prefetch(url: str, registry: Any, block: int = BLOCK) -> Prefetched:
    """The first ``block`` bytes of ``url`` and its size, in one request, and a registry serving them.

    Raises what :func:`vzskill.formats.read_range` raises (``FileNotFoundError`` for a missing
    object, ``ParseError`` for an empty one, the store's errors otherwise).
    """
    from vzskill.formats import read_range

    data, size = read_range(url, registry, block)
    store, path = registry.resolve(url)
    if size is None:
        size = len(data) if len(data) < block else int(store.head(path)["size"])
    wrapped = PrefetchedStore(store, path, data, size)
    return Prefetched(data, int(size), PrefetchRegistry(registry, store, wrapped))
