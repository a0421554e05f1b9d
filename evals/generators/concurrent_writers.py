"""Task concurrent_writers: a repository on S3 holding temp_000.nc; two processes append temp_001 / temp_002."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import commit_virtual, rel, s3_repo_storage, urls, write_task
from vzskill import fixtures

NAME = "concurrent_writers"
PREFIX = "archive.icechunk"


def generate(task_dir: Path, *, endpoint: str, repo_bucket: str) -> dict[str, Any]:
    """Lay out concurrent_writers: inputs/archive/temp_000..002.nc; s3://repo_bucket/archive.icechunk with temp_000."""
    folder = task_dir / "inputs" / "archive"
    files = fixtures.make_series(folder, 3)
    snapshot = commit_virtual(s3_repo_storage(endpoint, repo_bucket, PREFIX), folder, files[:1], "temp_000.nc")
    task = {
        "repo": {"kind": "s3", "endpoint": endpoint, "bucket": repo_bucket, "prefix": PREFIX},
        "sources": {"main": {"files": rel(task_dir, files), "concat_dim": "time"}},
        "virtual_urls": {"main": urls(files)},
        "initial_snapshot": snapshot,
    }
    return write_task(task_dir, NAME, task, endpoint=endpoint, repo_bucket=repo_bucket, prefix=PREFIX)

