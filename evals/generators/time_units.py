"""Task time_units: three consecutive files, each with its own CF time units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import local_task
from vzskill import fixtures

UNITS = ("days since 2024-01-01", "hours since 2024-01-05", "minutes since 2024-01-09")


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out time_units: inputs/archive/temp_000..002.nc with days / hours / minutes since different dates."""
    folder = task_dir / "inputs" / "archive"
    files = [fixtures.write_file(folder / f"temp_{i:03d}.nc", i, time_units=units) for i, units in enumerate(UNITS)]
    return local_task(task_dir, "time_units", files)
