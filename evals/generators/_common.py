"""Shared pieces of the eval input generators: task.json, prompt rendering, uploads.

Generators are modules with ``generate(task_dir, **params) -> task``; lay out folders from the shell with
``python evals/prepare.py ROOT NAME...`` (it starts the servers the remote tasks need).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

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


def local_task(task_dir: Path, name: str, files: list[Path], *, repo: str = "output/archive.icechunk",
               virtual: list[Path] | None = None, engine: str | None = None, params: dict[str, str] | None = None,
               **extra: Any) -> dict[str, Any]:
    """The usual task: ``files`` concatenated along time are the expected values, a local repository at
    ``repo`` (relative to the task folder) referencing ``virtual`` (default: every file); ``params`` fill the
    prompt's placeholders besides ``task_dir``."""
    source: dict[str, Any] = {"files": rel(task_dir, files), "concat_dim": "time"}
    if engine:
        source["engine"] = engine
    task = {
        "repo": {"kind": "local", "path": repo},
        "sources": {"main": source},
        "virtual_urls": {"main": urls(files if virtual is None else virtual)},
        **extra,
    }
    return write_task(task_dir, name, task, **(params or {}))


def commit_virtual(storage: Any, folder: Path, files: list[Path], message: str, **write_options: Any) -> str:
    """Create a repository in ``storage`` holding ``files`` (below ``folder``) as virtual references along
    time, with plain library calls (one container for ``folder``); returns the snapshot id."""
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
    repo = icechunk.Repository.create(storage, config, credentials)
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store, **write_options)
    return str(session.commit(message))
