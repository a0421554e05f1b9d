"""Task netcdf3_series: three NetCDF3 classic files of one time series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import local_task
from vzskill import fixtures


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out netcdf3_series: inputs/archive/temp_000..002.nc (NetCDF3 classic, scipy writer)."""
    folder = task_dir / "inputs" / "archive"
    files = [fixtures.write_file(folder / f"temp_{i:03d}.nc", i, fmt="NETCDF3_CLASSIC") for i in range(3)]
    return local_task(task_dir, "netcdf3_series", files, engine="scipy")
