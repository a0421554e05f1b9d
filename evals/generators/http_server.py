"""Task http_server: files behind a Range-capable HTTP server whose document root is inputs/served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import rel, write_task
from vzskill import fixtures

NAME = "http_server"


def generate(task_dir: Path, *, base_url: str) -> dict[str, Any]:
    """Lay out http_server: inputs/served/archive/temp_000..002.nc, served at base_url/archive/ by the caller."""
    files = fixtures.make_series(task_dir / "inputs" / "served" / "archive", 3)
    base = base_url.rstrip("/")
    task = {
        "repo": {"kind": "local", "path": "output/archive.icechunk"},
        "sources": {"main": {"files": rel(task_dir, files), "concat_dim": "time"}},
        "virtual_urls": {"main": [f"{base}/archive/{p.name}" for p in files]},
    }
    return write_task(task_dir, NAME, task, base_url=base)

