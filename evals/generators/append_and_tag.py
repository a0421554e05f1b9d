"""Task append_and_tag: a first batch of two files, a later one-file batch in another folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import rel, urls, write_task
from vzskill import fixtures


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out append_and_tag: inputs/batch1/temp_000..001.nc, inputs/batch2/temp_002.nc."""
    first = fixtures.make_series(task_dir / "inputs" / "batch1", 2)
    later = fixtures.make_series(task_dir / "inputs" / "batch2", 1, start=2)
    task = {
        "repo": {"kind": "local", "path": "output/archive.icechunk"},
        "sources": {
            "v1": {"files": rel(task_dir, first), "concat_dim": "time"},
            "main": {"files": rel(task_dir, first + later), "concat_dim": "time"},
        },
        "virtual_urls": {"v1": urls(first), "main": urls(first + later)},
    }
    return write_task(task_dir, "append_and_tag", task)
