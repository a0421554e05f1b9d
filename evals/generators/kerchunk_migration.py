"""Task kerchunk_migration: a kerchunk (v1 JSON) reference file written by kerchunk itself, data elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import local_task
from vzskill import fixtures

from evals.generators._common import urls


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out kerchunk_migration: inputs/data/temp_000..002.nc and inputs/refs/archive.json (kerchunk combine)."""
    import json

    from kerchunk.combine import MultiZarrToZarr
    from kerchunk.hdf import SingleHdf5ToZarr

    files = fixtures.make_series(task_dir / "inputs" / "data", 3)
    singles = []
    for path, url in zip(files, urls(files), strict=True):
        with open(path, "rb") as handle:
            singles.append(SingleHdf5ToZarr(handle, url, inline_threshold=0).translate())  # no data inlined
    combined = MultiZarrToZarr(singles, concat_dims=["time"], identical_dims=["lat", "lon"], inline_threshold=0).translate()
    refs = task_dir / "inputs" / "refs" / "archive.json"
    refs.parent.mkdir(parents=True, exist_ok=True)
    refs.write_text(json.dumps(combined))
    return local_task(task_dir, "kerchunk_migration", files)
