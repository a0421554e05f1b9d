"""Task hdf4_granule: one HDF4 granule (pyhdf) with three DEFLATE-compressed SDS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import rel, urls, write_task
from vzskill import format_fixtures

NAMES = ("counts", "reflectance", "cloud_fraction")


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out hdf4_granule: inputs/granules/MOD_L2.A2024001.hdf (SDS 40 x 60: int16 counts, float32 others)."""
    path = format_fixtures.make_hdf4(task_dir / "inputs" / "granules" / "MOD_L2.A2024001.hdf", names=NAMES, shape=(40, 60))
    # VirtualiZarr's HDF4Parser names the dims <sds>_x, <sds>_y (references/formats.md, "HDF4")
    source = {"engine": "pyhdf", "files": rel(task_dir, [path]), "dims": {n: [f"{n}_x", f"{n}_y"] for n in NAMES}}
    task = {"repo": {"kind": "local", "path": "output/granule.icechunk"}, "sources": {"main": source},
            "virtual_urls": {"main": urls([path])}}
    return write_task(task_dir, "hdf4_granule", task)
