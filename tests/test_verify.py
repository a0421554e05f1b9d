"""vzskill.verify against real local Icechunk repositories and their NetCDF sources."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import icechunk
import pytest
import xarray as xr

from vzskill import fixtures
from vzskill.containers import create_repo
from vzskill.parse import parse_files
from vzskill import verify
from vzskill.write import virtualize

from tests.verify_repos import write_repo

VZSKILL = str(Path(sys.executable).with_name("vzskill"))


def _copy_series(series_files: list[Path], dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in series_files:
        shutil.copy(p, dest / p.name)
        out.append(str(dest / p.name))
    return out


@pytest.fixture(scope="module")
def clean_repo(tmp_path_factory: pytest.TempPathFactory, series_files: list[Path]) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("verify_clean")
    files = _copy_series(series_files, root / "src")
    virtualize(files, root / "repo")
    return root / "repo", files


def test_clean_repo_verifies(clean_repo: tuple[Path, list[str]]) -> None:
    repo, files = clean_repo
    report = verify(repo, files)
    assert report.ok and report.exit_code == 0, report.format_table()
    assert report.n_variables == 2  # temperature, precipitation (coordinates are loaded, not virtual)
    assert report.n_chunks == report.n_refs == 96
    assert sorted(report.files) == sorted(Path(f).as_uri() for f in files)
    assert "OK" in report.format_table()
    json.dumps(report.to_dict(), allow_nan=False)  # strict JSON (vzskill.jsonable)


def test_sample_is_seeded_and_counted(clean_repo: tuple[Path, list[str]]) -> None:
    repo, _ = clean_repo
    a = verify(repo, sample=5, seed=1)
    assert a.ok and a.n_chunks == 10 and a.sample == 5  # 5 per virtual variable
    assert sorted({v for v, _ in a.sampled}) == ["precipitation", "temperature"]
    assert verify(repo, sample=5, seed=1).sampled == a.sampled  # seeded
    assert verify(repo, sample=5, seed=2).sampled != a.sampled


def test_tag_and_snapshot(clean_repo: tuple[Path, list[str]]) -> None:
    repo_path, _ = clean_repo
    from vzskill.containers import open_repo

    repo = open_repo(icechunk.local_filesystem_storage(str(repo_path)))
    snap = repo.lookup_branch("main")
    if "v1" not in repo.list_tags():
        repo.create_tag("v1", snap)
    assert verify(repo, tag="v1").ok
    report = verify(repo, snapshot_id=snap)
    assert report.ok and report.snapshot_id == snap


@pytest.mark.parametrize("combine_attrs", ["override", "drop_conflicts"])
def test_mixed_time_units_written_anyway_are_caught(tmp_path: Path, combine_attrs: str) -> None:
    """time virtual, one file in other units: raw values equal, decoded values differ -> a mismatch naming units."""
    src = tmp_path / "src"
    fixtures.make_series(src, 2)
    fixtures.write_file(src / "temp_002.nc", 2, time_units="hours since 2024-01-05")
    files = sorted(map(str, src.glob("*.nc")))
    storage = write_repo(tmp_path / "repo", files, loadable_variables=[], combine_attrs=combine_attrs)
    report = verify(storage)
    assert report.exit_code == 1
    assert {m.variable for m in report.mismatches} == {"time"}
    if combine_attrs == "override":  # the first file's units: only the third file decodes wrong
        [m] = report.mismatches
        assert m.chunk == (2,) and m.file.endswith("temp_002.nc")
        assert m.message.startswith("time chunk (2,): 4 of 4 values differ from temp_002.nc after CF decoding "
                                    "(units 'hours since 2024-01-05' in the source, 'days since 2024-01-01' in the "
                                    "repository; raw values equal)")
    else:  # conflicting units dropped: no file's times decode
        assert [m.chunk for m in report.mismatches] == [(0,), (1,), (2,)]
        assert "units 'days since 2024-01-01' in the source, absent in the repository" in report.mismatches[0].message
    assert report.compared["temperature"] == 48 and not report.skipped


def test_wrong_bytes_reported_by_variable_and_chunk(tmp_path: Path, series_files: list[Path]) -> None:
    """Sources whose bytes changed in place (same size, same layout): mismatches name variable + chunk."""
    files = _copy_series(series_files, tmp_path / "src")
    virtualize(files, tmp_path / "repo")
    import h5py
    import numpy as np

    # rewrite one chunk of temperature with incompressible data: HDF5 stores it at a new offset, the
    # repository's reference still points at the old bytes (what a rewritten/replaced source looks like)
    with h5py.File(files[1], "r+") as f:
        before = f["temperature"].id.get_chunk_info(0).byte_offset
        f["temperature"][0, 0:10, 0:15] = np.random.default_rng(0).random((10, 15), dtype=np.float32) * 1e6
        assert f["temperature"].id.get_chunk_info(0).byte_offset != before
    os.utime(files[1], (0, 0))  # hide the change from the mtime check: only the values tell
    report = verify(tmp_path / "repo")
    assert report.exit_code == 1, report.format_table()
    assert [(m.variable, m.chunk) for m in report.mismatches] == [("temperature", (4, 0, 0))]
    assert report.mismatches[0].file == Path(files[1]).as_uri()
    sampled = verify(tmp_path / "repo", sample=200)
    assert [(m.variable, m.chunk) for m in sampled.mismatches] == [("temperature", (4, 0, 0))]


def test_deleted_and_modified_sources_are_stale(tmp_path: Path, series_files: list[Path]) -> None:
    files = _copy_series(series_files, tmp_path / "src")
    virtualize(files, tmp_path / "repo")
    os.remove(files[2])
    later = dt.datetime.now().timestamp() + 5
    os.utime(files[0], (later, later))
    report = verify(tmp_path / "repo")
    assert report.exit_code == 1
    stale = {Path(s.file).name: s for s in report.stale}
    assert stale["temp_002.nc"].reason == "missing"
    assert stale["temp_002.nc"].n_refs == 32
    assert stale["temp_002.nc"].variables == ["precipitation", "temperature"]
    assert stale["temp_002.nc"].message.startswith("temp_002.nc: source deleted or moved (not found); 32 reference(s)")
    assert stale["temp_000.nc"].reason == "modified"
    assert "temp_001.nc" not in stale
    assert report.n_chunks == 32  # the good file is still compared


def test_icechunk_checksum_error_is_reported_as_modified(tmp_path: Path, series_files: list[Path]) -> None:
    files = _copy_series(series_files[:2], tmp_path / "src")
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = create_repo(storage, files)
    combined = xr.combine_nested([p.dataset for p in parse_files(files)], concat_dim="time",
                                 coords="minimal", compat="override", data_vars="minimal")
    session = repo.writable_session("main")
    # sources pinned as of 2000: every file is "newer" -> icechunk refuses the chunks
    combined.vz.to_icechunk(session.store, last_updated_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    session.commit("pinned")
    report = verify(storage)
    assert report.exit_code == 1
    assert {s.reason for s in report.stale} == {"modified"}
    assert all("checksum of the object owning the virtual chunk has changed" in s.message for s in report.stale)


def test_container_prefix_mismatch(tmp_path: Path, series_files: list[Path]) -> None:
    files = _copy_series(series_files[:2], tmp_path / "src")
    virtualize(files, tmp_path / "repo")
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    config = icechunk.Repository.fetch_config(storage)
    config.clear_virtual_chunk_containers()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(elsewhere.as_uri() + "/", icechunk.local_filesystem_store(str(elsewhere)))
    )
    icechunk.Repository.open(storage, config=config).save_config()
    report = verify(storage)
    assert report.exit_code == 1
    [f] = report.errors
    assert f.kind == "container"
    assert f"add a container for {(tmp_path / 'src').as_uri()}/" in f.message


def test_not_a_repo_is_exit_2(tmp_path: Path) -> None:
    report = verify(tmp_path / "nothing-here")
    assert report.exit_code == 2 and report.fatal and "\n" not in report.fatal
    assert report.fatal.startswith(f"no icechunk repository at {tmp_path / 'nothing-here'} -> "), report.fatal
    assert not (tmp_path / "nothing-here").exists()  # nothing created by looking


def test_listed_but_not_referenced(clean_repo: tuple[Path, list[str]], data_dir: Path) -> None:
    repo, files = clean_repo
    report = verify(repo, [*files, str(data_dir / "variants" / "float64.nc")])
    assert report.exit_code == 1
    assert [f.kind for f in report.errors] == ["not_referenced"]
    assert report.errors[0].message.startswith("float64.nc: listed but not referenced")


def test_cli_verify_exit_codes(clean_repo: tuple[Path, list[str]], tmp_path: Path, series_files: list[Path]) -> None:
    repo, _ = clean_repo
    ok = subprocess.run([VZSKILL, "verify", "--repo", str(repo), "--json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    files = _copy_series(series_files[:2], tmp_path / "src")
    virtualize(files, tmp_path / "repo")
    os.remove(files[1])
    bad = subprocess.run([VZSKILL, "verify", "--repo", str(tmp_path / "repo"), "--sample", "3"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "MISSING" in bad.stdout and "temp_001.nc" in bad.stdout


@pytest.mark.http
def test_verify_http_sources(http_base_url: str, tmp_path: Path) -> None:
    urls = [f"{http_base_url}/series/temp_{i:03d}.nc" for i in range(2)]
    virtualize(urls, tmp_path / "repo")
    full = verify(tmp_path / "repo", urls)
    assert full.ok and full.n_chunks == 64, full.format_table()
    sampled = verify(tmp_path / "repo", sample=4, seed=3)
    assert sampled.ok and sampled.n_chunks == 8


def test_loaded_time_without_decoding_is_caught(tmp_path: Path) -> None:
    """decode_times=False + mixed units: time is loaded (not virtual) but meaningless - verify says so."""
    src = tmp_path / "src"
    fixtures.make_series(src, 2)
    fixtures.write_file(src / "temp_002.nc", 2, time_units="hours since 2024-01-05")
    files = sorted(map(str, src.glob("*.nc")))
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = create_repo(storage, files)
    combined = xr.combine_nested([p.dataset for p in parse_files(files, decode_times=False)], concat_dim="time",
                                 coords="minimal", compat="override", data_vars="minimal")
    session = repo.writable_session("main")
    combined.vz.to_icechunk(session.store)
    session.commit("undecoded time")
    report = verify(storage)
    assert report.exit_code == 1
    [f] = report.errors
    assert f.kind == "decoding" and f.variable == "time"
    assert "re-virtualize with 'time' loaded and decoded" in f.message


def test_declared_but_unauthorized_container_is_named(clean_repo: tuple[Path, list[str]]) -> None:
    """A repository opened without authorizing its container: verify names the container and the fix."""
    repo, files = clean_repo
    prefix = Path(files[0]).parent.as_uri() + "/"
    bare = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)), authorize_virtual_chunk_access={})
    assert bare.authorized_virtual_container_prefixes == set()
    report = verify(bare)
    assert not report.ok
    errors = [f.message for f in report.findings if f.kind == "container"]
    # one finding for the container (not one raw icechunk error per file)
    assert len(errors) == 1 and f"container {prefix} is declared but not authorized" in errors[0], errors
    assert "2 file(s)" in errors[0] or f"{len(files)} file(s)" in errors[0], errors
