"""Reference solution for concurrent_writers.

What the skill shows: examples.md "Conflicts and rebase" (two writers that both append along time
cannot be rebased: on ConflictError open a new writable session and redo the append, or serialize the
appends), references/remote.md "S3-compatible endpoint with the vzskill helpers" (storage + open_repo
with keys from the environment). Retries land in commit order, so each writer also waits for its turn:
it appends only when the stored time axis ends right before its file's first time step.

``python concurrent_writers.py TASK_DIR`` copies this script to TASK_DIR/output/writer.py and starts
one writer process per file; ``python writer.py append TASK_DIR FILE`` is one writer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

SHOWN_IN = ['Conflicts and rebase', 'S3-compatible endpoint with the vzskill helpers']  # headings / gotchas of the installed skill this copies from
FILES = ("temp_001.nc", "temp_002.nc")


def append_one(task_dir: Path, path: Path, timeout: float = 90.0) -> str:
    """Append ``path`` along time once, in time order, retrying on ConflictError; returns what happened."""
    import icechunk
    import virtualizarr as vz
    import vzskill
    import xarray as xr
    from virtualizarr.parsers import HDFParser

    given = json.loads((task_dir / "task.json").read_text())["params"]
    endpoint = given["endpoint"]
    access = vzskill.Access(endpoint=endpoint, access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                            secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
    storage = icechunk.s3_storage(bucket=given["repo_bucket"], prefix=given["prefix"], endpoint_url=endpoint,
                                  region=access.s3_region, allow_http=access.uses_http, force_path_style=True,
                                  access_key_id=access.access_key_id, secret_access_key=access.secret_access_key)
    url = f"file://{path.resolve()}"
    step = vz.open_virtual_dataset(url, registry=vzskill.build_registry([url]), parser=HDFParser())
    first, spacing = step["time"].values[0], step["time"].values[1] - step["time"].values[0]
    deadline = time.monotonic() + timeout
    conflicts = 0
    while time.monotonic() < deadline:
        repo = vzskill.open_repo(storage, access)
        session = repo.writable_session("main")
        stored = xr.open_zarr(session.store, consolidated=False, zarr_format=3)["time"].values
        if first in stored:
            return f"{path.name}: already in the repository"
        if stored[-1] + spacing == first:  # our turn: the axis ends right before this file
            step.vz.to_icechunk(session.store, append_dim="time")
            try:
                session.commit(f"append {path.name}")
                return f"{path.name}: appended after {conflicts} conflict(s)"
            except icechunk.ConflictError:
                conflicts += 1  # another writer committed first: re-read and redo
                continue
        time.sleep(0.2)
    raise TimeoutError(f"{path.name}: the time axis never reached {first} (is the preceding file being appended?)")


def solve(task_dir: Path) -> None:
    """Start one writer process per new file at the same time; both must succeed."""
    task_dir = Path(task_dir).resolve()
    writer = task_dir / "output" / "writer.py"
    writer.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(__file__, writer)
    # the later file first, so that it has to wait for its turn
    procs = [subprocess.Popen([sys.executable, str(writer), "append", str(task_dir), str(task_dir / "inputs" / "archive" / name)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in reversed(FILES)]
    outcomes = [(p, *p.communicate(timeout=180)) for p in procs]
    failed = [err.strip().splitlines()[-1:] for p, _out, err in outcomes if p.returncode != 0]
    assert not failed, failed


if __name__ == "__main__":
    if sys.argv[1] == "append":
        print(append_one(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        solve(Path(sys.argv[1]))
