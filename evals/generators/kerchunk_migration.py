"""Task kerchunk_migration: a kerchunk (v1 JSON) reference file written by kerchunk itself, data elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.generators._common import cli, rel, urls, write_task  # noqa: E402
from vzskill import fixtures  # noqa: E402

NAME = "kerchunk_migration"


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
    task = {
        "repo": {"kind": "local", "path": "output/archive.icechunk"},
        "sources": {"main": {"files": rel(task_dir, files), "concat_dim": "time"}},
        "virtual_urls": {"main": urls(files)},
    }
    return write_task(task_dir, NAME, task)


if __name__ == "__main__":
    cli(generate)
