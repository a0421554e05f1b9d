"""Grade a finished eval task folder against the machine-checkable expectations in evals.json.

Usage::

    python evals/grade.py TASK_ID TASK_DIR [--json]
    python evals/grade.py --all ROOT [--json]      # every ROOT/<name> folder; pass rate (skill-creator benchmark)

``TASK_ID`` is the eval's ``id`` (integer) or ``name``; ``TASK_DIR`` is the folder the task's
generator laid out (it holds ``task.json``: where the repository is, which files it must match).
The repository is opened read-only with plain icechunk calls (no vzskill code is trusted here);
values are compared with the source files read by their format's own library (evals/sources.py:
xarray with h5netcdf / scipy, astropy, eccodes, tifffile, pyhdf).

Exit status: 0 every check passed, 1 at least one failed, 2 usage error (unknown task, no task.json).
S3 repositories and sources use the keys in ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: python evals/grade.py
    sys.path.insert(0, str(ROOT))

from evals.sources import source_dataset  # noqa: E402 - after the path set-up above

EVALS = ROOT / "evals" / "evals.json"
SCANNED_SUFFIXES = {".py", ".sh", ".txt", ".json", ".md", ".cfg", ".toml", ".yaml", ".yml", ".env", ".ini", ""}


class GradeError(Exception):
    """The task folder or task id cannot be graded at all (exit 2)."""


@dataclass
class Result:
    kind: str
    text: str
    passed: bool
    detail: str


# --------------------------------------------------------------------------- task + repository


def load_eval(task_id: str) -> dict[str, Any]:
    """The eval entry of ``evals.json`` whose id or name is ``task_id``."""
    evals = json.loads(EVALS.read_text())["evals"]
    for entry in evals:
        if str(entry["id"]) == str(task_id) or entry["name"] == task_id:
            return entry
    names = ", ".join(f"{e['id']}={e['name']}" for e in evals)
    raise GradeError(f"unknown task {task_id!r} -> one of {names}")


def load_task(task_dir: Path) -> dict[str, Any]:
    path = task_dir / "task.json"
    if not path.is_file():
        raise GradeError(f"{path}: missing -> lay the task out first: python evals/prepare.py ROOT NAME (TASK_DIR = ROOT/NAME)")
    return dict(json.loads(path.read_text()))


def _keys() -> tuple[str, str] | None:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    return (key, secret) if key and secret else None


def repo_storage(task: dict[str, Any], task_dir: Path) -> Any:
    """The icechunk Storage of the task's repository (local path relative to the task folder, or S3)."""
    import icechunk

    spec = task["repo"]
    if spec["kind"] == "local":
        return icechunk.local_filesystem_storage(str(task_dir / spec["path"]))
    key, secret = _keys() or (None, None)
    return icechunk.s3_storage(
        bucket=spec["bucket"], prefix=spec["prefix"], endpoint_url=spec.get("endpoint"), region=spec.get("region", "us-east-1"),
        allow_http=str(spec.get("endpoint", "")).startswith("http://"), force_path_style=bool(spec.get("endpoint")),
        access_key_id=key, secret_access_key=secret, anonymous=key is None,
    )


def _credential(prefix: str) -> Any:
    import icechunk
    from icechunk.credentials import HttpAccess, LocalFileSystemAccess

    if prefix.startswith("file://"):
        return LocalFileSystemAccess
    if prefix.startswith(("http://", "https://")):
        return HttpAccess
    keys = _keys()
    if keys is None:
        return icechunk.s3_anonymous_credentials()
    return icechunk.s3_credentials(access_key_id=keys[0], secret_access_key=keys[1])


def open_repository(task: dict[str, Any], task_dir: Path) -> Any:
    """Open the repository read-only, authorizing every container it declares (None if absent)."""
    import icechunk

    storage = repo_storage(task, task_dir)
    if not icechunk.Repository.exists(storage):
        return None
    config = icechunk.Repository.fetch_config(storage)
    prefixes = list(config.virtual_chunk_containers) if config is not None and config.virtual_chunk_containers else []
    credentials = icechunk.containers_credentials({p: _credential(p) for p in prefixes})
    return icechunk.Repository.open(storage, authorize_virtual_chunk_access=credentials)


def session_for(repo: Any, ref: str) -> Any:
    """``"main"`` -> branch, ``"tag:v1"`` -> tag."""
    if ref.startswith("tag:"):
        return repo.readonly_session(tag=ref[4:])
    return repo.readonly_session(branch=ref)


def open_dataset(session: Any, group: str | None = None, *, raw: bool = False) -> Any:
    """The repository as xarray sees it; ``raw``: stored values, no scale_factor / add_offset / fill masking."""
    import xarray as xr

    return xr.open_zarr(session.store, group=group, consolidated=False, zarr_format=3, mask_and_scale=not raw)


# --------------------------------------------------------------------------- checks


@dataclass
class Context:
    task: dict[str, Any]
    task_dir: Path
    repo: Any


def _ref(ctx: Context, check: dict[str, Any]) -> Any:
    if ctx.repo is None:
        raise AssertionError(f"no repository at {ctx.task['repo']}")
    return session_for(ctx.repo, check.get("ref", "main"))


def check_repo_opens(ctx: Context, check: dict[str, Any]) -> str:
    session = _ref(ctx, check)
    return f"{check.get('ref', 'main')} -> snapshot {session.snapshot_id}"


def check_variables(ctx: Context, check: dict[str, Any]) -> str:
    ds = open_dataset(_ref(ctx, check), check.get("group"))
    found = sorted(ds.data_vars)
    assert found == sorted(check["names"]), f"data variables {found}, expected {sorted(check['names'])}"
    return f"data variables {found}"


def check_sizes(ctx: Context, check: dict[str, Any]) -> str:
    ds = open_dataset(_ref(ctx, check), check.get("group"))
    sizes, wanted = dict(ds.sizes), check["sizes"]
    wanted = ctx.task[wanted] if isinstance(wanted, str) else wanted  # a task.json key: sizes set by the generator
    assert sizes == wanted, f"sizes {sizes}, expected {wanted}"
    return f"sizes {sizes}"


def check_time_increasing(ctx: Context, check: dict[str, Any]) -> str:
    import numpy as np

    ds = open_dataset(_ref(ctx, check), check.get("group"))
    dim = check.get("dim", "time")
    assert dim in ds.variables, f"no {dim} coordinate stored (dimension {dim}: {ds.sizes.get(dim, 'absent')})"
    values = ds[dim].values
    steps = np.diff(values)
    assert values.size > 0 and bool((steps > np.zeros((), dtype=steps.dtype)).all()), f"not strictly increasing: {values[:3]} ... {values[-3:]}"
    return f"{values.size} values, {values[0]} .. {values[-1]}"


def check_values_equal(ctx: Context, check: dict[str, Any]) -> str:
    import numpy as np

    ds = open_dataset(_ref(ctx, check), check.get("group"), raw=bool(check.get("raw")))
    expected = source_dataset(ctx.task["sources"][check.get("source", "main")], ctx.task_dir)
    for name in check["variables"]:
        assert name in ds.variables, f"{name!r} not in the repository"
        actual, wanted = ds[name], expected[name]
        assert actual.dims == wanted.dims, f"{name}: dims {actual.dims}, source {wanted.dims}"
        np.testing.assert_array_equal(actual.values, wanted.values, err_msg=name)
    return f"{', '.join(check['variables'])} equal to the sources" + (" (raw stored values)" if check.get("raw") else "")


def _chunk_grid(session: Any, name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    import zarr

    array = zarr.open_group(session.store, mode="r")[name.lstrip("/")]
    assert isinstance(array, zarr.Array), f"{name} is not an array"
    return tuple(array.shape), tuple(array.chunks)


def check_chunks(ctx: Context, check: dict[str, Any]) -> str:
    """Every chunk virtual, except those along the first axis inside ``stored`` ranges: stored in the repo."""
    import icechunk
    import numpy as np

    session = _ref(ctx, check)
    stored = [tuple(r) for r in check.get("stored", [])]
    counts = {"virtual": 0, "stored": 0}
    prefix = f"/{check['group']}" if check.get("group") else ""
    for name in check["variables"]:
        shape, chunks = _chunk_grid(session, f"{prefix}/{name}")
        for index in np.ndindex(*[math.ceil(s / c) for s, c in zip(shape, chunks, strict=True)]):
            kind = session.chunk_type(f"{prefix}/{name}", list(index))
            start = index[0] * chunks[0]
            want_stored = any(lo <= start < hi for lo, hi in stored)
            if want_stored:
                assert kind in (icechunk.ChunkType.native, icechunk.ChunkType.inline), f"{name} chunk {index}: {kind}, expected stored"
            else:
                assert kind == icechunk.ChunkType.virtual, f"{name} chunk {index}: {kind}, expected virtual"
            counts["stored" if want_stored else "virtual"] += 1
    return f"{counts['virtual']} virtual, {counts['stored']} stored chunks"


def check_references(ctx: Context, check: dict[str, Any]) -> str:
    """The distinct virtual chunk locations are exactly the expected source URLs."""
    locations = sorted(set(_ref(ctx, check).all_virtual_chunk_locations()))
    wanted = sorted(ctx.task["virtual_urls"][check.get("source", "main")])
    assert locations == wanted, f"references point at {locations}, expected {wanted}"
    return f"{len(locations)} source files referenced"


def _kept_snapshot(ctx: Context, keeps: str | None) -> str | None:
    """``"tag:v1"`` -> the tag's snapshot; another name -> that task.json entry (e.g. initial_snapshot)."""
    if not keeps:
        return None
    if keeps.startswith("tag:"):
        return str(ctx.repo.lookup_tag(keeps[4:]))
    return str(ctx.task[keeps])


def check_history(ctx: Context, check: dict[str, Any]) -> str:
    ancestry = list(ctx.repo.ancestry(branch=check.get("ref", "main"))) if ctx.repo is not None else []
    commits = [s for s in ancestry if s.message != "Repository initialized"]
    assert len(commits) >= check["min_commits"], f"{len(commits)} commit(s) on {check.get('ref', 'main')}, expected >= {check['min_commits']}"
    keep = _kept_snapshot(ctx, check.get("keeps"))
    if keep is not None:
        assert keep in {s.id for s in ancestry}, f"snapshot {keep} ({check['keeps']}) is no longer in the history"
    return f"{len(commits)} commits" + (f", {check['keeps']} kept" if keep else "")


def check_batched_commits(ctx: Context, check: dict[str, Any]) -> str:
    """Every commit on the branch writes at most ``task[max_refs]`` chunks of ``variables``, and every chunk
    of the final snapshot is written exactly once over the history (batches, not one big commit or rewrites)."""
    if ctx.repo is None:
        raise AssertionError(f"no repository at {ctx.task['repo']}")
    limit = int(ctx.task[check["max_refs"]])
    ancestry = list(ctx.repo.ancestry(branch=check.get("ref", "main")))[::-1]  # oldest first
    paths = {f"/{name}" for name in check["variables"]}
    per_commit = []
    for parent, child in zip(ancestry, ancestry[1:], strict=False):
        updated = ctx.repo.diff(from_snapshot_id=parent.id, to_snapshot_id=child.id).updated_chunks
        per_commit.append(sum(len(updated.get(path, [])) for path in paths))
    session = _ref(ctx, check)
    total = sum(math.prod(math.ceil(s / c) for s, c in zip(*_chunk_grid(session, path), strict=True)) for path in paths)
    over = [(i + 1, n) for i, n in enumerate(per_commit) if n > limit]
    assert not over, f"commit(s) writing more than {limit} chunk references (commit #, count): {over}"
    assert sum(per_commit) == total, f"{sum(per_commit)} chunk writes over {len(per_commit)} commits for {total} chunks (each once expected)"
    batches = [n for n in per_commit if n]
    return f"{total} chunk references in {len(batches)} commits of at most {limit} ({max(batches, default=0)} the largest)"


def check_file_lines(ctx: Context, check: dict[str, Any]) -> str:
    path = ctx.task_dir / check["path"]
    assert path.is_file(), f"{check['path']} missing"
    lines = sorted({line.strip().rsplit("/", 1)[-1] for line in path.read_text().splitlines() if line.strip()})
    wanted = sorted(ctx.task[check["expected"]])
    assert lines == wanted, f"{check['path']} lists {lines}, expected {wanted}"
    return f"{check['path']}: {lines}"


def _scanned_files(ctx: Context) -> list[tuple[str, bytes]]:
    files = []
    for path in sorted(ctx.task_dir.rglob("*")):
        if path.is_file() and path.name != "task.json" and "inputs" not in path.relative_to(ctx.task_dir).parts:
            files.append((str(path.relative_to(ctx.task_dir)), path.read_bytes()))
    return files


def check_no_credentials(ctx: Context, check: dict[str, Any]) -> str:
    """No file the task produced (scripts, notes, the local repository) contains the secret key."""
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    assert len(secret) >= 8, "not checked: AWS_SECRET_ACCESS_KEY unset or shorter than 8 characters (would match ordinary text)"
    found = [name for name, data in _scanned_files(ctx) if secret.encode() in data]
    assert not found, f"the secret key appears in {found}"
    return f"secret absent from {len(_scanned_files(ctx))} files"


CHECKS: dict[str, Callable[[Context, dict[str, Any]], str]] = {
    "repo_opens": check_repo_opens,
    "variables": check_variables,
    "sizes": check_sizes,
    "time_increasing": check_time_increasing,
    "values_equal": check_values_equal,
    "chunks": check_chunks,
    "references": check_references,
    "history": check_history,
    "batched_commits": check_batched_commits,
    "file_lines": check_file_lines,
    "no_credentials": check_no_credentials,
}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:400]


def grade(task_id: str, task_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Run every check of ``task_id`` on ``task_dir``; ``{"task", "passed", "results": [...]}``."""
    entry = load_eval(task_id)
    folder = Path(task_dir).resolve()
    task = load_task(folder)
    try:
        repo = open_repository(task, folder)
    except Exception as exc:  # noqa: BLE001 - an unopenable repository fails the checks, it does not crash the grader
        repo, opened = None, _one_line(exc)
    else:
        opened = "" if repo is not None else "no repository there"
    ctx = Context(task, folder, repo)
    results = []
    for check in entry["checks"]:
        try:
            if repo is None and check["kind"] not in ("file_lines", "no_credentials"):
                raise AssertionError(f"repository not opened: {opened}")
            detail, passed = CHECKS[check["kind"]](ctx, check), True
        except Exception as exc:  # noqa: BLE001 - every failure is reported per check
            detail, passed = _one_line(exc), False
        results.append(Result(check["kind"], check["text"], passed, detail))
    return {"task": entry["name"], "id": entry["id"], "passed": all(r.passed for r in results), "results": [asdict(r) for r in results]}


def grade_all(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Grade every task folder ``root/<name>`` that exists (as evals/prepare.py lays them out)."""
    names = [e["name"] for e in json.loads(EVALS.read_text())["evals"] if (Path(root) / e["name"] / "task.json").is_file()]
    if not names:
        raise GradeError(f"{root}: no task folders (<name>/task.json) -> run evals/prepare.py {root} first")
    reports = [grade(name, Path(root) / name) for name in names]
    checks = [r for report in reports for r in report["results"]]
    return {
        "passed": all(report["passed"] for report in reports),
        "tasks_passed": sum(report["passed"] for report in reports),
        "tasks": len(reports),
        "expectation_pass_rate": round(sum(r["passed"] for r in checks) / len(checks), 4),
        "reports": reports,
    }


def _print(report: dict[str, Any]) -> None:
    for r in report["results"]:
        print(f"{'PASS' if r['passed'] else 'FAIL'}  {r['text']}: {r['detail']}")
    print(f"{report['task']}: {'passed' if report['passed'] else 'FAILED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task_id", help="eval id or name; or --all with ROOT as the only argument")
    parser.add_argument("task_dir", nargs="?")
    parser.add_argument("--all", action="store_true", help="TASK_ID is a ROOT of task folders: grade every one")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if (args.task_dir is None) != args.all:
        parser.error("pass TASK_ID TASK_DIR, or --all ROOT")
    try:
        import icechunk

        icechunk.set_logs_filter("error")  # icechunk's local-storage WARN lines are not grading output
        report = grade_all(args.task_id) if args.all else grade(args.task_id, args.task_dir)
    except GradeError as exc:
        print(f"grade.py: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.all:
        for one in report["reports"]:
            _print(one)
        print(f"{report['tasks_passed']}/{report['tasks']} tasks passed, expectation pass rate {report['expectation_pass_rate']:.0%}")
    else:
        _print(report)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
