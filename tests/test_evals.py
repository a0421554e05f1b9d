"""evals/: every task's generator -> reference solution -> grader passes; a tampered result fails.

The reference solutions (evals/solutions/) use only what SKILL.md, examples.md, troubleshooting.md and
references/ show. Each grader check kind has a negative here: a result broken in exactly that way must
fail that check (the grader can fail). S3 tasks run against the loopback moto server, the HTTP task
against a werkzeug Range server rooted at the task's inputs/served.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from evals import grade
from tests.plugins.servers import _start_werkzeug, wait_http

ROOT = Path(__file__).resolve().parents[1]
EVALS = json.loads((ROOT / "evals" / "evals.json").read_text())
NAMES = [entry["name"] for entry in EVALS["evals"]]
SECRET = "evals-secret-Zq81xT4m"  # distinctive, so that the no_credentials scan cannot match ordinary text

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def _distinctive_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # moto accepts any key pair


def _generator(name: str) -> Any:
    return importlib.import_module(f"evals.generators.{name}")


def _solution(name: str) -> Any:
    return importlib.import_module(f"evals.solutions.{name}")


def _failed(report: dict[str, Any]) -> dict[str, str]:
    return {r["kind"]: r["detail"] for r in report["results"] if not r["passed"]}


# --------------------------------------------------------------------------- the eval set itself


def test_evals_json_is_a_skill_creator_eval_set() -> None:
    skill_name = re.search(r"^name: (\S+)", (ROOT / "SKILL.md").read_text(), re.M)
    assert skill_name and EVALS["skill_name"] == skill_name.group(1)
    entries = EVALS["evals"]
    assert len(entries) >= 10
    assert len({e["id"] for e in entries}) == len({e["name"] for e in entries}) == len(entries)
    for entry in entries:
        assert isinstance(entry["id"], int) and entry["prompt"] and entry["expected_output"]
        assert (ROOT / entry["generator"]).is_file() and (ROOT / entry["solution"]).is_file(), entry["name"]
        assert entry["expectations"] == [c["text"] for c in entry["checks"]], entry["name"]
        assert {c["kind"] for c in entry["checks"]} <= set(grade.CHECKS), entry["name"]
        assert "{task_dir}" in entry["prompt"], entry["name"]
    used = {c["kind"] for e in entries for c in e["checks"]}
    assert used == set(grade.CHECKS), f"check kinds never used: {set(grade.CHECKS) - used}"


def _shown(folder: Path) -> list[str]:
    """Headings and bold gotcha openings of every Markdown file in an installed skill folder."""
    lines = []
    for path in sorted(folder.rglob("*.md")):
        if "scripts" not in path.relative_to(folder).parts:
            lines += [line for line in path.read_text().splitlines() if line.startswith(("#", "**", "- **"))]
    return lines


@pytest.fixture(scope="module")
def skill_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The skill as `vzskill install-skill` lays it out (what an agent with only the skill folder has)."""
    from vzskill.skill import install_skill

    return install_skill(tmp_path_factory.mktemp("skills"))


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_copies_sections_the_installed_skill_has(name: str, skill_folder: Path) -> None:
    """Each solution names the sections it copies (SHOWN_IN); the installed skill folder must have them."""
    folder = skill_folder
    shown = _shown(folder)
    cited = _solution(name).SHOWN_IN
    assert cited and all(isinstance(c, str) for c in cited)
    missing = [c for c in cited if not any(c in line for line in shown)]
    assert not missing, f"{name}: sections not in the installed skill {folder.name}: {missing}"


# stdlib / task-plumbing names a solution may use although the skill never spells them
PLUMBING = {"annotations", "argv", "insert", "params", "monotonic", "parents", "read_text", "splitlines"}


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_uses_only_names_the_installed_skill_shows(name: str, skill_folder: Path) -> None:
    """Every attribute, keyword argument and imported name of a solution appears in the skill's Markdown."""
    import ast

    folder = skill_folder
    words = {w for p in folder.rglob("*.md") if "scripts" not in p.relative_to(folder).parts
             for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", p.read_text())}
    used = set()
    for node in ast.walk(ast.parse((ROOT / "evals" / "solutions" / f"{name}.py").read_text())):
        if isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            used.add(node.arg)
        elif isinstance(node, ast.ImportFrom):
            used.update(alias.name for alias in node.names)
    assert not used - words - PLUMBING, f"{name} uses names the skill never shows: {sorted(used - words - PLUMBING)}"


# --------------------------------------------------------------------------- task folders


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A Range-capable server rooted at the http_server task's inputs/served (created before the files)."""
    task_dir = tmp_path_factory.mktemp("http_server")
    root = task_dir / "inputs" / "served"
    root.mkdir(parents=True)
    server, thread = _start_werkzeug(root)
    wait_http(server.server_port)
    yield task_dir, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``solved(name)`` -> a task folder laid out by the generator and solved by the reference solution (cached)."""
    cache: dict[str, Path] = {}

    def params_for(name: str) -> tuple[Path, dict[str, Any]]:
        if name == "http_server":
            task_dir, base_url = request.getfixturevalue("http_root")
            return task_dir, {"base_url": base_url}
        task_dir = tmp_path_factory.mktemp(name)
        if name == "s3_compatible":
            make_bucket = request.getfixturevalue("make_bucket")
            return task_dir, {"endpoint": request.getfixturevalue("s3_endpoint"), "bucket": make_bucket("src"), "repo_bucket": make_bucket("repo")}
        if name == "concurrent_writers":
            return task_dir, {"endpoint": request.getfixturevalue("s3_endpoint"), "repo_bucket": request.getfixturevalue("make_bucket")("repo")}
        if name == "big_archive_batches":  # 6 files (32 references each) in batches of <= 64: the task's shape, fast
            return task_dir, {"n_files": 6, "batch_refs": 64}
        return task_dir, {}

    def _solved(name: str) -> Path:
        if name not in cache:
            task_dir, params = params_for(name)
            _generator(name).generate(task_dir, **params)
            _solution(name).solve(task_dir)
            cache[name] = task_dir
        return cache[name]

    return _solved


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes_the_grader(name: str, solved: Callable[[str], Path]) -> None:
    task_dir = solved(name)
    report = grade.grade(name, task_dir)
    assert report["passed"], _failed(report)
    assert len(report["results"]) == len(next(e for e in EVALS["evals"] if e["name"] == name)["checks"])
    prompt = json.loads((task_dir / "task.json").read_text())["prompt"]
    assert str(task_dir) in prompt and "{" not in prompt


# --------------------------------------------------------------------------- negatives: the grader can fail


def _copy(task_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / task_dir.name
    shutil.copytree(task_dir, target)
    return target


def _writable(task_dir: Path) -> Any:
    task = grade.load_task(task_dir)
    return grade.open_repository(task, task_dir)


def _tamper(task_dir: Path, change: Callable[[Any], None], message: str = "tampered") -> None:
    import zarr

    repo = _writable(task_dir)
    session = repo.writable_session("main")
    change(zarr.open_group(session.store, mode="r+"))
    session.commit(message)


def _rewrite(task_dir: Path, files: list[str], root: Path | None = None, **open_options: Any) -> None:
    """Replace main with a virtual dataset of ``root/files`` (a wrong solution's result; root: the original task)."""
    import virtualizarr as vz
    from virtualizarr.parsers import HDFParser

    from vzskill.containers import add_containers
    from vzskill.registry import build_registry

    urls = [f"file://{(root or task_dir) / f}" for f in files]
    repo = add_containers(grade.repo_storage(grade.load_task(task_dir), task_dir), urls)
    parts = vz.open_virtual_mfdataset(urls, registry=build_registry(urls), parser=HDFParser(),
                                      combine="nested", concat_dim="time", **open_options)
    with repo.transaction("main", message="wrong") as store:
        parts.vz.to_icechunk(store, mode="w")


def test_missing_repository_fails_repo_opens(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("local_series"), tmp_path)
    shutil.rmtree(task_dir / "output" / "archive.icechunk")
    failed = _failed(grade.grade("local_series", task_dir))
    assert set(failed) == {c["kind"] for c in EVALS["evals"][0]["checks"]} and "no repository" in failed["repo_opens"]


def test_dropped_variable_fails_variables(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("local_series"), tmp_path)
    _tamper(task_dir, lambda group: group.__delitem__("precipitation"))
    failed = _failed(grade.grade("local_series", task_dir))
    assert "variables" in failed and "precipitation" in failed["variables"]


def test_missing_file_fails_sizes(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("local_series"), tmp_path)
    _rewrite(task_dir, ["inputs/archive/temp_000.nc", "inputs/archive/temp_001.nc"], solved("local_series"))
    failed = _failed(grade.grade("local_series", task_dir))
    assert "'time': 8" in failed["sizes"] and "values_equal" in failed


def test_out_of_order_time_fails_time_increasing(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("local_series"), tmp_path)
    files = [f"inputs/archive/temp_{i:03d}.nc" for i in (0, 2, 1)]  # what retried appends in commit order give
    _rewrite(task_dir, files, solved("local_series"))
    failed = _failed(grade.grade("local_series", task_dir))
    assert "time_increasing" in failed and "values_equal" in failed and "sizes" not in failed


def test_changed_value_fails_values_equal(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("local_series"), tmp_path)

    def change(group: Any) -> None:
        group["temperature"][5, 3, 4] = group["temperature"][5, 3, 4] + 0.25

    _tamper(task_dir, change)
    failed = _failed(grade.grade("local_series", task_dir))
    assert "temperature" in failed["values_equal"] and "chunk (5, 0, 0)" in failed["chunks"]


def test_copied_data_fails_chunks(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("local_series"), tmp_path)
    files = [f"inputs/archive/temp_{i:03d}.nc" for i in range(3)]
    _rewrite(task_dir, files, solved("local_series"), loadable_variables=["time", "lat", "lon", "temperature"])
    failed = _failed(grade.grade("local_series", task_dir))
    assert set(failed) == {"chunks"}, failed  # same values, but temperature was copied into the repository


def test_mixed_chunks_all_loaded_fails_chunks(solved: Callable[[str], Path], tmp_path: Path) -> None:
    """The troubleshooting alternative 'load the variable in every file' copies everything: not the task."""
    task_dir = _copy(solved("mixed_chunks"), tmp_path)
    files = [f"inputs/archive/temp_{i:03d}.nc" for i in range(4)]
    _rewrite(task_dir, files, solved("mixed_chunks"), loadable_variables=["time", "lat", "lon", "temperature", "precipitation"])
    failed = _failed(grade.grade("mixed_chunks", task_dir))
    assert "expected virtual" in failed["chunks"]


def test_virtual_time_with_mixed_units_fails_values_equal(solved: Callable[[str], Path], tmp_path: Path) -> None:
    """The silent gotcha: time kept virtual, so the first file's units are applied to every file's raw values."""
    task_dir = _copy(solved("time_units"), tmp_path)
    files = [f"inputs/archive/temp_{i:03d}.nc" for i in range(3)]
    _rewrite(task_dir, files, solved("time_units"), loadable_variables=[], coords="minimal", compat="override")
    failed = _failed(grade.grade("time_units", task_dir))
    assert "time" in failed["values_equal"] and "sizes" not in failed and "chunks" not in failed


def test_references_only_traps_fail(solved: Callable[[str], Path], tmp_path: Path) -> None:
    """Default loading stores the coordinates (chunks fails); a default xr.concat of all-virtual files
    broadcasts lat/lon to (time, lat) silently (values_equal fails on the dimensions)."""
    import virtualizarr as vz
    import xarray as xr
    from virtualizarr.parsers import HDFParser

    from vzskill.registry import build_registry

    root = solved("references_only")
    task_dir = _copy(root, tmp_path)
    files = [f"inputs/archive/temp_{i:03d}.nc" for i in range(3)]
    _rewrite(task_dir, files, root)  # loadable_variables=None: time, lat, lon stored in the repository
    failed = _failed(grade.grade("references_only", task_dir))
    assert set(failed) == {"chunks"} and "time chunk" in failed["chunks"], failed

    urls = [f"file://{root / f}" for f in files]
    parts = [vz.open_virtual_dataset(u, registry=build_registry(urls), parser=HDFParser(), loadable_variables=[])
             for u in urls]
    broadcast = xr.concat(parts, dim="time")  # the default coords="different": lat/lon gain a time axis
    assert broadcast["lat"].dims == ("time", "lat")
    with _writable(task_dir).transaction("main", message="default concat") as store:
        broadcast.vz.to_icechunk(store, mode="w")
    failed = _failed(grade.grade("references_only", task_dir))
    assert "lat: dims ('time', 'lat')" in failed["values_equal"], failed


def test_references_to_copies_fail_references(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("local_series"), tmp_path)
    shutil.copytree(task_dir / "inputs" / "archive", task_dir / "output" / "copies")
    _rewrite(task_dir, [f"output/copies/temp_{i:03d}.nc" for i in range(3)])
    failed = _failed(grade.grade("local_series", task_dir))
    assert set(failed) == {"references"}, failed


def test_stale_list_and_lost_history_fail(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("stale_sources"), tmp_path)
    (task_dir / "output" / "stale.txt").write_text("temp_001.nc\n")  # the deleted file not named
    assert set(_failed(grade.grade("stale_sources", task_dir))) == {"file_lines"}
    (task_dir / "output" / "stale.txt").write_text("temp_001.nc\ntemp_003.nc\n")
    shutil.rmtree(task_dir / "output" / "archive.icechunk")  # "fixed" by rebuilding from scratch
    import vzskill

    current = sorted((task_dir / "inputs" / "archive").glob("temp_*.nc"))
    vzskill.virtualize(current, task_dir / "output" / "archive.icechunk")
    _writable(task_dir).writable_session("main").commit("second commit", allow_empty=True)
    failed = _failed(grade.grade("stale_sources", task_dir))
    assert "no longer in the history" in failed["history"]


def test_missing_tag_fails(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("append_and_tag"), tmp_path)
    _writable(task_dir).delete_tag("v1")
    report = grade.grade("append_and_tag", task_dir)
    failed = [r for r in report["results"] if not r["passed"]]
    assert "repo_opens" in _failed(report) and all("tag v1" in r["text"] for r in failed), failed


def test_rewritten_instead_of_appended_fails_history(solved: Callable[[str], Path], tmp_path: Path) -> None:
    task_dir = _copy(solved("append_and_tag"), tmp_path)
    root = solved("append_and_tag")
    files = ["inputs/batch1/temp_000.nc", "inputs/batch1/temp_001.nc", "inputs/batch2/temp_002.nc"]
    repo = _writable(task_dir)
    initial = [snapshot.id for snapshot in repo.ancestry(branch="main")][-1]
    repo.reset_branch("main", initial)  # back to the empty repository, then everything in one write
    _rewrite(task_dir, files, root)
    repo.writable_session("main").commit("second commit", allow_empty=True)
    failed = _failed(grade.grade("append_and_tag", task_dir))
    assert set(failed) == {"history"} and "no longer in the history" in failed["history"], failed


def _revirtualize(task_dir: Path, files: list[Path], repo: str, **options: Any) -> None:
    """Replace the copy's repository with vzskill.virtualize(files) (a wrong solution's result)."""
    import vzskill

    shutil.rmtree(task_dir / repo)
    vzskill.virtualize(files, task_dir / repo, **options)


def test_grib_files_out_of_order_fail_time_and_eccodes_values(solved: Callable[[str], Path], tmp_path: Path) -> None:
    root = solved("grib_forecast")
    task_dir = _copy(root, tmp_path)
    files = sorted((root / "inputs" / "forecasts").glob("*.grib2"))
    _revirtualize(task_dir, [files[1], files[0], files[2]], "output/forecast.icechunk", concat_dim="time")
    failed = _failed(grade.grade("grib_forecast", task_dir))  # the sample fields differ per day (+1 K)
    assert set(failed) == {"time_increasing", "values_equal"} and "equal tmp" in failed["values_equal"], failed


def test_geotiff_days_out_of_order_fail_tifffile_values(solved: Callable[[str], Path], tmp_path: Path) -> None:
    """Days stacked in reverse, no dates given: pixels differ, and a dimension without a coordinate is no time axis
    (xarray would hand out 0, 1, 2, 3 for it)."""
    root = solved("geotiff_daily")
    task_dir = _copy(root, tmp_path)
    days = sorted((root / "inputs" / "daily").glob("sst_*.tif"))[::-1]
    _revirtualize(task_dir, days, "output/daily.icechunk", concat_dim="time")
    failed = _failed(grade.grade("geotiff_daily", task_dir))
    assert set(failed) == {"values_equal", "time_increasing"} and "Arrays are not equal" in failed["values_equal"], failed
    assert "no time coordinate stored" in failed["time_increasing"]


def test_hdf4_floats_without_the_byte_order_fix_fail_pyhdf_values(solved: Callable[[str], Path], tmp_path: Path) -> None:
    """Plain VirtualiZarr HDF4Parser (kerchunk 0.2.10 declares HDF4 floats little-endian): floats read byte-swapped."""
    import virtualizarr as vz
    from virtualizarr.parsers import HDF4Parser
    from vzskill.containers import add_containers
    from vzskill.registry import build_registry

    root = solved("hdf4_granule")
    task_dir = _copy(root, tmp_path)
    url = f"file://{root / 'inputs' / 'granules' / 'MOD_L2.A2024001.hdf'}"
    vds = vz.open_virtual_dataset(url, registry=build_registry([url]), parser=HDF4Parser())
    repo = add_containers(grade.repo_storage(grade.load_task(task_dir), task_dir), [url])
    with repo.transaction("main", message="plain HDF4Parser") as store:
        vds.vz.to_icechunk(store, mode="w")
    failed = _failed(grade.grade("hdf4_granule", task_dir))
    assert set(failed) == {"values_equal"} and "cloud_fraction" in failed["values_equal"], failed


def test_one_file_concatenated_along_time_fails_sizes(solved: Callable[[str], Path], tmp_path: Path) -> None:
    """The plain-call trap: open_virtual_mfdataset([one file], concat_dim="time") adds a time dimension of 1."""
    root = solved("single_file_no_time")
    task_dir = _copy(root, tmp_path)
    _rewrite(task_dir, ["inputs/bears.nc"], root)
    failed = _failed(grade.grade("single_file_no_time", task_dir))
    assert "'time': 1" in failed["sizes"] and "values_equal" in failed, failed


def test_one_big_commit_or_rewritten_chunks_fail_batched_commits(solved: Callable[[str], Path], tmp_path: Path) -> None:
    root = solved("big_archive_batches")
    task_dir = _copy(root, tmp_path)
    _revirtualize(task_dir, sorted((root / "inputs" / "archive").glob("temp_*.nc")), "output/archive.icechunk")
    failed = _failed(grade.grade("big_archive_batches", task_dir))
    assert set(failed) == {"batched_commits"} and "more than 64" in failed["batched_commits"], failed

    task_dir = _copy(root, tmp_path / "rewritten")

    def change(group: Any) -> None:
        group["temperature"][0, 0, 0] = group["temperature"][0, 0, 0]  # the same value, written again

    _tamper(task_dir, change)
    failed = _failed(grade.grade("big_archive_batches", task_dir))
    assert "193 chunk writes" in failed["batched_commits"] and "each once" in failed["batched_commits"], failed


def test_secret_in_a_script_fails_no_credentials(solved: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task_dir = _copy(solved("s3_compatible"), tmp_path)
    (task_dir / "output" / "run.py").write_text(f"secret_access_key = {SECRET!r}\n")
    failed = _failed(grade.grade("s3_compatible", task_dir))
    assert set(failed) == {"no_credentials"} and "run.py" in failed["no_credentials"]
    (task_dir / "output" / "run.py").unlink()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "short")  # cannot be checked -> not reported as ok
    assert "not checked" in _failed(grade.grade("s3_compatible", task_dir)).get("no_credentials", "")


def test_cli_exit_codes(solved: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert grade.main(["no_such_task", str(tmp_path)]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert grade.main(["1", str(tmp_path)]) == 2  # no task.json
    assert "task.json" in capsys.readouterr().err
    task_dir = _copy(solved("local_series"), tmp_path)
    shutil.rmtree(task_dir / "output" / "archive.icechunk")
    result = subprocess.run([sys.executable, str(ROOT / "evals" / "grade.py"), "local_series", str(task_dir), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["passed"] is False
    assert grade.main(["local_series", str(solved("local_series"))]) == 0
    assert "local_series: passed" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        grade.main(["--all", str(tmp_path), "extra"])
    assert grade.main(["--all", str(tmp_path / "empty")]) == 2
    shutil.copytree(solved("local_series"), tmp_path / "root" / "local_series")
    (tmp_path / "root" / "fits_image").mkdir()
    _generator("fits_image").generate(tmp_path / "root" / "fits_image")  # not solved
    capsys.readouterr()
    assert grade.main(["--all", str(tmp_path / "root"), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert (summary["tasks"], summary["tasks_passed"]) == (2, 1) and 0 < summary["expectation_pass_rate"] < 1


def test_prepare_lays_out_tasks_for_a_manual_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evals import prepare

    assert prepare.main([str(tmp_path), "no_such_task"]) == 2
    assert prepare.main([str(tmp_path), "local_series", "fits_image"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'local_series'}/inputs/archive" in out and (tmp_path / "fits_image" / "prompt.txt").is_file()
    assert grade.grade("fits_image", tmp_path / "fits_image")["passed"] is False  # nothing solved yet


def test_solution_runs_with_the_helper_bundled_in_the_installed_skill(tmp_path: Path, skill_folder: Path) -> None:
    """What an agent with only the skill folder has: vzskill from its scripts/ (the dependencies from the venv)."""
    scripts = skill_folder / "scripts"
    task_dir = tmp_path / "time_units"
    task_dir.mkdir()
    _generator("time_units").generate(task_dir)
    code = (
        "import runpy, sys, vzskill; print(vzskill.__file__); "
        f"sys.argv = ['time_units.py', {str(task_dir)!r}]; "
        f"runpy.run_path({str(ROOT / 'evals' / 'solutions' / 'time_units.py')!r}, run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(scripts)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0].startswith(str(scripts)), result.stdout
    assert grade.grade("time_units", task_dir)["passed"]


def test_trigger_evals_are_a_skill_creator_trigger_set() -> None:
    """evals/trigger_evals.json: queries with should_trigger (description optimization), both classes present."""
    queries = json.loads((ROOT / "evals" / "trigger_evals.json").read_text())
    assert all(set(q) == {"query", "should_trigger"} and isinstance(q["should_trigger"], bool) for q in queries)
    assert len({q["query"] for q in queries}) == len(queries)
    positives = sum(q["should_trigger"] for q in queries)
    assert positives >= 8 and len(queries) - positives >= 8
