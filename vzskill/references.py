"""What a repository snapshot references: every array, and per chunk where it is stored.

:func:`reference_index` walks the snapshot's arrays (zarr, recursively) and lists each array's
chunks with ``IcechunkStore.array_chunk_iterator``: chunk coordinates, the kind (virtual /
native / inline) and, for virtual chunks, ``(path, offset, length)``. Chunks never written (the
fill value) are not listed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import icechunk
    import zarr

__all__ = ["ArrayRefs", "reference_index", "run"]


@dataclass
class ArrayRefs:
    """The chunks of one array: ``coords`` (n, ndim), and for virtual ones path / offset / length."""

    path: str
    array: zarr.Array  # read raw (no CF decoding)
    coords: np.ndarray
    virtual: np.ndarray  # bool (n,)
    urls: list[str]  # per chunk ('' for native)
    offsets: np.ndarray
    lengths: np.ndarray

    @property
    def n_virtual(self) -> int:
        return int(self.virtual.sum())

    @property
    def n_native(self) -> int:
        return int((~self.virtual).sum())

    def rows_by_file(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for row in np.flatnonzero(self.virtual):
            out[self.urls[row]].append(int(row))
        return out

    def chunk(self, row: int) -> tuple[int, ...]:
        return tuple(int(c) for c in self.coords[row])

    def region(self, row: int) -> tuple[slice, ...]:
        """The array region of chunk ``row`` (clipped to the array's shape)."""
        chunks, shape = self.array.chunks, self.array.shape
        return tuple(slice(int(c) * k, min((int(c) + 1) * k, s)) for c, k, s in zip(self.coords[row], chunks, shape, strict=True))

    def dims(self) -> tuple[str, ...]:
        names = getattr(self.array.metadata, "dimension_names", None)
        if names is None:
            names = self.array.attrs.get("_ARRAY_DIMENSIONS")
        if isinstance(names, (list, tuple)) and names:
            return tuple(f"dim_{i}" if n is None else str(n) for i, n in enumerate(names))
        return tuple(f"dim_{i}" for i in range(self.array.ndim))


@dataclass
class ReferenceIndex:
    arrays: dict[str, ArrayRefs] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)  # values read once per verify (e.g. decoded coordinates)

    def virtual(self) -> dict[str, ArrayRefs]:
        return {p: a for p, a in self.arrays.items() if a.n_virtual}

    def native(self) -> dict[str, ArrayRefs]:
        return {p: a for p, a in self.arrays.items() if not a.n_virtual}

    def by_file(self) -> dict[str, dict[str, list[int]]]:
        """url -> array path -> rows of its virtual chunks."""
        out: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for path, refs in self.virtual().items():
            for url, rows in refs.rows_by_file().items():
                out[url][path] = rows
        return out


def run(coro: Any) -> Any:
    """Run on zarr's long-lived event loop (icechunk's async iterators outlive a throw-away loop)."""
    from zarr.core.sync import sync

    return sync(coro)


def _arrays(session: icechunk.Session) -> list[tuple[str, zarr.Array]]:
    import zarr

    root = zarr.open_group(session.store, mode="r", zarr_format=3)
    out: list[tuple[str, Any]] = []

    def walk(group: zarr.Group, prefix: str) -> None:
        for name, member in sorted(group.members()):
            path = f"{prefix}{name}"
            if isinstance(member, zarr.Group):
                walk(member, path + "/")
            else:
                out.append((path, member))

    walk(root, "")
    return out


def _chunks(session: icechunk.Session, path: str, array: zarr.Array) -> ArrayRefs:
    from icechunk import ChunkType

    from vzskill.sources import file_url, local_path

    virtual_kind = getattr(ChunkType.virtual, "value", 2)

    async def collect() -> ArrayRefs:
        coords: list[np.ndarray] = []
        kinds: list[np.ndarray] = []
        urls: list[str] = []
        offsets: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        it = session.store.array_chunk_iterator(path, 100_000)
        try:
            async for b_coords, b_kinds, b_paths, b_offsets, b_lengths, _inl in it:
                if b_coords.shape[0] == 0:
                    continue
                coords.append(np.asarray(b_coords))
                kinds.append(np.asarray(b_kinds) == virtual_kind)
                # icechunk reports file:// locations percent-encoded; manifests and containers use raw paths
                urls.extend(file_url(local_path(p)) if p.startswith("file://") else p for p in b_paths)
                offsets.append(np.asarray(b_offsets))
                lengths.append(np.asarray(b_lengths))
        finally:
            close = getattr(it, "aclose", None) or getattr(it, "close", None)
            if close is not None:
                res = close()
                if asyncio.iscoroutine(res):
                    await res
        virtual = np.concatenate(kinds).astype(bool) if kinds else np.zeros(0, dtype=bool)
        n, ndim = len(virtual), array.ndim
        grid = np.concatenate(coords).reshape(n, ndim) if coords else np.zeros((0, ndim), dtype=np.uint32)
        empty = np.zeros(0, dtype=np.uint64)
        return ArrayRefs(path, array, grid, virtual, urls, np.concatenate(offsets) if offsets else empty,
                         np.concatenate(lengths) if lengths else empty)

    return run(collect())


def reference_index(session: icechunk.Session) -> ReferenceIndex:
    """Every array of the session's snapshot with its chunk references."""
    index = ReferenceIndex()
    for path, array in _arrays(session):
        index.arrays[path] = _chunks(session, path, array)
    return index
