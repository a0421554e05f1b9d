"""Bad inputs: every case gives ONE line naming the file (and variable) and the fix, a non-zero exit,
and leaves an existing repository untouched (same branch tip, no new snapshot, manifest or branch).

The repository already has one commit (the series); every bad case tries to append to it, through
the Python API and through the ``vzskill virtualize`` CLI (``vzskill.cli.main`` in this process; one case also
through the real console script).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import icechunk
import pytest
from obspec_utils.registry import ObjectStoreRegistry
from obstore.store import LocalStore

from vzskill import check
from vzskill.cli import main
from vzskill.containers import open_repo
from vzskill.sources import SourceError
from vzskill import verify
from vzskill.write import VirtualizeError, virtualize

VZSKILL = str(Path(sys.executable).with_name("vzskill"))

# case -> (files relative to data_dir, extra virtualize kwargs, extra CLI args, expected start of the one-line error)
CASES: dict[str, tuple[list[str], dict[str, Any], list[str], str]] = {
    "corrupt": (["bad/corrupt.nc"], {}, [], "corrupt.nc: corrupt HDF5 file ("),
    "truncated": (["bad/truncated.nc"], {}, [], "truncated.nc: truncated HDF5 file ("),
    "text": (["bad/text.nc"], {}, [], "text.nc: not a format vzskill reads (starts with b'this is '; it reads NetCDF3/4, HDF5, HDF4, FITS, GRIB2, TIFF, ENVI, DMR++, Zarr, kerchunk)"),
    "empty": (["bad/empty.nc"], {}, [], "empty.nc: empty file (0 bytes)"),
    "missing": (["bad/does_not_exist.nc"], {}, [], "does_not_exist.nc: file not found ("),
    "lzf": (["bad/lzf.nc"], {}, [], "lzf.nc: variable 'x' uses the LZF filter, which has no Zarr codec"),
    "vlen_int": (["bad/vlen_int.nc"], {}, [], "vlen_int.nc: variable 'ragged' is a variable-length (ragged) array"),
    "object_ref": (["bad/object_ref.nc"], {}, [], "object_ref.nc: variable 'refs' holds HDF5 object references"),
    "chunks": (["variants/other_chunks.nc"], {}, [], "other_chunks.nc: variable 'temperature' uses chunks (1, 20, 30)"),
    "codec": (["variants/other_level.nc"], {}, [], "other_level.nc: variable 'temperature' uses zlib level 9 with shuffle"),
    "dtype": (["variants/float64.nc"], {}, [], "float64.nc: variable 'temperature' uses dtype float64"),
    "scale_factor": (["variants/scale_factor.nc"], {}, [], "scale_factor.nc: variable 'temperature' uses dtype int16"),
    "time_units": (
        ["variants/other_time_units.nc"],
        {"loadable_variables": ["lat", "lon"]},  # time left virtual: the silent-wrong-time case
        ["--loadable", "lat", "--loadable", "lon"],
        "other_time_units.nc: variable 'time' uses units 'hours since 2024-01-05'",
    ),
    "concat_dim": ([], {"concat_dim": "Time"}, ["--concat-dim", "Time"], "concat_dim 'Time' is not a dimension of the files"),
}
FIX_WORDS = {
    "corrupt": "re-download", "truncated": "re-download", "text": "check the download", "empty": "re-download",
    "missing": "check the path", "lzf": "HDFParser(drop_variables=['x'])", "vlen_int": "HDFParser(drop_variables=['ragged'])",
    "object_ref": "links_and_references=True", "chunks": "rechunk", "codec": "recompress", "dtype": "loadable_variables",
    "scale_factor": "loadable_variables", "time_units": "keep 'time' loaded and decoded", "concat_dim": "did you mean 'time'?",
}


def _state(repo_dir: Path) -> dict[str, Any]:
    """Everything a failed run must not change."""
    repo = open_repo(icechunk.local_filesystem_storage(str(repo_dir)))
    return {
        "tip": repo.lookup_branch("main"),
        "branches": sorted(repo.list_branches()),
        "tags": sorted(repo.list_tags()),
        "ancestry": [s.id for s in repo.ancestry(branch="main")],
        "files": sorted(str(p.relative_to(repo_dir)) for p in repo_dir.rglob("*") if p.is_file() and "overwritten" not in p.parts),
    }


@pytest.fixture(scope="module")
def repo_dir(tmp_path_factory: pytest.TempPathFactory, series_files: list[Path]) -> Path:
    root = tmp_path_factory.mktemp("bad_inputs")
    (root / "src").mkdir()
    files = []
    for p in series_files:
        shutil.copy(p, root / "src" / p.name)
        files.append(str(root / "src" / p.name))
    virtualize(files, root / "repo")
    return root / "repo"


@pytest.fixture(scope="module")
def state0(repo_dir: Path) -> dict[str, Any]:
    state = _state(repo_dir)
    assert len(state["ancestry"]) == 2  # repository creation + the one commit
    return state


def _inputs(case: str, data_dir: Path, series_files: list[Path]) -> list[str]:
    rel = CASES[case][0]
    return [*map(str, series_files), *(str(data_dir / r) for r in rel)]


def _main(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``vzskill.cli.main(argv)`` in this process (the CLI's own parsing, exit code and stderr line)."""
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(argv, code, std.getvalue(), err.getvalue())


REAL_BINARY = ("corrupt",)  # and once through the real console script


@pytest.fixture(scope="module")
def cli_runs(repo_dir: Path, state0: dict[str, Any], data_dir: Path, series_files: list[Path]) -> dict[str, subprocess.CompletedProcess[str]]:
    """``vzskill virtualize ... --append`` for every case."""
    argvs: dict[str, list[str]] = {}
    for case in [*CASES, "scheme"]:
        if case == "scheme":
            urls, extra = [*map(str, series_files), "ftp://example.org/data/x.nc"], []
        else:
            urls, extra = _inputs(case, data_dir, series_files), CASES[case][2]
        argvs[case] = ["virtualize", *urls, "--repo", str(repo_dir), "--append", *extra]
    out = {case: _main(argv) for case, argv in argvs.items()}
    for case in REAL_BINARY:
        out[f"{case}:binary"] = subprocess.run([VZSKILL, *argvs[case]], capture_output=True, text=True, timeout=180)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_python_api(case: str, repo_dir: Path, state0: dict[str, Any], data_dir: Path, series_files: list[Path]) -> None:
    urls = _inputs(case, data_dir, series_files)
    kwargs = CASES[case][1]
    expected = CASES[case][3]
    # check: the finding, one line, file (+ variable) named, fix given
    report = check(urls, concat_dim=kwargs.get("concat_dim", "time"), loadable_variables=kwargs.get("loadable_variables"))
    assert report.exit_code == 1, report.format_table()
    matching = [f for f in report.errors if f.message.startswith(expected)]
    assert matching, f"{case}: no error starting with {expected!r} in:\n{report.format_table()}"
    f = matching[0]
    assert "\n" not in f.message and " -> " in f.message and FIX_WORDS[case] in f.fix
    # virtualize: aborts with the same line, repo unchanged
    with pytest.raises(VirtualizeError) as err:
        virtualize(urls, repo_dir, append=True, **kwargs)
    text = str(err.value)
    assert "\n" not in text and "nothing written" in text and expected in text
    assert _state(repo_dir) == state0


@pytest.mark.parametrize("case", [*CASES, "scheme", *(f"{c}:binary" for c in REAL_BINARY)])
def test_cli(case: str, cli_runs: dict[str, subprocess.CompletedProcess[str]], repo_dir: Path, state0: dict[str, Any]) -> None:
    proc = cli_runs[case]
    case = case.split(":")[0]
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line on stderr
    expected = "ftp://example.org/data/x.nc: unsupported URL scheme 'ftp://'" if case == "scheme" else CASES[case][3]
    assert expected in lines[0]
    assert " -> " in lines[0]
    assert _state(repo_dir) == state0


def test_wrong_url_scheme(repo_dir: Path, state0: dict[str, Any], series_files: list[Path]) -> None:
    bad = "ftp://example.org/data/x.nc"
    report = check([*series_files, bad])
    [f] = report.errors
    assert f.message.startswith(f"{bad}: unsupported URL scheme 'ftp://' -> use one of file://, s3://")
    with pytest.raises(SourceError, match="unsupported URL scheme 'ftp://'"):
        virtualize([*map(str, series_files), bad], repo_dir, append=True)
    assert _state(repo_dir) == state0


def test_registry_prefix_mismatch(repo_dir: Path, state0: dict[str, Any], series_files: list[Path], tmp_path: Path) -> None:
    wrong = ObjectStoreRegistry({"file:///wrong/place": LocalStore(prefix=str(tmp_path))})
    right_key = series_files[0].parent.as_uri()
    report = check(series_files, registry=wrong)
    assert report.exit_code == 1
    assert [f.message for f in report.errors][0] == (
        f"temp_000.nc: no registry key matches {series_files[0].as_uri()} -> register the store under {right_key!r}"
    )
    with pytest.raises(VirtualizeError, match="no registry key matches"):
        virtualize(list(map(str, series_files)), repo_dir, append=True, registry=wrong)
    # a regular-expression key is refused before anything is read (exit 2: could not run)
    regex = check(series_files, registry={"file:///.*": LocalStore(prefix=str(tmp_path))})
    assert regex.exit_code == 2 and "looks like a regular expression" in regex.fatal
    assert _state(repo_dir) == state0


def test_container_prefix_mismatch(repo_dir: Path, state0: dict[str, Any], tmp_path: Path) -> None:
    """A reader that trusts the wrong prefix, and a repository whose container does not cover its refs."""
    storage = icechunk.local_filesystem_storage(str(repo_dir))
    with pytest.raises(SourceError) as err:
        open_repo(storage, allow=[str(tmp_path / "not-the-sources")])
    msg = str(err.value)
    assert "\n" not in msg and "the repository declares no container for" in msg and "-> fix the prefix" in msg
    # copy the repo and point its container elsewhere: verify names the uncovered files and the container to add
    copy = tmp_path / "repo_copy"
    shutil.copytree(repo_dir, copy)
    cstorage = icechunk.local_filesystem_storage(str(copy))
    config = icechunk.Repository.fetch_config(cstorage)
    config.clear_virtual_chunk_containers()
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(tmp_path.as_uri() + "/", icechunk.local_filesystem_store(str(tmp_path)))
    )
    icechunk.Repository.open(cstorage, config=config).save_config()
    report = verify(cstorage)
    assert report.exit_code == 1
    [f] = report.errors
    assert f.kind == "container" and "are under no virtual chunk container" in f.message
    proc = _main(["verify", "--repo", str(copy)])
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert _state(repo_dir) == state0


def test_all_bad_files_at_once_named(data_dir: Path) -> None:
    bad = sorted((data_dir / "bad").glob("*.nc"))
    report = check(bad)
    assert report.exit_code == 1
    assert sorted(report.odd_files) == sorted(p.as_uri() for p in bad)
    assert all(f.message.startswith(f"{Path(f.file).name}: ") for f in report.errors)


def _compact_file(path: Path) -> Path:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        h5py.h5d.create(f.id, b"small", h5py.h5t.NATIVE_FLOAT, h5py.h5s.create_simple((10,)), dcpl=dcpl)
        f["small"][...] = np.arange(1, 11, dtype="f4")
        f.create_dataset("values", data=np.arange(10, dtype="f4"))
    return path


def test_compact_storage_is_an_error_not_silent_fill(tmp_path: Path, repo_dir: Path, state0: dict[str, Any]) -> None:
    """HDFParser parses a compact dataset 'fine' with no chunk reference: it would read back as fill values."""
    path = _compact_file(tmp_path / "compact.nc")
    for kwargs in ({}, {"loadable_variables": ["small"]}):  # loading does not help: it reads through the manifest
        report = check([path], **kwargs)
        [f] = report.errors
        assert f.kind == "compact_storage" and f.variable == "small"
        assert f.message.startswith("compact.nc: variable 'small' uses HDF5 compact storage")
        assert "HDFParser(drop_variables=['small'])" in f.fix
    assert check([path], drop_variables=["small"]).ok
    with pytest.raises(VirtualizeError, match="compact storage"):
        virtualize([str(path)], repo_dir, append=True)
    assert _state(repo_dir) == state0


def test_scaleoffset_filter_named(tmp_path: Path) -> None:
    import h5py
    import numpy as np

    path = tmp_path / "packed.nc"
    with h5py.File(path, "w") as f:
        f.create_dataset("counts", data=np.arange(100, dtype="i4"), chunks=(10,), scaleoffset=0)
        f.create_dataset("ok", data=np.arange(100, dtype="f4"), chunks=(10,), fletcher32=True)  # supported
    [f] = check([path]).errors
    assert f.message.startswith("packed.nc: variable 'counts' uses the scale-offset filter, which has no Zarr codec")
    assert check([path], drop_variables=["counts"]).ok
