"""Task concurrent_writers: a repository on S3 holding temp_000.nc; two processes append temp_001 / temp_002."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evals.generators._common import cli, rel, s3_repo_storage, urls, write_task  # noqa: E402
from vzskill import fixtures  # noqa: E402

NAME = "concurrent_writers"
PREFIX = "archive.icechunk"


def _first_commit(storage: Any, folder: Path, first: Path) -> str:
    """The repository with the first file (plain library calls)."""
    import icechunk
    import virtualizarr as vz
    from icechunk.credentials import LocalFileSystemAccess
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import LocalStore
    from virtualizarr.parsers import HDFParser

    folder = folder.resolve()
    registry = ObjectStoreRegistry({f"file://{folder}": LocalStore(prefix=folder)})
    vds = vz.open_virtual_dataset(urls([first])[0], registry=registry, parser=HDFParser())
    prefix = f"file://{folder}/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(str(folder))))
    credentials = icechunk.containers_credentials({prefix: LocalFileSystemAccess})
    repo = icechunk.Repository.create(storage, config, credentials)
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    return str(session.commit("temp_000.nc"))


def generate(task_dir: Path, *, endpoint: str, repo_bucket: str) -> dict[str, Any]:
    """Lay out concurrent_writers: inputs/archive/temp_000..002.nc; s3://repo_bucket/archive.icechunk with temp_000."""
    folder = task_dir / "inputs" / "archive"
    files = fixtures.make_series(folder, 3)
    snapshot = _first_commit(s3_repo_storage(endpoint, repo_bucket, PREFIX), folder, files[0])
    task = {
        "repo": {"kind": "s3", "endpoint": endpoint, "bucket": repo_bucket, "prefix": PREFIX},
        "sources": {"main": {"files": rel(task_dir, files), "concat_dim": "time"}},
        "virtual_urls": {"main": urls(files)},
        "initial_snapshot": snapshot,
    }
    return write_task(task_dir, NAME, task, endpoint=endpoint, repo_bucket=repo_bucket, prefix=PREFIX)


if __name__ == "__main__":
    cli(generate, "endpoint", "repo_bucket")
