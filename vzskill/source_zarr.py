"""Raw reads of Zarr sources for :mod:`vzskill.verification`: Zarr stores (directories / object prefixes) and zipped Zarr.

A reference into a Zarr store is ``<store>/<array>/<chunk key>``: the chunk key names the block
(:class:`ZarrSource`, :func:`zarr_root`). A zipped store (``.zarr.zip``, members STORED) is one
object: a reference is a byte range of the archive, and the archive member starting at that
offset names the block (:class:`ZippedZarrSource`, read with ``zarr.storage.ZipStore``).
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

from vzskill.source_readers import SourceFile, SourceVariable, _candidates, plain_attrs, source_target
from vzskill.sources import local_path

__all__ = ["ZarrSource", "ZippedZarrSource", "is_zarr_reference", "zarr_root"]


class _ZarrVariable(SourceVariable):
    def __init__(self, name: str, arr: Any, key_prefix: str):
        self.name, self.arr, self.key_prefix = name, arr, key_prefix
        self.shape, self.dtype = tuple(arr.shape), np.dtype(arr.dtype)
        from vzskill.cf_drift import repo_attrs  # a Zarr source keeps its attributes the way the repository does

        self.attrs = plain_attrs(repo_attrs(arr))
        if arr.metadata.zarr_format == 2 and arr.metadata.fill_value is not None:
            self.attrs.setdefault("_FillValue", arr.metadata.fill_value)

    def chunk_start(self, key: str) -> tuple[int, ...] | None:
        meta = self.arr.metadata
        try:
            if meta.zarr_format == 3:
                coords = meta.chunk_key_encoding.decode_chunk_key(key)
            else:
                coords = tuple(int(c) for c in key.split(meta.dimension_separator or "."))
        except (ValueError, TypeError):
            return None
        if len(coords) != len(self.shape):
            return None
        return tuple(int(c) * int(k) for c, k in zip(coords, self.arr.chunks, strict=True))

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self.arr[region] if region else self.arr[...])


class ZarrSource(SourceFile):
    """A Zarr store: the reference path is ``<store>/<array>/<chunk key>``."""

    kind = "zarr"

    def __init__(self, root_url: str, registry: Any):
        import zarr
        from zarr.storage import LocalStore, ObjectStore

        self.root_url = root_url.rstrip("/")
        if self.root_url.startswith("file://"):
            store: Any = LocalStore(local_path(self.root_url), read_only=True)
        else:
            obj, prefix = registry.resolve(self.root_url)
            store = ObjectStore(obj, read_only=True)
            self.prefix = prefix
        self.group = zarr.open_group(store, mode="r", path=getattr(self, "prefix", "") or None)
        self.vars: dict[str, _ZarrVariable | None] = {}

    def variable(self, path: str) -> SourceVariable | None:
        if path not in self.vars:
            hit = find_array(self.group, path)
            self.vars[path] = _ZarrVariable(hit[0], hit[1], f"{self.root_url}/{hit[0]}/") if hit else None
        return self.vars[path]


def find_array(group: Any, path: str) -> tuple[str, Any] | None:
    """``(name, zarr.Array)`` of the first of ``path``'s candidate names that is an array in ``group``."""
    import zarr

    for cand in _candidates(path):
        try:
            arr = group[cand]
        except KeyError:
            continue
        if isinstance(arr, zarr.Array):
            return cand, arr
    return None


def zarr_root(url: str, var_path: str) -> tuple[str, str] | None:
    """``(store root URL, chunk key)`` of a reference into a Zarr store (None: the path does not name ``var_path``)."""
    for cand in _candidates(var_path):
        marker = f"/{cand}/"
        idx = url.rfind(marker)
        if idx > 0:
            return url[:idx], url[idx + len(marker):]
    return None


def is_zarr_reference(url: str, var_path: str) -> bool:
    """A reference into a Zarr store (a local store has ``zarr.json`` / ``.zarray`` next to the chunk key)."""
    found = zarr_root(url, var_path)
    if found is None or not url.startswith("file://"):
        return found is not None and ".zarr/" in url
    root, _ = found
    base = local_path(root)
    name = var_path.rsplit("/", 1)[-1]
    return any(os.path.exists(os.path.join(base, c, meta)) for c in _candidates(var_path) + [name]
               for meta in ("zarr.json", ".zarray"))




# --------------------------------------------------------------------------- zipped Zarr


_LOCAL_HEADER = 30  # bytes of a zip local file header before the name and extra field (APPNOTE 4.3.7)
_LOCAL_SIGNATURE = b"PK\x03\x04"


def member_offsets(fileobj: Any) -> dict[int, str]:
    """Data offset -> member name of every STORED member of a zip archive (from each member's local header)."""
    out: dict[int, str] = {}
    with zipfile.ZipFile(fileobj) as zf:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED or info.is_dir():
                continue
            fileobj.seek(info.header_offset)
            header = fileobj.read(_LOCAL_HEADER)
            if len(header) < _LOCAL_HEADER or header[:4] != _LOCAL_SIGNATURE:
                continue
            name_len = int.from_bytes(header[26:28], "little")
            extra_len = int.from_bytes(header[28:30], "little")
            out[info.header_offset + _LOCAL_HEADER + name_len + extra_len] = info.filename
    return out


class _ZippedVariable(_ZarrVariable):
    def __init__(self, name: str, arr: Any, members: dict[int, str]):
        super().__init__(name, arr, f"{name}/")
        self.members = members

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        member = self.members.get(int(offset))
        if member is None or not member.startswith(self.key_prefix):
            return None
        return self.chunk_start(member[len(self.key_prefix):])


class ZippedZarrSource(SourceFile):
    """A zipped Zarr store: a reference is a byte range of the archive; the member starting there names the chunk."""

    kind = "zarr-zip"

    def __init__(self, url: str, registry: Any):
        import zarr
        from zarr.storage import ZipStore

        target = source_target(url, registry)
        self.fh = open(target, "rb") if isinstance(target, str) else target
        self.members = member_offsets(self.fh)
        self.fh.seek(0)
        self.store = ZipStore(self.fh, mode="r")
        self.group = zarr.open_group(self.store, mode="r")
        self.vars: dict[str, _ZippedVariable | None] = {}

    def variable(self, path: str) -> SourceVariable | None:
        if path not in self.vars:
            hit = find_array(self.group, path)
            self.vars[path] = _ZippedVariable(hit[0], hit[1], self.members) if hit else None
        return self.vars[path]

    def close(self) -> None:
        self.store.close()
        close = getattr(self.fh, "close", None)
        if close is not None:
            close()
