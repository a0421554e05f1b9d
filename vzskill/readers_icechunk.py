"""Direct reads of Icechunk source repositories, for ``verify`` (registered for kind ``"icechunk"``).

The source repository is opened read-only (branch ``main``, its virtual chunk containers
authorized the way :func:`vzskill.containers.open_repo` does) and read with zarr. A reference to a
native chunk object ``<repo>/chunks/<id>`` is placed by icechunk's chunk index of that array
(``IcechunkStore.array_chunk_iterator``: chunk coordinates -> chunk id); the values compared are
the source repository's own, decoded by zarr.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from vzskill.format_icechunk import icechunk_root, remote_icechunk_root
from vzskill.source_readers import SourceFile, SourceVariable, plain_attrs, register_reader
from vzskill.sources import display_name, local_path

__all__ = ["IcechunkSource"]

_SESSIONS: dict[str, Any] = {}


def _session(root: str, registry: Any) -> Any:
    """A read-only session of the source repository: local storage, or the storage of the registry's
    store for a remote one (the caller's access: VirtualiZarr's own obstore -> icechunk translation)."""
    if root not in _SESSIONS:
        import icechunk

        from vzskill.containers import open_repo

        if root.startswith("file://"):
            storage = icechunk.local_filesystem_storage(local_path(root))
        else:
            from virtualizarr.parsers.icechunk.obstore_utils import obstore_to_icechunk_storage

            store, path = registry.resolve(root)
            storage = obstore_to_icechunk_storage(store, relative_prefix=str(path))
        _SESSIONS[root] = open_repo(storage, None).readonly_session("main")
    return _SESSIONS[root]


async def _native_ids(store: Any, path: str) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    async for coords, kinds, paths, _offsets, _lengths, _inlined in store.array_chunk_iterator(path, 100_000):
        for i, chunk_id in enumerate(paths):
            if chunk_id and int(kinds[i]) == 1:  # ChunkType.native
                out[str(chunk_id)] = tuple(int(c) for c in coords[i])
    return out


class _IcechunkVariable(SourceVariable):
    def __init__(self, name: str, array: Any, store: Any, chunk_id: str | None):
        self.name, self.array, self.store, self.chunk_id = name, array, store, chunk_id
        self.shape, self.dtype = tuple(array.shape), np.dtype(array.dtype)
        from vzskill.cf_drift import repo_attrs

        self.attrs = plain_attrs(repo_attrs(array))
        self._ids: dict[str, tuple[int, ...]] | None = None

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        return self._start(self.chunk_id)

    def locate_at(self, url: str, offset: int, length: int) -> tuple[int, ...] | None:
        """Where the native chunk object ``url`` (``<repo>/chunks/<id>``) sits in this array."""
        return self._start(url.rstrip("/").rsplit("/chunks/", 1)[1] if "/chunks/" in url else None)

    def _start(self, chunk_id: str | None) -> tuple[int, ...] | None:
        if chunk_id is None:
            return None
        if self._ids is None:
            self._ids = asyncio.run(_native_ids(self.store, "/" + self.array.path.strip("/")))
        coords = self._ids.get(chunk_id)
        return None if coords is None else tuple(c * k for c, k in zip(coords, self.array.chunks, strict=True))

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self.array[region] if region else self.array[...])


class IcechunkSource(SourceFile):
    """One Icechunk source repository (or one native chunk object of it)."""

    kind = "icechunk"

    def __init__(self, url: str, registry: Any):
        root = icechunk_root(url) if url.startswith("file://") else remote_icechunk_root(url, registry)
        if root is None:
            raise FileNotFoundError(f"{display_name(url)}: no Icechunk repository here")
        self.session = _session(root, registry)
        self.chunk_id = url.rstrip("/").rsplit("/chunks/", 1)[1] if "/chunks/" in url else None

    def variable(self, path: str) -> SourceVariable | None:
        import zarr

        try:
            array = zarr.open_array(self.session.store, path=path.strip("/"), mode="r")
        except (KeyError, FileNotFoundError, zarr.errors.NodeNotFoundError):
            return None
        return _IcechunkVariable(path, array, self.session.store, self.chunk_id)


register_reader("icechunk", IcechunkSource)
