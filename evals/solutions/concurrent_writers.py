"""Reference solution for concurrent_writers: references/versioning.md "Concurrent appends from separate
processes" (one `vzskill virtualize --append` process per new file, all started together; a lost race is
redone from the new tip and each file is placed by its coordinate values, so the time axis stays in order).

The repository exists already (the generator wrote temp_000.nc); the writer script goes to
TASK_DIR/output/append_one.sh (no keys in it: they come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

SHOWN_IN = ['Concurrent appends from separate processes']  # headings / gotchas of the installed skill this copies from
FILES = ("temp_001.nc", "temp_002.nc")


def solve(task_dir: Path) -> None:
    """Write the one-file writer, start one process per new file at the same time; both must succeed."""
    task_dir = Path(task_dir).resolve()
    given = json.loads((task_dir / "task.json").read_text())["params"]
    endpoint = given["endpoint"]
    repo_url = f"s3://{given['repo_bucket']}/{given['prefix']}"
    cli = [sys.executable, "-m", "vzskill", "virtualize", "--repo", repo_url, "--append", "--json",
           "--endpoint", endpoint, "--region", "us-east-1"]
    writer = task_dir / "output" / "append_one.sh"
    writer.write_text(f'#!/bin/sh\n# usage: append_one.sh FILE (keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)\nexec {shlex.join(cli)} "$1"\n')

    files = [task_dir / "inputs" / "archive" / name for name in FILES]
    procs = [subprocess.Popen(["sh", str(writer), str(f)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for f in reversed(files)]                       # the later file first: it must not land first
    outcomes = [(p.communicate(timeout=240), p.returncode) for p in procs]
    assert [code for _, code in outcomes] == [0] * len(procs), [err for (_, err), _ in outcomes]


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
