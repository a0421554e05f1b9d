"""Task references_only: three NetCDF4 files; the repository may hold references only, coordinates included."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.generators._common import cli, rel, urls, write_task  # noqa: E402
from vzskill import fixtures  # noqa: E402

NAME = "references_only"


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out references_only: inputs/archive/temp_000..002.nc."""
    files = fixtures.make_series(task_dir / "inputs" / "archive", 3)
    task = {
        "repo": {"kind": "local", "path": "output/archive.icechunk"},
        "sources": {"main": {"files": rel(task_dir, files), "concat_dim": "time"}},
        "virtual_urls": {"main": urls(files)},
    }
    return write_task(task_dir, NAME, task)


if __name__ == "__main__":
    cli(generate)
