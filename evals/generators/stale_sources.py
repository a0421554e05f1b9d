"""Task stale_sources: a repository written from four files; afterwards one file was rewritten, one deleted."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.generators._common import cli, rel, urls, write_task  # noqa: E402
from vzskill import fixtures  # noqa: E402

NAME = "stale_sources"


def _write_repository(repo_path: Path, folder: Path, files: list[Path], synced_at: datetime) -> str:
    """The repository as it was written back then (plain library calls, references pinned to synced_at)."""
    import icechunk
    import virtualizarr as vz
    from icechunk.credentials import LocalFileSystemAccess
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import LocalStore
    from virtualizarr.parsers import HDFParser

    folder = folder.resolve()
    registry = ObjectStoreRegistry({f"file://{folder}": LocalStore(prefix=folder)})
    vds = vz.open_virtual_mfdataset(urls(files), registry=registry, parser=HDFParser(), combine="nested", concat_dim="time")
    prefix = f"file://{folder}/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(str(folder))))
    credentials = icechunk.containers_credentials({prefix: LocalFileSystemAccess})
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(repo_path)), config, credentials)
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store, last_updated_at=synced_at)
    return str(session.commit("virtualize temp_000..003.nc"))


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out stale_sources: inputs/archive/temp_000..003.nc, output/archive.icechunk; then change 001, delete 003."""
    folder = task_dir / "inputs" / "archive"
    files = fixtures.make_series(folder, 4)
    synced_at = datetime.now(timezone.utc) - timedelta(minutes=30)
    for path in files:  # the files were last known good at synced_at
        os.utime(path, (synced_at.timestamp() - 3600, synced_at.timestamp() - 3600))
    snapshot = _write_repository(task_dir / "output" / "archive.icechunk", folder, files, synced_at)
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


if __name__ == "__main__":
    cli(generate)
