"""Task grouped_file: one NetCDF4 file with two groups, /surface and /upper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import rel, urls, write_task
from vzskill import fixtures


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out grouped_file: inputs/grouped/profiles.nc (groups surface and upper, 4 time steps each)."""
    path = fixtures.make_grouped(task_dir / "inputs" / "grouped" / "profiles.nc")
    task = {
        "repo": {"kind": "local", "path": "output/profiles.icechunk"},
        "sources": {group: {"files": rel(task_dir, [path]), "group": group} for group in ("surface", "upper")},
        "virtual_urls": {"main": urls([path])},
    }
    return write_task(task_dir, "grouped_file", task)
