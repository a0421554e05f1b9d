"""Shared pieces of the eval input generators: task.json, prompt rendering, uploads, the CLI."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

EVALS = Path(__file__).resolve().parents[1] / "evals.json"
REGION = "us-east-1"


def eval_entry(name: str) -> dict[str, Any]:
    """The entry of evals.json named ``name``."""
    for entry in json.loads(EVALS.read_text())["evals"]:
        if entry["name"] == name:
            return dict(entry)
    raise KeyError(name)


def urls(paths: Iterable[Path]) -> list[str]:
    """Absolute ``file://`` URLs (as the references store them)."""
    return [f"file://{Path(p).resolve()}" for p in paths]


def rel(task_dir: Path, paths: Iterable[Path]) -> list[str]:
    return [str(Path(p).resolve().relative_to(task_dir.resolve())) for p in paths]


def write_task(task_dir: Path, name: str, task: dict[str, Any], **params: str) -> dict[str, Any]:
    """Render the prompt with ``task_dir`` + ``params``, write task.json and prompt.txt, create output/."""
    entry = eval_entry(name)
    prompt = entry["prompt"].format(task_dir=task_dir.resolve(), **params)
    full = {"task": name, "id": entry["id"], "prompt": prompt, "params": params, **task}
    (task_dir / "output").mkdir(parents=True, exist_ok=True)
    (task_dir / "task.json").write_text(json.dumps(full, indent=2))
    (task_dir / "prompt.txt").write_text(prompt + "\n")
    return full


def s3_store(endpoint: str, bucket: str) -> Any:
    """An obstore S3Store for ``bucket`` on an S3-compatible ``endpoint`` (keys from AWS_* variables)."""
    from obstore.store import S3Store

    return S3Store(
        bucket, endpoint=endpoint, region=REGION, client_options={"allow_http": endpoint.startswith("http://")},
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"], secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )


def upload(store: Any, files: dict[str, Path]) -> None:
    """Put each local file at its key."""
    import obstore

    for key, path in files.items():
        obstore.put(store, key, path.read_bytes())


def s3_repo_storage(endpoint: str, bucket: str, prefix: str) -> Any:
    import icechunk

    return icechunk.s3_storage(
        bucket=bucket, prefix=prefix, endpoint_url=endpoint, region=REGION, allow_http=endpoint.startswith("http://"),
        force_path_style=True, access_key_id=os.environ["AWS_ACCESS_KEY_ID"], secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )


def cli(generate: Callable[..., dict[str, Any]], *needs: str) -> None:
    """``python evals/generators/<name>.py TASK_DIR [--endpoint ...]``: lay out the task folder."""
    parser = argparse.ArgumentParser(description=(generate.__doc__ or "").splitlines()[0])
    parser.add_argument("task_dir", type=Path)
    for need in needs:
        parser.add_argument(f"--{need.replace('_', '-')}", required=True)
    args = parser.parse_args()
    args.task_dir.mkdir(parents=True, exist_ok=True)
    task = generate(args.task_dir, **{need: getattr(args, need) for need in needs})
    print(task["prompt"])
