"""Task big_archive_batches: a long series of small NetCDF4 files (200 by default), to be committed in batches of
at most N chunk references (1000 by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import local_task
from vzskill import fixtures


def generate(task_dir: Path, n_files: int = 200, batch_refs: int = 1000) -> dict[str, Any]:
    """Lay out big_archive_batches: inputs/archive/temp_000..199.nc (32 chunk references each: temperature and
    precipitation, 16 chunks per file)."""
    files = fixtures.make_series(task_dir / "inputs" / "archive", n_files)
    sizes = {"time": 4 * n_files, "lat": 20, "lon": 30}
    return local_task(task_dir, "big_archive_batches", files, batch_refs=batch_refs, sizes=sizes,
                      params={"n_files": str(n_files), "batch_refs": str(batch_refs)})
