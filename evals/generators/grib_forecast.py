"""Task grib_forecast: three daily GRIB2 forecast files (eccodes), each with steps 0, 6, 12 h of 2 m temperature
and dew point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import rel, urls, write_task
from vzskill import format_fixtures

DATES = (20240101, 20240102, 20240103)


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out grib_forecast: inputs/forecasts/fc_20240101..03.grib2 (6 messages each, written by eccodes)."""
    folder = task_dir / "inputs" / "forecasts"
    files = [format_fixtures.make_grib(folder / f"fc_{date}.grib2", date=date, steps=(0, 6, 12), fields=("2t", "2d"))
             for date in DATES]
    source = {"engine": "eccodes", "files": rel(task_dir, files), "fields": {"tmp": "2t", "dpt": "2d"}}
    task = {"repo": {"kind": "local", "path": "output/forecast.icechunk"}, "sources": {"main": source},
            "virtual_urls": {"main": urls(files)}}
    return write_task(task_dir, "grib_forecast", task)
