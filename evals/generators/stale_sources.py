"""Task stale_sources: a repository written from four files; afterwards one file was rewritten, one deleted."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from evals.generators._common import commit_virtual, rel, urls, write_task
from vzskill import fixtures

NAME = "stale_sources"


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out stale_sources: inputs/archive/temp_000..003.nc, output/archive.icechunk; then change 001, delete 003."""
    import icechunk

    folder = task_dir / "inputs" / "archive"
    files = fixtures.make_series(folder, 4)
    synced_at = datetime.now(timezone.utc) - timedelta(minutes=30)
    for path in files:  # the files were last known good at synced_at
        os.utime(path, (synced_at.timestamp() - 3600, synced_at.timestamp() - 3600))
    storage = icechunk.local_filesystem_storage(str(task_dir / "output" / "archive.icechunk"))
    snapshot = commit_virtual(storage, folder, files, "virtualize temp_000..003.nc", last_updated_at=synced_at)
    changed = fixtures.sample_dataset(1)
    changed["temperature"] = changed["temperature"] + changed["temperature"].dtype.type(0.5)  # reprocessed in place
    files[1].unlink()
    changed.to_netcdf(files[1], engine="h5netcdf", encoding=fixtures.encoding_for(changed))
    files[3].unlink()
    current = files[:3]
    task = {
        "repo": {"kind": "local", "path": "output/archive.icechunk"},
        "sources": {"main": {"files": rel(task_dir, current), "concat_dim": "time"}},
        "virtual_urls": {"main": urls(current)},
        "stale": [files[1].name, files[3].name],
        "initial_snapshot": snapshot,
    }
    return write_task(task_dir, NAME, task)

