"""Task local_series: three NetCDF4 files of one time series in inputs/archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import local_task
from vzskill import fixtures


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out local_series in task_dir: inputs/archive/temp_000..002.nc."""
    return local_task(task_dir, "local_series", fixtures.make_series(task_dir / "inputs" / "archive", 3))
