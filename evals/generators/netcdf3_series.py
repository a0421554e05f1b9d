"""Task netcdf3_series: three NetCDF3 classic files of one time series."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.generators._common import cli, rel, urls, write_task  # noqa: E402
from vzskill import fixtures  # noqa: E402

NAME = "netcdf3_series"


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out netcdf3_series: inputs/archive/temp_000..002.nc (NetCDF3 classic, scipy writer)."""
    folder = task_dir / "inputs" / "archive"
    files = [fixtures.write_file(folder / f"temp_{i:03d}.nc", i, fmt="NETCDF3_CLASSIC") for i in range(3)]
    task = {
        "repo": {"kind": "local", "path": "output/archive.icechunk"},
        "sources": {"main": {"files": rel(task_dir, files), "concat_dim": "time", "engine": "scipy"}},
        "virtual_urls": {"main": urls(files)},
    }
    return write_task(task_dir, NAME, task)


if __name__ == "__main__":
    cli(generate)
