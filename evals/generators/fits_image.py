"""Task fits_image: one FITS image (primary HDU, float32, big-endian)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import rel, urls, write_task
from vzskill import fixtures


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out fits_image: inputs/images/frame.fits, 96 x 80."""
    path = fixtures.make_fits(task_dir / "inputs" / "images" / "frame.fits", shape=(96, 80))
    source = {"files": rel(task_dir, [path]), "engine": "fits", "variable": "PRIMARY", "dims": ["PRIMARY_y", "PRIMARY_x"]}
    task = {"repo": {"kind": "local", "path": "output/frame.icechunk"}, "sources": {"main": source}, "virtual_urls": {"main": urls([path])}}
    return write_task(task_dir, "fits_image", task)
