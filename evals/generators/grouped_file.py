"""Task grouped_file: one NetCDF4 file with two groups, /surface and /upper."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.generators._common import cli, rel, urls, write_task  # noqa: E402
from vzskill import fixtures  # noqa: E402

NAME = "grouped_file"


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out grouped_file: inputs/grouped/profiles.nc (groups surface and upper, 4 time steps each)."""
    path = fixtures.make_grouped(task_dir / "inputs" / "grouped" / "profiles.nc")
    task = {
        "repo": {"kind": "local", "path": "output/profiles.icechunk"},
        "sources": {group: {"files": rel(task_dir, [path]), "group": group} for group in ("surface", "upper")},
        "virtual_urls": {"main": urls([path])},
    }
    return write_task(task_dir, NAME, task)


if __name__ == "__main__":
    cli(generate)
