"""Reference solution for geotiff_daily: references/formats.md "TIFF and Cloud-Optimized GeoTIFF" (a folder of
same-shaped GeoTIFFs stacked along a new dimension named with concat_dim); the new dimension's values with
coords= as examples.md "2-D nested combine" gives the member names."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['TIFF and Cloud-Optimized GeoTIFF', '2-D nested combine: ensemble x time']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """The daily files in date order (their names sort by date) -> virtualize(..., concat_dim="time",
    coords={"time": dates}) -> verify."""
    import numpy as np

    import vzskill

    root = Path(task_dir).resolve()
    daily = sorted((root / "inputs" / "daily").glob("sst_*.tif"))
    location = root / "output" / "daily.icechunk"
    dates = np.array([path.stem.removeprefix("sst_") for path in daily], dtype="datetime64[ns]")
    vzskill.virtualize(daily, location, concat_dim="time", coords={"time": dates})
    report = vzskill.verify(location)
    assert report.ok, report.format_table()    # every tile read back through tifffile and compared


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
