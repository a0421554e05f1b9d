"""Task mixed_chunks: four consecutive files, the third chunked (1, 20, 30) instead of (1, 10, 15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import local_task
from vzskill import fixtures


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out mixed_chunks: inputs/archive/temp_000..003.nc, temp_002.nc with other HDF5 chunks."""
    folder = task_dir / "inputs" / "archive"
    files = [
        fixtures.write_file(folder / f"temp_{i:03d}.nc", i, **({"chunks": (1, 20, 30)} if i == 2 else {}))
        for i in range(4)
    ]
    return local_task(task_dir, "mixed_chunks", files, virtual=[files[0], files[1], files[3]], odd_file=files[2].name)
