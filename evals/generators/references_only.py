"""Task references_only: three NetCDF4 files; the repository may hold references only, coordinates included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import local_task
from vzskill import fixtures


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out references_only: inputs/archive/temp_000..002.nc (the same series as local_series)."""
    return local_task(task_dir, "references_only", fixtures.make_series(task_dir / "inputs" / "archive", 3))
