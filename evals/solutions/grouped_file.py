"""Reference solution for grouped_file: examples.md "Whole files with groups: open_virtual_datatree"."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['Whole files with groups: open_virtual_datatree']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """open_virtual_datatree -> every group written in one commit; read back per group."""
    import icechunk
    import numpy as np
    import virtualizarr as vz
    import xarray as xr
    from virtualizarr.parsers import HDFParser

    import vzskill
    from vzskill.registry import build_registry

    path = Path(task_dir).resolve() / "inputs" / "grouped" / "profiles.nc"
    url = f"file://{path}"
    tree = vz.open_virtual_datatree(url, registry=build_registry([url]), parser=HDFParser())
    storage = icechunk.local_filesystem_storage(str(Path(task_dir) / "output" / "profiles.icechunk"))
    repo = vzskill.create_repo(storage, [url])
    with repo.transaction("main", message="all groups") as store:
        tree.vz.to_icechunk(store)

    read = xr.open_datatree(repo.readonly_session("main").store, engine="zarr", consolidated=False, zarr_format=3)
    for group in ["surface", "upper"]:
        src = xr.open_dataset(path, engine="h5netcdf", group=group)
        for name in ["temperature", "precipitation", "time", "lat", "lon"]:
            np.testing.assert_array_equal(read[group][name].values, src[name].values)


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
