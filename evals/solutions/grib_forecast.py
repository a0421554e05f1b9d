"""Reference solution for grib_forecast: references/formats.md "GRIB2" (a series of forecast files along time)."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['GRIB2']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """virtualize(files, repo, concat_dim="time") -> verify (every message decoded again by eccodes)."""
    import numpy as np
    import xarray as xr

    import vzskill

    root = Path(task_dir).resolve()
    files = sorted((root / "inputs" / "forecasts").glob("*.grib2"))
    location = root / "output" / "forecast.icechunk"
    vzskill.virtualize(files, location, concat_dim="time")
    report = vzskill.verify(location)
    assert report.ok, report.format_table()

    storage = vzskill.storage_for(str(location))
    forecast = xr.open_zarr(vzskill.open_repo(storage).readonly_session("main").store, consolidated=False)
    assert (np.diff(forecast["time"].values) > np.timedelta64(0, "s")).all(), forecast["time"].values


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
