"""Repositories for the verify tests, written with plain VirtualiZarr + icechunk calls (no vzskill writer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import icechunk
from icechunk.credentials import LocalFileSystemAccess
import xarray as xr
from obspec_utils.registry import ObjectStoreRegistry
from obstore.store import LocalStore
from virtualizarr import open_virtual_dataset
from virtualizarr.parsers import FITSParser, HDFParser, KerchunkJSONParser, NetCDF3Parser, ZarrParser, ZippedZarrParser


def flat(nested: Any) -> list[Any]:
    return [x for item in nested for x in flat(item)] if isinstance(nested, (list, tuple)) else [nested]


def nest(flat_items: list[Any], like: Any) -> Any:
    it = iter(flat_items)

    def build(shape: Any) -> Any:
        return [build(x) for x in shape] if isinstance(shape, (list, tuple)) else next(it)

    return build(like)


def parser_for(path: str) -> Any:
    if path.endswith(".json"):
        return KerchunkJSONParser()
    if path.endswith(".zarr.zip"):
        return ZippedZarrParser()
    if path.rstrip("/").endswith(".zarr"):
        return ZarrParser()
    if path.endswith((".fits", ".fit")):
        return FITSParser()
    with open(path, "rb") as fh:
        head = fh.read(4)
    return NetCDF3Parser() if head[:3] == b"CDF" else HDFParser()


def registry_for(root: Path) -> ObjectStoreRegistry:
    return ObjectStoreRegistry({root.as_uri(): LocalStore(prefix=root)})


def open_one(path: str | Path, root: Path, **kwargs: Any) -> xr.Dataset:
    path = str(path)
    return open_virtual_dataset(Path(path).as_uri(), registry=registry_for(root), parser=parser_for(path), **kwargs)


def create(repo_path: str | Path, roots: list[Path]) -> icechunk.Repository:
    storage = icechunk.local_filesystem_storage(str(repo_path))
    config = icechunk.RepositoryConfig.default()
    for root in roots:
        config.set_virtual_chunk_container(
            icechunk.VirtualChunkContainer(root.as_uri() + "/", icechunk.local_filesystem_store(str(root))))
    return icechunk.Repository.create(storage, config, authorize_virtual_chunk_access={r.as_uri() + "/": LocalFileSystemAccess for r in roots})


def write_repo(repo_path: str | Path, files: Any, *, concat_dim: Any = "time", root: Path | None = None,
               extra_roots: list[Path] | None = None, last_updated_at: Any = None,
               combine_attrs: str = "drop_conflicts", data_vars: str = "minimal", **open_kwargs: Any) -> icechunk.Storage:
    """Virtualize ``files`` (a list, or a nested list for an N-D grid with ``concat_dim`` a list) and commit."""
    paths = [str(p) for p in flat(files)]
    root = root or Path(os.path.commonpath([os.path.dirname(p) for p in paths]))
    parts = [open_one(p, root, **open_kwargs) for p in paths]
    if len(parts) == 1 and concat_dim is None:
        vds = parts[0]
    else:
        vds = xr.combine_nested(nest(parts, files), concat_dim=concat_dim, coords="minimal", compat="override",
                                data_vars=data_vars, combine_attrs=combine_attrs)
    repo = create(repo_path, [root, *(extra_roots or [])])
    session = repo.writable_session("main")
    kwargs = {"last_updated_at": last_updated_at} if last_updated_at is not None else {}
    vds.vz.to_icechunk(session.store, **kwargs)
    session.commit("refs")
    return icechunk.local_filesystem_storage(str(repo_path))
