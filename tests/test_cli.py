"""The ``vzskill`` command line: in-process through ``vzskill.cli.main(argv)`` (stdout, stderr, exit code), plus a
few real subprocess smoke tests of the console script (--help, a full virtualize + verify, exit code 2, a one-line
error without traceback, the progress bar on a terminal, an unsupported Python, cheap import, make test).
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import pytest
import xarray as xr

from vzskill.cli import main

VZSKILL = str(Path(sys.executable).with_name("vzskill"))
REPO_ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["demo", "inspect", "virtualize", "check", "verify", "doctor", "install-skill"]
PY311 = Path.home() / ".pyenv" / "versions" / "3.11.7" / "bin" / "python"

pytestmark = pytest.mark.timeout(180)


class Ran(Protocol):
    @property
    def returncode(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...


@dataclass
class InProcess:
    """What ``main(argv)`` did: its exit code and what it wrote."""

    returncode: int
    stdout: str
    stderr: str


Cli = Callable[..., InProcess]


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """The real console script in a subprocess (smoke tests only)."""
    return subprocess.run([VZSKILL, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli("virtualize", ...)``: ``vzskill.cli.main`` in this process; SystemExit (argparse) becomes the code."""
    monkeypatch.delenv("ICECHUNK_LOG", raising=False)  # errors.quiet() sets it: restored after the test

    def call(*args: str | Path) -> InProcess:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        out, err = capsys.readouterr()
        return InProcess(code, out, err)

    return call


def assert_one_line_error(proc: Ran, code: int, *needles: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- subprocess smoke tests


def test_smoke_help_and_version() -> None:
    proc = run("--help")
    assert proc.returncode == 0 and proc.stderr == ""
    for command in COMMANDS:
        assert command in proc.stdout
    assert "Exit codes: 0 ok, 1 findings" in proc.stdout
    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip().startswith("vzskill ")


def test_smoke_usage_error_exit_2() -> None:
    proc = run("virtualize")
    assert_one_line_error(proc, 2, "vzskill virtualize: error:", "--repo", "--help")


def test_smoke_one_line_error_without_traceback(tmp_path: Path) -> None:
    proc = run("virtualize", "ftp://h/x.nc", "--repo", str(tmp_path / "r"), "--json")
    assert_one_line_error(proc, 2, "unsupported URL scheme 'ftp://'")
    assert json.loads(proc.stdout)["ok"] is False


def test_smoke_virtualize_then_verify(tmp_path: Path, series_files: list[Path]) -> None:
    files = _copy(series_files[:2], tmp_path / "src")
    repo = str(tmp_path / "repo")
    first = run("virtualize", *files, "--repo", repo, "--json", "-m", "first two")
    assert first.returncode == 0 and first.stderr == "", first.stderr  # no library noise on stderr
    out = json.loads(first.stdout)
    assert out["ok"] is True and out["n_files"] == 2 and out["dims"]["time"] == 8 and out["nrefs"] == 64
    verified = run("verify", "--repo", repo, "--json")
    assert verified.returncode == 0 and verified.stderr == "", verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True


# --------------------------------------------------------------------------- help, usage


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_json(command: str, cli: Cli) -> None:
    proc = cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: vzskill {command}")
    assert "--json" in proc.stdout


def test_usage_errors_are_one_line_exit_2(cli: Cli) -> None:
    bare = cli()
    assert_one_line_error(bare, 2, "missing COMMAND")
    assert bare.stdout.startswith("usage: vzskill")
    assert_one_line_error(cli("virtualize"), 2, "vzskill virtualize: error:", "--repo", "--help")
    assert_one_line_error(cli("frobnicate"), 2, "invalid choice")
    assert_one_line_error(cli("virtualize", "x.nc", "--repo", "r", "--combine", "sideways"), 2, "invalid choice")
    assert_one_line_error(cli("verify", "--repo", "r", "--branch", "a", "--tag", "b"), 2, "not allowed with")


# --------------------------------------------------------------------------- demo


def _read_pty(master: int, timeout: float = 120) -> bytes:
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_demo_json_equal_then_rerun_with_progress_bar_on_a_terminal(tmp_path: Path, cli: Cli) -> None:
    proc = cli("demo", "--json", "--dir", tmp_path / "demo")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar, no library warnings when stderr is not a terminal
    out = json.loads(proc.stdout)
    assert out["equal"] is True
    assert out["compared"] == {"temperature": True, "precipitation": True, "time": True, "lat": True, "lon": True}
    assert out["dims"] == {"time": 12, "lat": 20, "lon": 30} and out["nrefs"] == 96
    assert out["seconds"] < 60
    # the repository it leaves behind really holds the files' values
    from vzskill.containers import open_repo
    from vzskill.write import storage_for

    repo = open_repo(storage_for(out["repo"]))
    stored = xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3)
    direct = xr.concat([xr.open_dataset(f, engine="h5netcdf") for f in out["files"]], dim="time")
    np.testing.assert_array_equal(stored["temperature"].values, direct["temperature"].values)

    # rerun (subprocess) in the same directory (replaces its own repo), stderr on a terminal: a progress bar is drawn
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    again = subprocess.Popen([VZSKILL, "demo", "--dir", str(tmp_path / "demo")], stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    drawn = _read_pty(master).decode("utf-8", "replace")
    stdout, _ = again.communicate(timeout=120)
    os.close(master)
    assert again.returncode == 0, drawn[-2000:]
    assert b"EQUAL" in stdout
    assert any(stage in drawn for stage in ("parse", "write", "read back")), drawn[:500]


def test_demo_refuses_a_foreign_repo_dir(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "precious.txt").write_text("keep me")
    assert_one_line_error(cli("demo", "--dir", tmp_path), 2, "is not a vzskill demo repository")
    assert (tmp_path / "repo" / "precious.txt").read_text() == "keep me"


# --------------------------------------------------------------------------- inspect


def test_inspect_json(series_files: list[Path], data_dir: Path, cli: Cli) -> None:
    proc = cli("inspect", series_files[0], data_dir / "variants" / "other_time_units.nc", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is True
    first, second = out["files"]
    assert first["kind"] == "hdf5" and first["dims"] == {"time": 4, "lat": 20, "lon": 30}
    assert first["time_units"] == "days since 2024-01-01" and first["calendar"] == "standard"
    assert second["time_units"] == "hours since 2024-01-05"
    temp = next(v for v in first["variables"] if v["name"] == "temperature")
    assert temp["dims"] == ["time", "lat", "lon"] and temp["shape"] == [4, 20, 30]
    assert temp["dtype"] == "float32" and temp["chunks"] == [1, 10, 15]
    assert temp["compression"] == "zlib" and temp["level"] == 4 and temp["shuffle"] is True
    assert temp["fill_value"] == -9999.0 and temp["units"] == "degC"


def test_inspect_variants_show_their_difference(data_dir: Path, cli: Cli) -> None:
    v = data_dir / "variants"
    proc = cli("inspect", v / "other_level.nc", v / "no_shuffle.nc", v / "float64.nc",
               v / "scale_factor.nc", v / "netcdf3.nc", data_dir / "fits" / "image.fits", "--json")
    assert proc.returncode == 0, proc.stderr
    files = {Path(f["url"]).name: f for f in json.loads(proc.stdout)["files"]}

    def temp(name: str) -> dict:
        return next(x for x in files[name]["variables"] if x["name"] == "temperature")

    assert temp("other_level.nc")["level"] == 9
    assert temp("no_shuffle.nc")["shuffle"] is False and temp("no_shuffle.nc")["level"] == 4
    assert temp("float64.nc")["dtype"] == "float64"
    assert temp("scale_factor.nc")["dtype"] == "int16" and temp("scale_factor.nc")["scale_factor"] == 0.01
    assert files["netcdf3.nc"]["kind"] == "netcdf3" and temp("netcdf3.nc")["compression"] is None
    assert files["image.fits"]["kind"] == "fits"


def test_inspect_text_output(series_files: list[Path], cli: Cli) -> None:
    proc = cli("inspect", series_files[0])
    assert proc.returncode == 0, proc.stderr
    assert "temperature" in proc.stdout and "zlib 4 +shuffle" in proc.stdout and "1x10x15" in proc.stdout
    assert "time units: days since 2024-01-01" in proc.stdout


def test_inspect_groups(data_dir: Path, cli: Cli) -> None:
    grouped = data_dir / "grouped" / "groups.nc"
    root = cli("inspect", grouped)
    assert root.returncode == 0, root.stderr
    assert "groups: surface, upper" in root.stdout and "--group surface" in root.stdout
    proc = cli("inspect", grouped, "--group", "upper", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)["files"][0]
    assert {v["name"] for v in info["variables"]} >= {"temperature", "precipitation", "time"}


def test_inspect_bad_files_exit_1_one_line(data_dir: Path, tmp_path: Path, cli: Cli) -> None:
    proc = cli("inspect", data_dir / "bad" / "lzf.nc", data_dir / "bad" / "text.nc", "--json")
    line = assert_one_line_error(proc, 1, "lzf.nc", "LZF", "(+1 more)")
    assert line.startswith("vzskill inspect: ")
    out = json.loads(proc.stdout)
    assert out["ok"] is False
    lzf = out["files"][0]
    assert lzf["error"] and lzf["variables"][0]["name"] == "x"  # still described, with h5py
    assert_one_line_error(cli("inspect", tmp_path / "missing.nc"), 1, "missing.nc", "not found")


# --------------------------------------------------------------------------- virtualize / check / verify


def _copy(files: list[Path], dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    return [str(shutil.copy(f, dest / f.name)) for f in files]


def test_virtualize_append_verify(tmp_path: Path, series_files: list[Path], cli: Cli) -> None:
    files = _copy(series_files, tmp_path / "src")
    repo = str(tmp_path / "repo")
    first = cli("virtualize", *files[:2], "--repo", repo, "--json", "-m", "first two")
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["ok"] is True and out["n_files"] == 2 and out["dims"]["time"] == 8 and out["nrefs"] == 64

    appended = cli("virtualize", files[2], "--repo", repo, "--append")
    assert appended.returncode == 0, appended.stderr
    assert appended.stdout.startswith("appended 1 file(s)")

    verified = cli("verify", "--repo", repo, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True

    refused = cli("virtualize", files[0], "--repo", repo)
    assert_one_line_error(refused, 2, "already holds data", "--append")

    os.remove(files[1])  # a source disappears: verify finds it
    stale = cli("verify", "--repo", repo)
    assert stale.returncode == 1
    assert "temp_001.nc" in stale.stdout
    assert len(stale.stderr.strip().splitlines()) == 1


def test_virtualize_retries_option(tmp_path: Path, series_files: list[Path], cli: Cli) -> None:
    files = _copy(series_files[:2], tmp_path / "src")
    assert_one_line_error(cli("virtualize", *files, "--repo", tmp_path / "r", "--retries", "-1"), 2, "--retries", "need 0 or more")
    assert_one_line_error(cli("virtualize", *files, "--repo", tmp_path / "r", "--retries", "x"), 2, "not a whole number")
    proc = cli("virtualize", *files, "--repo", tmp_path / "repo", "--retries", "0", "--json")  # forwarded as conflict_retries
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_files"] == 2


def test_parallel_options(tmp_path: Path, series_files: list[Path], cli: Cli) -> None:
    checked = cli("check", *series_files, "--parallel", "threads", "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"] is True
    assert_one_line_error(cli("check", *series_files, "--parallel", "sideways"), 2, "invalid choice")
    files = _copy(series_files[:3], tmp_path / "src")
    proc = cli("virtualize", *files, "--repo", tmp_path / "repo", "--parallel", "threads", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dims"]["time"] == 12
    workers = cli("virtualize", *files, "--repo", tmp_path / "repo2", "--parallel", "threads", "--workers", "2", "--json")
    assert workers.returncode == 0, workers.stderr
    assert json.loads(workers.stdout)["dims"]["time"] == 12
    checked = cli("check", *series_files, "--parallel", "threads", "--workers", "2", "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"] is True
    assert_one_line_error(cli("check", *series_files, "--workers", "0"), 2, "need at least 1")


def test_verify_skip(tmp_path: Path, series_files: list[Path], cli: Cli) -> None:
    files = _copy(series_files[:2], tmp_path / "src")
    repo = tmp_path / "repo"
    assert cli("virtualize", *files, "--repo", repo).returncode == 0
    proc = cli("verify", "--repo", repo, "--skip", "precipitation", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is True
    variables = out["variables"]
    rows = {v["name"]: v for v in variables} if isinstance(variables, list) else variables
    assert rows["precipitation"]["skipped_by_request"] and not rows["temperature"]["skipped_by_request"], rows
    assert cli("verify", "--repo", repo, "--skip-unreadable").returncode == 0


def test_virtualize_check_error_exit_1_nothing_written(tmp_path: Path, series_files: list[Path], data_dir: Path, cli: Cli) -> None:
    files = [*_copy(series_files[:2], tmp_path / "src"), *_copy([data_dir / "variants" / "other_chunks.nc"], tmp_path / "src")]
    proc = cli("virtualize", *files, "--repo", tmp_path / "repo", "--json")
    line = assert_one_line_error(proc, 1, "check found", "nothing written", "other_chunks.nc")
    assert line.startswith("vzskill virtualize: error: ")
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["exit_code"] == 1 and out["check"]["n_errors"] >= 1
    assert not (tmp_path / "repo").exists()


def test_virtualize_by_coords(tmp_path: Path, series_files: list[Path], cli: Cli) -> None:
    files = _copy(series_files, tmp_path / "src")
    proc = cli("virtualize", files[2], files[0], files[1], "--repo", tmp_path / "repo", "--combine", "by_coords", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dims"]["time"] == 12


def test_virtualize_errors_are_one_line(tmp_path: Path, series_files: list[Path], cli: Cli) -> None:
    assert_one_line_error(cli("virtualize", "/no/such/dir/x.nc", "--repo", tmp_path / "r"), 2, "/no/such/dir does not exist")
    assert_one_line_error(cli("virtualize", "ftp://h/x.nc", "--repo", tmp_path / "r"), 2, "unsupported URL scheme 'ftp://'")
    assert_one_line_error(cli("virtualize", series_files[0], "--repo", "ftp://h/repo"), 2, "unsupported repository location")
    proc = cli("virtualize", series_files[0], "--repo", tmp_path / "r", "--concat-dim", "Time", "--json")
    assert proc.returncode in (1, 2)
    assert len(proc.stderr.strip().splitlines()) == 1 and "Time" in proc.stderr
    assert json.loads(proc.stdout)["ok"] is False


def test_check_cli(series_files: list[Path], data_dir: Path, cli: Cli) -> None:
    ok = cli("check", *series_files, "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    bad = cli("check", *series_files, data_dir / "variants" / "no_shuffle.nc")
    assert_one_line_error(bad, 1, "no_shuffle.nc")
    assert "no_shuffle.nc" in bad.stdout


def test_verify_missing_repo_exit_2(tmp_path: Path, cli: Cli) -> None:
    proc = cli("verify", "--repo", tmp_path / "nothing", "--json")
    assert_one_line_error(proc, 2, "no icechunk repository at")
    assert json.loads(proc.stdout)["ok"] is False


# --------------------------------------------------------------------------- doctor, install-skill


def test_doctor_json(cli: Cli) -> None:
    proc = cli("doctor", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is True and out["exit_code"] == 0
    assert out["python"].startswith("3.12")
    checks = {c["name"]: c for c in out["checks"]}
    for name in ("python", "virtualizarr", "icechunk", "obstore", "obspec-utils", "zarr", "xarray"):
        assert checks[name]["status"] in ("ok", "drift"), checks[name]
        assert checks[name]["installed"]
    assert checks["icechunk"]["tested"] == "2.3.0" and checks["virtualizarr"]["tested"] == "2.8.0"


def test_doctor_text(cli: Cli) -> None:
    proc = cli("doctor")
    assert proc.returncode == 0
    assert "icechunk" in proc.stdout and "stack OK" in proc.stdout


def test_doctor_flags_old_stacks() -> None:
    """The same diagnosis for simulated stacks (what pip resolves on Python 3.11, missing optionals)."""
    from vzskill.doctor import diagnose, stack_problem

    old = diagnose({"icechunk": "1.1.21", "virtualizarr": "2.5.1", "kerchunk": None, "dask": None}, python=(3, 11, 7))
    assert not old.ok and old.exit_code == 2
    errors = {c.name: c.message for c in old.errors}
    assert set(errors) >= {"python", "icechunk", "virtualizarr"}
    assert "Python 3.11.7 is too old" in errors["python"] and "3.12" in errors["python"]
    assert "Icechunk v2 format" in errors["icechunk"]
    assert any("kerchunk" in w for w in old.to_dict()["warnings"])
    assert any("dask" in w for w in old.to_dict()["warnings"])
    problem = stack_problem({"icechunk": "1.1.21"}, python=(3, 12, 1))
    assert problem and problem.startswith("unsupported stack (icechunk 1.1.21)") and "\n" not in problem
    newer = diagnose({"zarr": "3.9.0"})
    assert newer.ok and any(c.name == "zarr" and c.status == "drift" for c in newer.checks)
    assert stack_problem() is None


def test_doctor_lists_the_optional_format_packages() -> None:
    from vzskill.doctor import diagnose
    from vzskill.format_extras import EXTRAS

    report = diagnose({"pyhdf": None, "gribberish": None})
    checks = {c.name: c for c in report.checks}
    assert {f"format {kind}" for kind in EXTRAS} <= set(checks)
    hdf4, grib = checks["format hdf4"], checks["format grib"]
    assert hdf4.status == "missing" and hdf4.message == "optional HDF4 support: pyhdf not installed -> pip install kerchunk pyhdf"
    assert grib.status == "missing" and "gribberish" in grib.message and grib.message.endswith(EXTRAS["grib"].pip)
    assert report.ok  # optional: a warning, never an error
    assert any(w.startswith("optional HDF4 support") for w in report.to_dict()["warnings"])


@pytest.mark.parametrize(
    "text, expected",
    [("2.3.0", (2, 3, 0)), ("2.3.0rc1", (2, 3, 0)), ("1.7.5.1.post1", (1, 7, 5, 1)), ("2026.9.0+local", (2026, 9, 0)),
     ("3.12", (3, 12)), ("", ()), (None, ()), ("dev", ())],
)
def test_doctor_parse_version(text: str | None, expected: tuple[int, ...]) -> None:
    from vzskill.doctor import parse_version

    assert parse_version(text) == expected


def test_doctor_missing_core_package_is_an_error() -> None:
    from vzskill.doctor import diagnose, stack_problem

    report = diagnose({"obspec-utils": None})
    assert not report.ok
    assert any(c.name == "obspec-utils" and c.status == "error" and "not installed" in c.message for c in report.checks)
    assert (stack_problem({"obspec-utils": None}) or "").startswith("unsupported stack (obspec-utils missing)")


@pytest.mark.skipif(not PY311.exists(), reason="pyenv Python 3.11.7 not installed")
def test_unsupported_python_is_refused_with_the_fix(tmp_path: Path) -> None:
    """`python3.11 -m vzskill ...` from the checkout: one line saying what to do, exit 2 (no ImportError)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    proc = subprocess.run([str(PY311), "-m", "vzskill", "demo", "--dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    line = assert_one_line_error(proc, 2, "unsupported stack", "Python 3.11.7 is too old", "Python 3.12", "make demo")
    assert line.startswith("vzskill: ")
    doctor = subprocess.run([str(PY311), "-m", "vzskill", "doctor", "--json"], capture_output=True, text=True,
                            timeout=60, env=env, cwd=tmp_path)
    assert doctor.returncode == 2
    out = json.loads(doctor.stdout)
    assert out["ok"] is False and any("Python 3.11.7" in e for e in out["errors"])
    helped = subprocess.run([str(PY311), "-m", "vzskill", "--help"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert helped.returncode == 0 and "virtualize" in helped.stdout


def test_install_skill(tmp_path: Path, cli: Cli) -> None:
    proc = cli("install-skill", tmp_path / "skills", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    path = Path(out["path"])
    assert path.parent == tmp_path / "skills"
    assert (path / "SKILL.md").is_file()
    assert {"SKILL.md", "examples.md", "troubleshooting.md"} <= set(out["files"])


# --------------------------------------------------------------------------- remote sources and repositories


@pytest.mark.s3
def test_virtualize_public_s3_sources_into_a_private_s3_repo(s3_endpoint: str, s3_public_bucket: str, make_bucket, cli: Cli) -> None:
    """--anonymous applies to the sources only; the repository bucket is written with the env credentials."""
    repo = f"s3://{make_bucket()}/repos/series"
    urls = [f"s3://{s3_public_bucket}/series/temp_{i:03d}.nc" for i in range(3)]
    remote = ["--endpoint", s3_endpoint, "--region", "us-east-1"]
    proc = cli("virtualize", *urls, "--repo", repo, "--anonymous", *remote, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dims"]["time"] == 12
    verified = cli("verify", "--repo", repo, "--anonymous", *remote, "--sample", "2", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True


@pytest.mark.http
def test_inspect_and_check_over_http(http_base_url: str, cli: Cli) -> None:
    urls = [f"{http_base_url}/series/temp_{i:03d}.nc" for i in range(3)]
    proc = cli("inspect", urls[0], "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)["files"][0]
    assert info["url"] == urls[0] and info["kind"] == "hdf5" and info["size"] > 0
    assert any(v["name"] == "temperature" and v["chunks"] == [1, 10, 15] for v in info["variables"])
    checked = cli("check", *urls, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --------------------------------------------------------------------------- packaging, README and CI contract


def test_import_is_cheap_and_cli_help_needs_no_stack() -> None:
    code = (
        "import sys, vzskill, vzskill.cli, vzskill.doctor\n"
        "heavy = [m for m in ('icechunk', 'xarray', 'virtualizarr', 'zarr', 'obstore') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from vzskill import Access\n"
        "assert Access.__module__ == 'vzskill.sources'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_readme_has_exactly_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0].strip() for b in section.split("```bash\n")[1:]]
    assert blocks[:2] == ["make demo", "make test"], blocks
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci
    commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert commands[-1] == "make test"  # exactly the README's command, last, its exit code is CI's
    assert "|| true" not in ci and "exit 0" not in ci
    assert os.access(REPO_ROOT / ".ci" / "run", os.X_OK)
    assert subprocess.run(["bash", "-n", str(REPO_ROOT / ".ci" / "run")]).returncode == 0


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_test_fails_when_pytest_collects_nothing() -> None:
    """pytest exit 5 (nothing collected) must fail `make test`, hence CI. The install step is skipped (-o)."""
    if not (REPO_ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in the checkout")
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO_ROOT), "-o", ".venv/.installed", "test",
         "PYTEST_ARGS=tests/test_sources.py -k no_such_test_selects_nothing -p no:cacheprovider"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0, proc.stdout[-1000:]
    assert "Error 5" in proc.stderr  # make reports pytest's exit status 5
    assert "deselected" in proc.stdout


# --------------------------------------------------------------------------- grids, references, quiet stderr


def _run(cli: Cli, *args: str | Path) -> tuple[int, str, str]:
    proc = cli(*args)
    return proc.returncode, proc.stdout, proc.stderr


def test_grid_json_in_process(tmp_path: Path, data_dir: Path, cli: Cli) -> None:
    rows = [_copy(sorted((data_dir / "ensemble" / f"ens{m}").glob("*.nc")), tmp_path / f"ens{m}") for m in (0, 1)]
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"concat_dim": ["member", "time"], "coords": {"member": ["a", "b"]},
                                "files": [[os.path.relpath(f, tmp_path) for f in row] for row in rows]}))
    code, out, err = _run(cli, "virtualize", "--grid", str(grid), "--repo", str(tmp_path / "repo"), "--json")
    assert code == 0 and err == "", err
    res = json.loads(out)
    assert res["concat_dim"] == ["member", "time"] and res["dims"]["member"] == 2 and res["dims"]["time"] == 8
    from vzskill.repo import open_location

    stored = xr.open_zarr(open_location(tmp_path / "repo").readonly_session("main").store, consolidated=False, zarr_format=3)
    direct = xr.concat([xr.open_dataset(f, engine="h5netcdf") for f in rows[1]], dim="time")
    np.testing.assert_array_equal(stored["temperature"].sel(member="b").values, direct["temperature"].values)

    code, out, err = _run(cli, "virtualize", "--grid", str(tmp_path / "none.json"), "--repo", str(tmp_path / "r2"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "none.json does not exist" in err


def test_new_dim_regex_and_text_output(tmp_path: Path, data_dir: Path, cli: Cli) -> None:
    files = []
    for m in (0, 1):
        for f in sorted((data_dir / "ensemble" / f"ens{m}").glob("*.nc")):
            files.append(shutil.copy(f, tmp_path / f"ens{m}_{f.name}"))
    code, out, err = _run(cli, "virtualize", *files, "--repo", str(tmp_path / "repo"), "--new-dim", r"member=ens(\d+)_",
                            "--concat-dim", "time")
    assert code == 0 and err == "", err
    assert "concat dim: member x time" in out and "global attributes dropped" in out and "member" in out


def test_kerchunk_refs_in_another_folder_via_the_cli(tmp_path: Path, series_files: list[Path], cli: Cli) -> None:
    from kerchunk.hdf import SingleHdf5ToZarr

    data = [Path(p) for p in _copy(series_files[:2], tmp_path / "data")]
    (tmp_path / "refs").mkdir()
    refs = []
    for f in data:
        path = tmp_path / "refs" / (f.stem + ".json")
        path.write_text(json.dumps(SingleHdf5ToZarr(str(f), f.as_uri()).translate()))
        refs.append(str(path))
    code, out, err = _run(cli, "check", *refs, "--json")
    assert code == 0, err
    code, out, err = _run(cli, "virtualize", *refs, "--repo", str(tmp_path / "repo"), "--json")
    assert code == 0 and err == "", err
    assert (tmp_path / "data").as_uri() + "/" in json.loads(out)["containers"]
    from vzskill.repo import open_location

    stored = xr.open_zarr(open_location(tmp_path / "repo").readonly_session("main").store, consolidated=False, zarr_format=3)
    direct = xr.concat([xr.open_dataset(f, engine="h5netcdf") for f in data], dim="time")
    for name in ("temperature", "precipitation", "time", "lat"):
        np.testing.assert_array_equal(stored[name].values, direct[name].values, err_msg=name)


def test_one_file_without_time_via_the_cli(tmp_path: Path, cli: Cli) -> None:
    src = shutil.copy(Path(xr.__file__).resolve().parent / "tests" / "data" / "bears.nc", tmp_path / "bears.nc")
    code, out, err = _run(cli, "virtualize", src, "--repo", str(tmp_path / "repo"))
    assert code == 0 and err == "", err
    assert "concat dim: none (one file: no concat dimension)" in out
