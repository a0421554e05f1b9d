"""Reference solution for local_series: SKILL.md "The same with plain library calls", then its verification."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['The same with plain library calls']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """Virtualize inputs/archive/temp_*.nc into output/archive.icechunk and compare with the files."""
    import icechunk
    import numpy as np
    import virtualizarr as vz
    import xarray as xr
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import LocalStore
    from virtualizarr.parsers import HDFParser

    src = (Path(task_dir) / "inputs" / "archive").resolve()
    work_dir = Path(task_dir) / "output"
    paths = sorted(src.glob("temp_*.nc"))
    urls = [f"file://{p}" for p in paths]

    registry = ObjectStoreRegistry({f"file://{src}": LocalStore(prefix=src)})
    vds = vz.open_virtual_mfdataset(urls, registry=registry, parser=HDFParser(), combine="nested", concat_dim="time")

    prefix = f"file://{src}/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(str(src))))
    credentials = icechunk.containers_credentials({prefix: icechunk.credentials.LocalFileSystemAccess})
    storage = icechunk.local_filesystem_storage(str(work_dir / "archive.icechunk"))
    repo = icechunk.Repository.create(storage, config, credentials)
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("virtualize 3 NetCDF files")

    repo = icechunk.Repository.open(storage, authorize_virtual_chunk_access=credentials)
    ds = xr.open_zarr(repo.readonly_session("main").store, consolidated=False)
    expected = xr.concat([xr.open_dataset(p) for p in paths], dim="time")
    np.testing.assert_array_equal(ds["temperature"].values, expected["temperature"].values)
    np.testing.assert_array_equal(ds["time"].values, expected["time"].values)


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
