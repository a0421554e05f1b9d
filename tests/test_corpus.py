"""Real-world corpus: every archival test file shipped inside the installed packages goes through
inspect -> check -> virtualize -> verify and ends VERIFIED or REFUSED (see tests/corpus_outcome.py
for the outcome rules, tests/plugins/corpus.py for how files are found and deduplicated).

KNOWN_GAPS lists the files that still fail, each with its owner and one-line reason. The marks are
strict xfails: a fix flips the test to XPASS, which fails, so the table must be updated with the fix.
The outcome table is printed at the end of the run (terminal summary "vzskill corpus outcomes").
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from tests import corpus_truth
from tests.corpus_outcome import judge_refusal, machine_fix, run_file
from tests.plugins.corpus import Corpus, CorpusFile, collect_corpus, record_outcome

# relpath (the test id) -> "<owner>: <one-line reason>". Keep it in sync with .notes/corpus-findings.md.
# Generated from the run at 09:51 UTC 2026-12-02 (tests/corpus_report.py); owners per .notes/corpus-findings.md.
# 12:00: the 7 'empty repository' gaps closed (virtualize refuses a write without data arrays).
# stop 16: gzip files refused with gunzip (E); ascii.fits refused by check (ASCII-table null markers), ascii_i4-i20.fits and the vlen strings verified.
KNOWN_GAPS: dict[str, str] = {}

CORPUS = collect_corpus()


def _params() -> list:
    out = []
    for cf in CORPUS.files:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[cf.id])] if cf.id in KNOWN_GAPS else []
        out.append(pytest.param(cf, id=cf.id, marks=marks))
    return out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cf", _params())
def test_corpus_file(cf: CorpusFile, tmp_path: Path) -> None:
    out = run_file(cf.path, cf.kind, tmp_path)
    record_outcome(out.row(cf.package, cf.relpath))
    assert out.passed, f"{out.outcome} (owner {out.owner}, stage {out.stage}): {out.reason}"


def test_known_gaps_name_real_files() -> None:
    ids = {cf.id for cf in CORPUS.files}
    assert not set(KNOWN_GAPS) - ids, f"KNOWN_GAPS entries that are not corpus files: {sorted(set(KNOWN_GAPS) - ids)}"
    assert all(":" in reason and reason.split(":")[0].strip() in {"A", "B", "C", "D", "E"} for reason in KNOWN_GAPS.values())


# ----------------------------------------------------------------------------- the corpus itself


def test_corpus_is_collected_and_accounted_for(corpus: Corpus) -> None:
    """Every package with test archives contributes; every candidate file is kept or mapped to a kept one."""
    per_package = corpus.per_package()
    for package in ("astropy", "h5py", "scipy", "xarray"):
        assert per_package.get(package, 0) >= 1, f"no corpus files from {package}: {corpus.summary()}"
    kinds = {cf.kind for cf in corpus.files}
    assert {"hdf5", "netcdf3", "fits", "gzip"} <= kinds, kinds
    assert len(corpus.files) + len(corpus.same_content) + len(corpus.duplicates) == corpus.candidates
    kept = {cf.relpath for cf in corpus.files}
    assert all(k in kept for _, k in corpus.same_content + corpus.duplicates)
    assert len({cf.sha256 for cf in corpus.files}) == len(corpus.files)
    assert len({cf.signature for cf in corpus.files}) == len(corpus.files)
    # found at test time under the interpreter's own site-packages, not a hard-coded path
    assert all(cf.path.is_file() and cf.relpath.startswith(cf.package + "/") for cf in corpus.files)


def test_magic_bytes_find_misnamed_archives(corpus: Corpus) -> None:
    """astropy's header-only ``.hdr`` files are FITS by content: found by magic bytes, not by name."""
    by_magic = [rel for rel, _ in corpus.duplicates if rel.endswith(".hdr")] + [cf.relpath for cf in corpus.files if cf.relpath.endswith(".hdr")]
    assert len(by_magic) >= 10


# ----------------------------------------------------------------------------- the harness can fail


def _series_file(tmp_path: Path) -> Path:
    from vzskill.fixtures import make_series

    files = make_series(tmp_path / "series", 1)
    return Path(files[0])


def test_harness_verifies_a_good_file(tmp_path: Path) -> None:
    out = run_file(_series_file(tmp_path), "hdf5", tmp_path / "work")
    assert out.outcome == "VERIFIED", out.reason


def test_harness_catches_a_wrong_reference(tmp_path: Path) -> None:
    """A committed reference shifted by 4 bytes (uncompressed chunks: decodes to other values) must not end VERIFIED:
    the independent comparison sees the difference whatever verify says."""
    import icechunk

    from tests.corpus_outcome import _verify_written
    from vzskill.fixtures import make_variant
    from vzskill.write import virtualize

    f = make_variant(tmp_path / "src", "no_compression")
    repo = tmp_path / "repo"
    result = virtualize([str(f)], repo)
    with h5py.File(f, "r") as h:
        info = h["temperature"].id.get_chunk_info(0)
    r = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)),
                                 authorize_virtual_chunk_access={f"file://{f.parent}/": icechunk.credentials.LocalFileSystemAccess})
    session = r.writable_session("main")
    session.store.set_virtual_ref("temperature/c/0/0/0", f"file://{f}", offset=info.byte_offset + 4, length=info.size)
    session.commit("shift one reference")
    cmp = corpus_truth.compare(f, "hdf5", repo)
    assert any(d.startswith("temperature") for d in cmp.differ), cmp
    out = _verify_written(f, "hdf5", repo, result, [])
    assert out.outcome in ("MISMATCH", "FALSE_OK"), out


def test_refusal_rules() -> None:
    f = Path("/nonexistent/x.nc")
    assert judge_refusal("x.nc: cannot parse -> drop it", f, "hdf5", Path("/nonexistent/repo")) is None
    assert judge_refusal("cannot parse -> drop it", f, "hdf5", Path("/nonexistent/repo")).outcome == "BAD_MESSAGE"
    assert judge_refusal("x.nc: cannot parse", f, "hdf5", Path("/nonexistent/repo")).outcome == "BAD_MESSAGE"
    assert judge_refusal("x.nc: bad\nsecond line -> fix", f, "hdf5", Path("/nonexistent/repo")).outcome == "TRACEBACK"
    assert judge_refusal("x.nc: odd -> drop_variables=[...]", f, "hdf5", Path("/nonexistent/repo")).outcome == "BAD_MESSAGE"
    assert machine_fix("x.nc: vlen 'v' -> pass drop_variables=['v', 'w']", "hdf5") == {"drop_variables": ["v", "w"]}
    assert machine_fix("x.nc: -> loadable_variables=['t']", "hdf5") == {"loadable_variables": ["t"]}
    assert machine_fix("x.nc: -> drop_variables=[...]", "hdf5") is None
    assert machine_fix("x.fits.gz: gzip -> gunzip it first", "gzip") == {"decompress": True}


# ----------------------------------------------------------------------------- the CLI on a few kinds

CLI_FILES = [  # one per kind of outcome; all must be in the corpus (asserted)
    "scipy/io/tests/data/example_1.nc",  # NetCDF3, record variables
    "xarray/tests/data/bears.nc",  # NetCDF3, char arrays
    "h5py/tests/data_files/vlen_string_s390x.h5",  # HDF5, both byte orders + vlen strings
    "h5py/tests/data_files/compound-dtype-complex.h5",  # HDF5 complex compound: unsupported
    "astropy/io/fits/tests/data/arange.fits",  # FITS 3-D image
    "astropy/io/fits/tests/data/btable.fits",  # FITS binary table: unsupported
    "astropy/io/fits/tests/data/group.fits",  # FITS random groups: unsupported
    "xarray/tests/data/example_1.nc.gz",  # gzip
    "astropy/modeling/tests/data/hst_sip.hdr",  # FITS header only (truncated)
    "astropy/modeling/tests/data/idcompspec.fits",  # text named .fits
]
# One interpreter runs every CLI call (fresh processes cost ~10 s each on the shared 2 cores): each call
# gets fds 1 and 2 redirected to files (so Rust logs and asyncio "Task exception was never retrieved"
# tracebacks are captured too, gc.collect() flushes the latter), ``vzskill.cli.main(argv)`` as the
# console script calls it. test_cli_console_script runs the real ``vzskill`` executable once.
_DRIVER = r"""
import gc, json, os, sys, tempfile
from vzskill.cli import main
results = []
for cwd, argv in json.loads(sys.argv[1]):
    os.chdir(cwd)
    out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush(); sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(out_f.fileno(), 1); os.dup2(err_f.fileno(), 2)
    try:
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:
            import traceback; traceback.print_exc(); rc = 99
        gc.collect()
    finally:
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(saved[0], 1); os.dup2(saved[1], 2)
    out_f.seek(0); err_f.seek(0)
    results.append([rc, out_f.read().decode("utf-8", "replace"), err_f.read().decode("utf-8", "replace")])
print(json.dumps(results))
"""


def _cli_problems(name: str, rc: int, out: str, err: str) -> list[str]:
    problems = []
    if rc not in (0, 1, 2):
        problems.append(f"{name}: exit code {rc}")
    if "Traceback" in err:
        problems.append(f"{name}: traceback on stderr: {err.strip().splitlines()[0][:120]}")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if rc != 0 and len(lines) > 1:
        problems.append(f"{name}: {len(lines)} stderr lines on failure (first: {lines[0][:100]!r})")
    try:
        json.loads(out)
    except ValueError:
        problems.append(f"{name}: stdout is not one JSON document: {out[:80]!r}")
    return problems


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, int, str, str]]]:
    """rel -> [(command, rc, stdout, stderr)]: inspect, virtualize, then verify when virtualize succeeded."""
    ids = {cf.id: cf for cf in CORPUS.files}
    work: dict[str, Path] = {}
    for i, rel in enumerate(r for r in CLI_FILES if r in ids):
        d = tmp_path_factory.mktemp(f"cli{i}")
        shutil.copyfile(ids[rel].path, d / ids[rel].path.name)
        work[rel] = d

    def run(calls: list[tuple[Path, list[str]]]) -> list[tuple[int, str, str]]:
        payload = json.dumps([[str(cwd), argv] for cwd, argv in calls])
        proc = subprocess.run([sys.executable, "-c", _DRIVER, payload], check=False, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"CLI driver failed: {proc.stderr.strip()[-300:]}"
        return [tuple(r) for r in json.loads(proc.stdout.strip().splitlines()[-1])]

    probe = tmp_path_factory.mktemp("cli_probe")
    first = run([(d, ["inspect", "--json", ids[rel].path.name]) for rel, d in work.items()]
                + [(d, ["virtualize", "--json", "--repo", "repo", ids[rel].path.name]) for rel, d in work.items()]
                + [(probe, ["verify", "--json", "--repo", "no-such-repo"])])
    n = len(work)
    runs = {rel: [("inspect", *first[i]), ("virtualize", *first[n + i])] for i, rel in enumerate(work)}
    runs["_probe"] = [("verify", *first[2 * n])]
    ok = [rel for rel in work if runs[rel][1][1] == 0]
    for rel, res in zip(ok, run([(work[rel], ["verify", "--json", "--repo", "repo"]) for rel in ok]) if ok else []):
        runs[rel].append(("verify", *res))
    for rel, d in work.items():
        runs[rel].append(("_dir", 0, str(d), ""))
    return runs


def _cli_params() -> list:
    out = []
    for rel in CLI_FILES:
        key = f"cli:{rel}"
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[key])] if key in KNOWN_GAPS else []
        out.append(pytest.param(rel, id=key, marks=marks))
    return out


@pytest.mark.timeout(600)
@pytest.mark.parametrize("rel", _cli_params())
def test_cli_on_corpus_file(rel: str, cli_runs: dict[str, list[tuple[str, int, str, str]]]) -> None:
    assert rel in cli_runs, f"{rel} is not in the corpus (renamed upstream?): update CLI_FILES"
    problems: list[str] = []
    runs = {name: (rc, out, err) for name, rc, out, err in cli_runs[rel]}
    for name in ("inspect", "virtualize", "verify"):
        if name in runs:
            problems += _cli_problems(name, *runs[name])
    if runs["virtualize"][0] != 0:
        untouched, why = corpus_truth.repo_is_untouched(Path(runs["_dir"][1]) / "repo")
        if not untouched:
            problems.append(f"virtualize failed (exit {runs['virtualize'][0]}) but {why}")
    assert not problems, "; ".join(problems)


def test_cli_driver_captures_stderr(cli_runs: dict[str, list[tuple[str, int, str, str]]]) -> None:
    """The fd capture works: a verify of a missing repository exits non-zero with its one stderr line captured."""
    _, rc, _out, err = cli_runs["_probe"][0]
    assert rc != 0 and len([ln for ln in err.splitlines() if ln.strip()]) == 1 and "vzskill" in err, (rc, err)
    assert _cli_problems("x", 1, "{}", "Traceback (most recent call last):\n  ...") != []
    assert _cli_problems("x", 1, "{}", "one line\nsecond line") != []
    assert _cli_problems("x", 1, "{}", "vzskill x: error: y -> z") == []


@pytest.mark.timeout(240)
def test_cli_console_script(tmp_path: Path) -> None:
    """The real ``vzskill`` executable on an unsupported file: exit 1, one stderr line, JSON on stdout, nothing written."""
    cf = next(c for c in CORPUS.files if c.id == "h5py/tests/data_files/compound-dtype-complex.h5")
    shutil.copyfile(cf.path, tmp_path / cf.path.name)
    exe = Path(sys.executable).with_name("vzskill")
    proc = subprocess.run([str(exe), "virtualize", "--json", "--repo", "repo", cf.path.name], check=False, cwd=tmp_path,
                          capture_output=True, text=True, timeout=200)
    problems = _cli_problems("virtualize", proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode != 0
    assert corpus_truth.repo_is_untouched(tmp_path / "repo")[0]
    assert not problems, "; ".join(problems)
