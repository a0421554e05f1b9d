"""Lay out eval task folders for a manual or agent run, with the loopback servers the remote tasks need.

Usage::

    python evals/prepare.py ROOT [NAME ...]

Creates ``ROOT/<name>/`` for every task (or the named ones) with its generator and prints each rendered
prompt (also in ``ROOT/<name>/prompt.txt``). Tasks that need servers get them on 127.0.0.1: a moto S3
server (buckets created here, keys taken from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``) and a
Range-capable HTTP server rooted at the http task's ``inputs/served``. With servers running, this
process stays in the foreground until interrupted; grade meanwhile with
``python evals/grade.py NAME ROOT/NAME`` (same environment variables).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

S3_TASKS = {"s3_compatible", "concurrent_writers"}


def _s3(state: dict[str, Any]) -> tuple[str, Any]:
    """The moto server (started once) and a boto3 client for creating buckets."""
    if "s3" not in state:
        import boto3
        from botocore.config import Config
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        _, port = server.get_host_and_port()
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              config=Config(s3={"addressing_style": "path"}))
        state["s3"] = (endpoint, client)
        state.setdefault("servers", []).append(server)
    return state["s3"]  # type: ignore[no-any-return]


def _bucket(client: Any, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    return name


def _http(task_dir: Path, state: dict[str, Any]) -> str:
    from werkzeug.exceptions import HTTPException
    from werkzeug.serving import make_server
    from werkzeug.utils import send_from_directory
    from werkzeug.wrappers import Request

    root = task_dir / "inputs" / "served"
    root.mkdir(parents=True, exist_ok=True)

    def app(environ: Any, start_response: Any) -> Any:
        path = Request(environ).path.lstrip("/")
        try:
            response = send_from_directory(root, path, environ, conditional=True)
        except HTTPException as exc:
            return exc(environ, start_response)
        return response(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.setdefault("servers", []).append(server)
    return f"http://127.0.0.1:{server.server_port}"


def params_for(name: str, task_dir: Path, state: dict[str, Any]) -> dict[str, str]:
    """The generator's keyword arguments, starting the servers it needs."""
    if name == "http_server":
        return {"base_url": _http(task_dir, state)}
    if name in S3_TASKS:
        endpoint, client = _s3(state)
        if name == "s3_compatible":
            return {"endpoint": endpoint, "bucket": _bucket(client, "src"), "repo_bucket": _bucket(client, "repo")}
        return {"endpoint": endpoint, "repo_bucket": _bucket(client, "repo")}
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("names", nargs="*", help="task names (default: all)")
    args = parser.parse_args(argv)
    evals = json.loads((ROOT / "evals" / "evals.json").read_text())["evals"]
    names = args.names or [e["name"] for e in evals]
    unknown = sorted(set(names) - {e["name"] for e in evals})
    if unknown:
        print(f"prepare.py: unknown task(s) {unknown}", file=sys.stderr)
        return 2
    if S3_TASKS & set(names) and not (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")):
        print("prepare.py: S3 tasks need AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values for the local server)", file=sys.stderr)
        return 2
    state: dict[str, Any] = {}
    for name in names:
        task_dir = (args.root / name).resolve()
        task_dir.mkdir(parents=True, exist_ok=True)
        task = importlib.import_module(f"evals.generators.{name}").generate(task_dir, **params_for(name, task_dir, state))
        print(f"== {name} ({task_dir})\n{task['prompt']}\n", flush=True)
    if state.get("servers"):
        print("servers running on 127.0.0.1; Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
