"""Task mixed_chunks: four consecutive files, the third chunked (1, 20, 30) instead of (1, 10, 15)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.generators._common import cli, rel, urls, write_task  # noqa: E402
from vzskill import fixtures  # noqa: E402

NAME = "mixed_chunks"


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out mixed_chunks: inputs/archive/temp_000..003.nc, temp_002.nc with other HDF5 chunks."""
    folder = task_dir / "inputs" / "archive"
    files = [
        fixtures.write_file(folder / f"temp_{i:03d}.nc", i, **({"chunks": (1, 20, 30)} if i == 2 else {}))
        for i in range(4)
    ]
    task = {
        "repo": {"kind": "local", "path": "output/archive.icechunk"},
        "sources": {"main": {"files": rel(task_dir, files), "concat_dim": "time"}},
        "virtual_urls": {"main": urls([files[0], files[1], files[3]])},
        "odd_file": files[2].name,
    }
    return write_task(task_dir, NAME, task)


if __name__ == "__main__":
    cli(generate)
