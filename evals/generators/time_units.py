"""Task time_units: three consecutive files, each with its own CF time units."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.generators._common import cli, rel, urls, write_task  # noqa: E402
from vzskill import fixtures  # noqa: E402

NAME = "time_units"
UNITS = ("days since 2024-01-01", "hours since 2024-01-05", "minutes since 2024-01-09")


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out time_units: inputs/archive/temp_000..002.nc with days / hours / minutes since different dates."""
    folder = task_dir / "inputs" / "archive"
    files = [fixtures.write_file(folder / f"temp_{i:03d}.nc", i, time_units=units) for i, units in enumerate(UNITS)]
    task = {
        "repo": {"kind": "local", "path": "output/archive.icechunk"},
        "sources": {"main": {"files": rel(task_dir, files), "concat_dim": "time"}},
        "virtual_urls": {"main": urls(files)},
    }
    return write_task(task_dir, NAME, task)


if __name__ == "__main__":
    cli(generate)
