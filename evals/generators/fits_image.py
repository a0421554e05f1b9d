"""Task fits_image: one FITS image (primary HDU, float32, big-endian)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.generators._common import cli, rel, urls, write_task  # noqa: E402
from vzskill import fixtures  # noqa: E402

NAME = "fits_image"


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out fits_image: inputs/images/frame.fits, 96 x 80."""
    path = fixtures.make_fits(task_dir / "inputs" / "images" / "frame.fits", shape=(96, 80))
    task = {
        "repo": {"kind": "local", "path": "output/frame.icechunk"},
        "sources": {"main": {"files": rel(task_dir, [path]), "engine": "fits", "variable": "PRIMARY",
                             "dims": ["PRIMARY_y", "PRIMARY_x"]}},
        "virtual_urls": {"main": urls([path])},
    }
    return write_task(task_dir, NAME, task)


if __name__ == "__main__":
    cli(generate)
