"""Reference solution for append_and_tag: examples.md "Appending along time" + "Version control" (tags)."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['Appending along time', 'Version control: branches, tags, history, diff, reset']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """batch1 -> main, tag v1; batch2/temp_002.nc appended (new container first), tag v2."""
    import icechunk
    import virtualizarr as vz
    import xarray as xr
    from virtualizarr.parsers import HDFParser

    import vzskill
    from vzskill.containers import add_containers
    from vzskill.registry import build_registry

    data = Path(task_dir).resolve() / "inputs" / "batch1"
    urls = [f"file://{f}" for f in sorted(data.glob("temp_*.nc"))]
    registry = build_registry(urls)
    storage = icechunk.local_filesystem_storage(str(Path(task_dir) / "output" / "archive.icechunk"))
    repo = vzskill.create_repo(storage, urls)
    vds = vz.open_virtual_mfdataset(urls, registry=registry, parser=HDFParser())
    with repo.transaction("main", message="batch1") as store:
        vds.vz.to_icechunk(store)                          # first write: no append_dim
    repo.create_tag("v1", snapshot_id=repo.lookup_branch("main"))

    late = f"file://{Path(task_dir).resolve() / 'inputs' / 'batch2' / 'temp_002.nc'}"
    repo = add_containers(storage, [late])
    step = vz.open_virtual_dataset(late, registry=build_registry([late]), parser=HDFParser())
    with repo.transaction("main", message="temp_002.nc") as store:
        step.vz.to_icechunk(store, append_dim="time")
    repo.create_tag("v2", snapshot_id=repo.lookup_branch("main"))

    tagged = xr.open_zarr(repo.readonly_session(tag="v1").store, consolidated=False, zarr_format=3)
    assert tagged.sizes["time"] == 8


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
