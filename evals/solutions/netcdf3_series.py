"""Reference solution for netcdf3_series: examples.md "NetCDF3 files" (NetCDF3Parser) + "Many files,
combine=nested along time", written through the helpers' containers."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['NetCDF3 files', 'Many files, combine="nested" along time']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """NetCDF3Parser over the three files, nested along time, one commit."""
    import icechunk
    import virtualizarr as vz
    from virtualizarr.parsers import NetCDF3Parser

    import vzskill
    from vzskill.registry import build_registry

    paths = sorted((Path(task_dir).resolve() / "inputs" / "archive").glob("temp_*.nc"))
    urls = [f"file://{p}" for p in paths]
    registry = build_registry(urls)
    vds = vz.open_virtual_mfdataset(urls, registry=registry, parser=NetCDF3Parser(), combine="nested", concat_dim="time")
    storage = icechunk.local_filesystem_storage(str(Path(task_dir) / "output" / "archive.icechunk"))
    repo = vzskill.create_repo(storage, urls)
    with repo.transaction("main", message="3 NetCDF3 files") as store:
        vds.vz.to_icechunk(store)


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
