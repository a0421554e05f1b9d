"""Task s3_compatible: sources in a private bucket of an S3-compatible server, repository in another bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import rel, s3_store, upload, write_task
from vzskill import fixtures

NAME = "s3_compatible"


def generate(task_dir: Path, *, endpoint: str, bucket: str, repo_bucket: str) -> dict[str, Any]:
    """Lay out s3_compatible: upload temp_000..002.nc to s3://bucket/archive/ (local copies in inputs/copies)."""
    files = fixtures.make_series(task_dir / "inputs" / "copies", 3)
    upload(s3_store(endpoint, bucket), {f"archive/{p.name}": p for p in files})
    task = {
        "repo": {"kind": "s3", "endpoint": endpoint, "bucket": repo_bucket, "prefix": "archive.icechunk"},
        "sources": {"main": {"files": rel(task_dir, files), "concat_dim": "time"}},
        "virtual_urls": {"main": [f"s3://{bucket}/archive/{p.name}" for p in files]},
    }
    return write_task(task_dir, NAME, task, endpoint=endpoint, bucket=bucket, repo_bucket=repo_bucket)

