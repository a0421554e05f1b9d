"""Reference solution for http_server: examples.md "HTTP file server / THREDDS"."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['HTTP file server / THREDDS']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """References to base_url/archive/temp_*.nc in a local repository output/archive.icechunk."""
    import icechunk
    import virtualizarr as vz
    import xarray as xr
    from icechunk.credentials import HttpAccess
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import HTTPStore
    from virtualizarr.parsers import HDFParser

    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _task import params
    else:
        from evals.solutions._task import params

    work_dir = Path(task_dir) / "output"
    base = params(task_dir)["base_url"]
    urls = [f"{base}/archive/temp_{i:03d}.nc" for i in range(3)]

    store = HTTPStore.from_url(base, client_options={"allow_http": base.startswith("http://")})
    registry = ObjectStoreRegistry({base: store})
    parts = [vz.open_virtual_dataset(u, registry=registry, parser=HDFParser()) for u in urls]
    vds = xr.concat(parts, dim="time", coords="minimal", compat="override", combine_attrs="override")

    prefix = f"{base}/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, icechunk.http_store()))
    credentials = icechunk.containers_credentials({prefix: HttpAccess})
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(work_dir / "archive.icechunk")),
                                      config, credentials)
    with repo.transaction("main", message="3 files over HTTP") as session_store:
        vds.vz.to_icechunk(session_store)
    ds = xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3)
    assert ds.sizes["time"] == 12


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
