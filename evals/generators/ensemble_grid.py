"""Task ensemble_grid: two ensemble members x two time steps of files (runs/ens0, runs/ens1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import rel, urls, write_task
from vzskill import fixtures


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out ensemble_grid: inputs/runs/ens{0,1}/temp_{000,001}.nc (member 1 = member 0 + 1 degC)."""
    grid = fixtures.make_ensemble(task_dir / "inputs" / "runs", members=2, n_files=2)
    task = {
        "repo": {"kind": "local", "path": "output/ensemble.icechunk"},
        "sources": {"main": {"grid": [rel(task_dir, row) for row in grid], "concat_dims": ["ensemble", "time"]}},
        "virtual_urls": {"main": urls([p for row in grid for p in row])},
    }
    return write_task(task_dir, "ensemble_grid", task)
