"""vzskill.write.virtualize: real files -> real local (and moto S3) icechunk repos, values compared with
direct h5netcdf reads; every failure leaves the branch tip unchanged."""

from __future__ import annotations

from pathlib import Path

import icechunk
import numpy as np
import pytest
import xarray as xr

from vzskill import fixtures
from vzskill.containers import declared_prefixes, open_repo
from vzskill.sources import Access, SourceError
from vzskill.write import VirtualizeError, WriteResult, storage_for, virtualize

pytestmark = pytest.mark.filterwarnings("error::DeprecationWarning")

VARS = ("temperature", "precipitation", "time", "lat", "lon")


def _read(location: Path | icechunk.Storage, branch: str = "main") -> xr.Dataset:
    storage = location if isinstance(location, icechunk.Storage) else storage_for(location)
    repo = open_repo(storage)
    return xr.open_zarr(repo.readonly_session(branch=branch).store, consolidated=False, zarr_format=3, chunks=None)


def _assert_equal(stored: xr.Dataset, files: list[Path]) -> None:
    direct = xr.concat([xr.open_dataset(f, engine="h5netcdf").load() for f in files], dim="time")
    for name in VARS:
        np.testing.assert_array_equal(stored[name].values, direct[name].values, err_msg=name)
    assert stored["lat"].dims == ("lat",) and stored["lon"].dims == ("lon",)


def _tip(location: Path, branch: str = "main") -> str:
    return icechunk.Repository.open(storage_for(location)).lookup_branch(branch)


def _history(location: Path, branch: str = "main") -> list[str]:
    return [s.message for s in icechunk.Repository.open(storage_for(location)).ancestry(branch=branch)]


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Five consecutive files (20 time steps); read-only like data_dir."""
    return fixtures.make_series(tmp_path_factory.mktemp("src"), 5)


@pytest.fixture
def variant(data_dir: Path):
    """data_dir/variants/<kind>.nc: continues the 3-file series (times 12-15), differs in one property."""
    return lambda kind: data_dir / "variants" / f"{kind}.nc"


# --------------------------------------------------------------------------- happy paths


def test_virtualize_into_a_local_path(tmp_path: Path, series: list[Path]) -> None:
    result = virtualize(series[:3], tmp_path / "repo")
    assert isinstance(result, WriteResult)
    assert result.n_files == 3 and result.branch == "main" and not result.appended
    assert result.variables == ["precipitation", "temperature"]
    assert result.dims == {"time": 12, "lat": 20, "lon": 30}
    assert result.nrefs == 2 * 12 * 2 * 2  # 2 variables x 12 time steps x (2 x 2) spatial chunks
    assert result.snapshot_id == _tip(tmp_path / "repo")
    assert _history(tmp_path / "repo") == ["vzskill: virtualize 3 file(s) along time", "Repository initialized"]
    assert declared_prefixes(storage_for(tmp_path / "repo")) == [series[0].parent.as_uri() + "/"]
    _assert_equal(_read(tmp_path / "repo"), series[:3])
    assert result.to_dict()["nrefs"] == 96


def test_virtualize_accepts_storage_repository_and_file_url(tmp_path: Path, series: list[Path]) -> None:
    storage = icechunk.local_filesystem_storage(str(tmp_path / "r1"))
    virtualize(series[:2], storage, message="from a Storage")
    _assert_equal(_read(tmp_path / "r1"), series[:2])
    assert _history(tmp_path / "r1")[0] == "from a Storage"

    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "r2")))  # no containers yet
    virtualize([str(f) for f in series[:2]], repo)
    assert declared_prefixes(storage_for(tmp_path / "r2")) == [series[0].parent.as_uri() + "/"]
    _assert_equal(_read(tmp_path / "r2"), series[:2])

    virtualize([f.as_uri() for f in series[:2]], (tmp_path / "r3").as_uri())
    _assert_equal(_read(tmp_path / "r3"), series[:2])


def test_append_in_one_commit_per_batch(tmp_path: Path, series: list[Path]) -> None:
    virtualize(series[:2], tmp_path / "repo")
    result = virtualize(series[2:], tmp_path / "repo", append=True, message="batch 2")
    assert result.appended and result.n_files == 3
    assert _history(tmp_path / "repo") == ["batch 2", "vzskill: virtualize 2 file(s) along time", "Repository initialized"]
    stored = _read(tmp_path / "repo")
    assert stored.sizes["time"] == 20
    _assert_equal(stored, series)


def test_append_to_a_new_branch_leaves_main_alone(tmp_path: Path, series: list[Path]) -> None:
    virtualize(series[:2], tmp_path / "repo")
    main_tip = _tip(tmp_path / "repo")
    virtualize(series[2:3], tmp_path / "repo", append=True, branch="dev")
    assert _tip(tmp_path / "repo") == main_tip
    _assert_equal(_read(tmp_path / "repo", "dev"), series[:3])
    _assert_equal(_read(tmp_path / "repo", "main"), series[:2])


def test_by_coords_orders_files_by_time(tmp_path: Path, series: list[Path]) -> None:
    shuffled = [series[2], series[0], series[3], series[1]]
    virtualize(shuffled, tmp_path / "repo", combine="by_coords")
    _assert_equal(_read(tmp_path / "repo"), series[:4])


def test_loadable_variable_is_stored_as_data(tmp_path: Path, series: list[Path]) -> None:
    result = virtualize(series[:2], tmp_path / "repo", loadable_variables=["time", "lat", "lon", "precipitation"])
    assert result.nrefs == 2 * 8 // 2 * 4  # only temperature is referenced: 8 time steps x 4 chunks
    _assert_equal(_read(tmp_path / "repo"), series[:2])


def test_drop_variables(tmp_path: Path, series: list[Path]) -> None:
    result = virtualize(series[:2], tmp_path / "repo", drop_variables=["precipitation"])
    assert result.variables == ["temperature"]
    assert "precipitation" not in _read(tmp_path / "repo").variables


def test_single_file(tmp_path: Path, series: list[Path]) -> None:
    result = virtualize([series[0]], tmp_path / "repo")
    assert result.dims["time"] == 4
    _assert_equal(_read(tmp_path / "repo"), series[:1])


def test_progress_callback_sees_every_stage(tmp_path: Path, series: list[Path]) -> None:
    seen: list[tuple[str, int, int]] = []
    virtualize(series[:2], tmp_path / "repo", progress=lambda stage, done, total: seen.append((stage, done, total)))
    finished = [s for s, d, t in seen if d == t]
    assert list(dict.fromkeys(finished)) == ["parse", "check", "combine", "write"]
    assert [(d, t) for s, d, t in seen if s == "parse"][:3] == [(0, 2), (1, 2), (2, 2)]  # per file


# --------------------------------------------------------------------------- nothing written on failure


def test_check_error_aborts_before_writing(tmp_path: Path, series: list[Path], variant) -> None:
    odd = variant("other_chunks")
    with pytest.raises(VirtualizeError) as err:
        virtualize([*series[:2], odd], tmp_path / "repo")
    exc = err.value
    assert exc.exit_code == 1 and exc.report is not None and not exc.report.ok
    msg = str(exc)
    assert msg.startswith("check found ") and "nothing written" in msg and "other_chunks.nc" in msg and "\n" not in msg
    assert not (tmp_path / "repo").exists()  # check runs before the repository is even created


def test_check_error_on_append_keeps_the_tip(tmp_path: Path, series: list[Path], variant) -> None:
    virtualize(series[:2], tmp_path / "repo")
    tip = _tip(tmp_path / "repo")
    odd = variant("float64")
    with pytest.raises(VirtualizeError, match="float64"):
        virtualize([series[2], odd], tmp_path / "repo", append=True)
    assert _tip(tmp_path / "repo") == tip
    _assert_equal(_read(tmp_path / "repo"), series[:2])


def test_write_error_discards_the_session(tmp_path: Path, series: list[Path]) -> None:
    """An error while the references are being written (here: the disk fills up): nothing is committed."""
    virtualize(series[:2], tmp_path / "repo")
    tip = _tip(tmp_path / "repo")

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 0:
            raise OSError(28, "No space left on device")

    with pytest.raises(VirtualizeError) as err:
        virtualize(series[2:3], tmp_path / "repo", append=True, progress=progress)
    assert str(err.value) == "write failed, nothing committed: [Errno 28] No space left on device"
    assert _tip(tmp_path / "repo") == tip
    _assert_equal(_read(tmp_path / "repo"), series[:2])


def test_failure_on_a_new_branch_removes_it(tmp_path: Path, series: list[Path], variant) -> None:
    virtualize(series[:2], tmp_path / "repo")
    odd = variant("other_chunks")
    with pytest.raises(VirtualizeError):
        virtualize([odd], tmp_path / "repo", append=True, branch="dev", check=False)
    assert icechunk.Repository.open(storage_for(tmp_path / "repo")).list_branches() == {"main"}


def test_combine_error_writes_nothing(tmp_path: Path, series: list[Path], variant) -> None:
    odd = variant("no_shuffle")
    with pytest.raises(VirtualizeError, match=r"^cannot combine the files along 'time': .*-> run `vzskill check` on them$"):
        virtualize([*series[:2], odd], tmp_path / "repo", check=False)
    assert not (tmp_path / "repo").exists()


def test_second_plain_write_is_refused(tmp_path: Path, series: list[Path]) -> None:
    virtualize(series[:2], tmp_path / "repo")
    tip = _tip(tmp_path / "repo")
    with pytest.raises(VirtualizeError, match=r"^branch 'main' already holds data -> pass --append/append=True"):
        virtualize(series[2:3], tmp_path / "repo")
    assert _tip(tmp_path / "repo") == tip


def test_append_to_nothing_is_refused(tmp_path: Path, series: list[Path]) -> None:
    with pytest.raises(VirtualizeError, match=r"^nothing to append to: no icechunk repository at .*repo -> run the first write without"):
        virtualize(series[:1], tmp_path / "repo", append=True)
    assert not (tmp_path / "repo").exists()  # nothing created
    icechunk.Repository.create(storage_for(tmp_path / "repo"))
    with pytest.raises(VirtualizeError, match=r"^nothing to append to: branch 'main' has no arrays yet -> run the first write without"):
        virtualize(series[:1], tmp_path / "repo", append=True)
    assert _history(tmp_path / "repo") == ["Repository initialized"]


def _shifted(path: Path, index: int, days: int) -> Path:
    """The series' ``index``-th file with its times shifted by ``days`` (overlapping its neighbours)."""
    ds = fixtures.sample_dataset(index)
    ds = ds.assign_coords(time=ds["time"].values + np.timedelta64(days, "D"))
    ds.to_netcdf(path, engine="h5netcdf", encoding=fixtures.encoding_for(ds))
    return path


def test_append_of_a_stored_file_is_skipped_and_said(tmp_path: Path, series: list[Path]) -> None:
    virtualize(series[:2], tmp_path / "repo")
    tip = _tip(tmp_path / "repo")
    result = virtualize(series[1:2], tmp_path / "repo", append=True)
    assert result.skipped == [series[1].as_uri()] and result.inserted == []
    assert result.snapshot_id == tip == _tip(tmp_path / "repo")  # nothing committed
    assert result.to_dict()["skipped"] == [series[1].as_uri()]
    result = virtualize(series[1:3], tmp_path / "repo", append=True)  # one stored, one new
    assert result.skipped == [series[1].as_uri()] and result.dims["time"] == 4
    _assert_equal(_read(tmp_path / "repo"), series[:3])


def test_append_overlapping_stored_times_is_refused(tmp_path: Path, series: list[Path]) -> None:
    virtualize(series[:2], tmp_path / "repo")
    tip = _tip(tmp_path / "repo")
    with pytest.raises(VirtualizeError, match=r"^shifted\.nc: time 2024-01-07\.\.2024-01-10 overlaps the stored time "
                       r"2024-01-07\.\.2024-01-08 \(2 stored step\(s\)\), nothing written -> append only files"):
        virtualize([_shifted(tmp_path / "shifted.nc", 1, 2)], tmp_path / "repo", append=True)
    copy = tmp_path / "elsewhere" / series[1].name
    copy.parent.mkdir()
    copy.write_bytes(series[1].read_bytes())
    with pytest.raises(VirtualizeError, match=r"^temp_001\.nc: time 2024-01-05\.\.2024-01-08 is already stored from "
                       r"file://.*/temp_001\.nc, nothing written"):
        virtualize([copy], tmp_path / "repo", append=True)
    assert _tip(tmp_path / "repo") == tip


def test_new_files_overlapping_each_other_are_refused(tmp_path: Path, series: list[Path]) -> None:
    virtualize(series[:1], tmp_path / "repo")
    tip = _tip(tmp_path / "repo")
    with pytest.raises(VirtualizeError, match=r"overlap in time .*nothing written"):
        virtualize([series[2], _shifted(tmp_path / "shifted.nc", 2, 2)], tmp_path / "repo", append=True, check=False)
    assert _tip(tmp_path / "repo") == tip


def test_files_before_the_stored_tail_are_inserted(tmp_path: Path, series: list[Path]) -> None:
    """Gaps filled in any order: references move (virtual arrays), the loaded time axis is rewritten."""
    virtualize([series[0], series[4]], tmp_path / "repo")
    result = virtualize([series[3], series[1]], tmp_path / "repo", append=True)  # out of order, both before the tail
    assert sorted(result.inserted) == sorted([series[1].as_uri(), series[3].as_uri()]) and result.skipped == []
    result = virtualize(series[2:3], tmp_path / "repo", append=True)
    assert result.inserted == [series[2].as_uri()]
    stored = _read(tmp_path / "repo")
    _assert_equal(stored, series)
    assert (np.diff(stored["time"].values) > np.timedelta64(0, "ns")).all()
    assert len(_history(tmp_path / "repo")) == 4  # initialized, first write, two appends


def test_insert_moves_several_chunks_per_file(tmp_path: Path) -> None:
    """Files of 4 time steps in chunks of 2: each inserted file moves as 2 chunks of references."""
    paths = []
    for i in range(4):
        ds = fixtures.sample_dataset(i)
        paths.append(tmp_path / f"two_{i}.nc")
        ds.to_netcdf(paths[-1], engine="h5netcdf", encoding=fixtures.encoding_for(ds, chunks=(2, 10, 15)))
    virtualize([paths[0], paths[3]], tmp_path / "repo")
    result = virtualize([paths[2], paths[1]], tmp_path / "repo", append=True)
    assert len(result.inserted) == 2
    _assert_equal(_read(tmp_path / "repo"), paths)


def test_wrong_concat_dim_is_refused(tmp_path: Path, series: list[Path]) -> None:
    with pytest.raises(VirtualizeError, match=r"concat_dim 'Time'|'Time'"):
        virtualize(series[:2], tmp_path / "repo", concat_dim="Time")
    assert not (tmp_path / "repo").exists()


def test_argument_errors(tmp_path: Path, series: list[Path]) -> None:
    with pytest.raises(VirtualizeError, match="by_coords.*takes no concat_dim"):
        virtualize(series[:2], tmp_path / "r", combine="by_coords", concat_dim="lat")
    with pytest.raises(VirtualizeError, match="by_coords' needs every dimension coordinate loaded"):
        virtualize(series[:2], tmp_path / "r", combine="by_coords", loadable_variables=[])
    with pytest.raises(VirtualizeError, match="append adds files along ONE dimension"):
        virtualize([series[:1], series[1:2]], tmp_path / "r", append=True, concat_dim=["member", "time"])
    with pytest.raises(VirtualizeError, match="unknown combine 'sideways'"):
        virtualize(series[:2], tmp_path / "r", combine="sideways")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="no source URLs given"):
        virtualize([], tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_bad_file_is_named(tmp_path: Path, series: list[Path], data_dir: Path) -> None:
    bad = data_dir / "bad" / "truncated.nc"
    with pytest.raises(VirtualizeError) as err:
        virtualize([*series[:2], bad], tmp_path / "repo")
    assert "truncated.nc" in str(err.value) and "\n" not in str(err.value)


def test_sources_sharing_only_root_are_refused(tmp_path: Path, series: list[Path]) -> None:
    with pytest.raises(SourceError, match="share no directory but '/'"):
        virtualize([series[0], "/definitely_not_here/x.nc"], tmp_path / "repo")


# --------------------------------------------------------------------------- storage_for


def test_storage_for_local_locations(tmp_path: Path) -> None:
    for location in (tmp_path / "a", str(tmp_path / "b"), (tmp_path / "c").as_uri()):
        assert isinstance(storage_for(location), icechunk.Storage)


@pytest.mark.parametrize(
    "location, message",
    [
        ("ftp://host/repo", r"^ftp://host/repo: unsupported repository location -> a local directory, s3://, gs:// or az:// URL$"),
        ("file://server/repo", r"file URLs must be absolute \(file:///abs/path\), got host 'server'"),
        ("s3:///repo", r"^s3:///repo: missing bucket after 's3://' -> e\.g\. s3://bucket/path/to/repo$"),
        ("az://container/repo", r"Azure repositories need an account"),
    ],
)
def test_storage_for_rejections(location: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        storage_for(location)


def test_storage_for_remote_builds_without_io() -> None:
    assert isinstance(storage_for("s3://bucket/prefix/repo", Access(endpoint="http://127.0.0.1:9", region="us-east-1")), icechunk.Storage)
    assert isinstance(storage_for("gs://bucket/repo", Access(anonymous=True)), icechunk.Storage)
    assert isinstance(storage_for("az://container@acct.dfs.core.windows.net/repo", Access(anonymous=True)), icechunk.Storage)


@pytest.mark.s3
@pytest.mark.timeout(120)
def test_virtualize_into_an_s3_repository(tmp_path: Path, series: list[Path], s3_endpoint: str, make_bucket) -> None:
    bucket = make_bucket()
    access = Access(endpoint=s3_endpoint, region="us-east-1")
    url = f"s3://{bucket}/repos/series"
    virtualize(series[:2], url, access=access)
    virtualize(series[2:3], url, access=access, append=True)
    stored = _read(storage_for(url, access))
    _assert_equal(stored, series[:3])


# --------------------------------------------------------------------------- a concurrent writer


def _other_writer_commits(location: Path, branch: str = "main", n: int = 0) -> str:
    """A second, independent Repository object commits to ``branch`` (a root attribute): a real race."""
    import zarr

    other = open_repo(storage_for(location))
    session = other.writable_session(branch)
    group = zarr.open_group(session.store, mode="a", zarr_format=3)
    group.attrs.update({"touched_by": "another writer", "n": n})
    return session.commit("another writer")


def test_conflict_is_retried_from_the_new_tip(tmp_path: Path, series: list[Path]) -> None:
    virtualize(series[:2], tmp_path / "repo")
    raced: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 0 and not raced:  # after our session opened, before our commit
            raced.append(_other_writer_commits(tmp_path / "repo"))

    result = virtualize(series[2:4], tmp_path / "repo", append=True, progress=progress)
    assert raced
    history = _history(tmp_path / "repo")
    assert history[:2] == ["vzskill: append 2 file(s) along time", "another writer"]  # both landed, ours on top
    assert result.snapshot_id == _tip(tmp_path / "repo")
    stored = _read(tmp_path / "repo")
    assert stored.attrs.get("touched_by") == "another writer"
    _assert_equal(stored, series[:4])


def test_racing_append_of_the_same_file_lands_once(tmp_path: Path, series: list[Path]) -> None:
    """Another writer appends the same file while ours is being written: our redo finds it stored and skips it."""
    virtualize(series[:2], tmp_path / "repo")
    raced: list[object] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 0 and not raced:
            raced.append(virtualize(series[2:3], tmp_path / "repo", append=True, message="the other writer"))

    result = virtualize(series[2:4], tmp_path / "repo", append=True, progress=progress)
    assert raced and result.attempts == 2
    assert result.skipped == [series[2].as_uri()] and result.dims["time"] == 4
    assert _history(tmp_path / "repo")[:2] == ["vzskill: append 2 file(s) along time", "the other writer"]
    _assert_equal(_read(tmp_path / "repo"), series[:4])


def test_conflicts_beyond_the_retries_commit_nothing(tmp_path: Path, series: list[Path]) -> None:
    virtualize(series[:2], tmp_path / "repo")

    calls: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 0:  # another writer wins every time
            calls.append(1)
            _other_writer_commits(tmp_path / "repo", n=len(calls))

    with pytest.raises(VirtualizeError, match=r"^another writer committed to branch 'main' first \(2 attempts\), nothing committed -> rerun"):
        virtualize(series[2:3], tmp_path / "repo", append=True, progress=progress, conflict_retries=1)
    assert len(calls) == 2
    assert _history(tmp_path / "repo")[:3] == ["another writer", "another writer", "vzskill: virtualize 2 file(s) along time"]
    _assert_equal(_read(tmp_path / "repo"), series[:2])


# --------------------------------------------------------------------------- concat dim, grids, attributes, references

SITE = Path(xr.__file__).resolve().parents[1]  # site-packages: real files we did not design


def test_one_file_without_time_is_written_as_it_is(tmp_path: Path) -> None:
    """xarray's own bears.nc (NetCDF3, dims i/j/l, no time): one file needs no concat dimension."""
    import shutil

    src = Path(shutil.copy(SITE / "xarray" / "tests" / "data" / "bears.nc", tmp_path / "bears.nc"))
    result = virtualize([src], tmp_path / "repo")
    assert result.concat_dim is None and result.concat_reason == "one file: no concat dimension"
    assert result.containers == [tmp_path.as_uri() + "/"]
    stored = _read(tmp_path / "repo")
    direct = xr.open_dataset(src, engine="scipy", decode_cf=False)
    numeric = [n for n, v in direct.variables.items() if v.dtype.kind in "iuf"]
    assert {"aloan", "cross", "shot"} <= set(numeric)
    for name in numeric:
        np.testing.assert_array_equal(stored[name].values, direct[name].values, err_msg=name)
    assert stored.attrs["history"] == direct.attrs["history"]


def test_concat_dim_is_inferred_and_said(tmp_path: Path, series: list[Path]) -> None:
    result = virtualize(series[:3], tmp_path / "repo")  # no concat_dim given
    assert result.concat_dim == "time" and result.concat_reason == "time: its values differ between files"
    assert result.to_dict()["concat_reason"] == result.concat_reason
    _assert_equal(_read(tmp_path / "repo"), series[:3])
    appended = virtualize(series[3:4], tmp_path / "repo", append=True)  # inferred from stored data + new file
    assert appended.concat_dim == "time" and "stored data and new files" in appended.concat_reason
    _assert_equal(_read(tmp_path / "repo"), series[:4])


def test_same_coordinates_everywhere_cannot_be_inferred(tmp_path: Path, series: list[Path]) -> None:
    with pytest.raises(VirtualizeError, match=r"cannot infer the concat dimension.*-> pass concat_dim=\.\.\. / --concat-dim"):
        virtualize([series[0], series[0]], tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def _ensemble(tmp_path: Path, data_dir: Path) -> list[list[str]]:
    import shutil

    grid = []
    for m in (0, 1):
        (tmp_path / "ens" / f"ens{m}").mkdir(parents=True)
        row = sorted((data_dir / "ensemble" / f"ens{m}").glob("*.nc"))
        grid.append([shutil.copy(f, tmp_path / "ens" / f"ens{m}" / f.name) for f in row])
    return grid


def test_member_by_time_grid(tmp_path: Path, data_dir: Path) -> None:
    grid = _ensemble(tmp_path, data_dir)
    result = virtualize(grid, tmp_path / "repo", concat_dim=["member", "time"], coords={"member": ["m0", "m1"]})
    assert result.concat_dim == ["member", "time"] and "member" in result.concat_reason
    assert result.dims == {"member": 2, "time": 8, "lat": 20, "lon": 30}
    assert result.dropped_attrs == ["member", "source"]  # differ between files: dropped, not the first file's
    stored = _read(tmp_path / "repo")
    assert list(stored["member"].values) == ["m0", "m1"] and "member" not in stored.attrs
    for m, row in enumerate(grid):
        direct = xr.concat([xr.open_dataset(f, engine="h5netcdf").load() for f in row], dim="time")
        np.testing.assert_array_equal(stored["temperature"].isel(member=m).values, direct["temperature"].values)
        np.testing.assert_array_equal(stored["precipitation"].isel(member=m).values, direct["precipitation"].values)
    assert stored["lat"].dims == ("lat",) and stored["time"].dims == ("time",)


def test_grid_needs_one_concat_dim_per_level(tmp_path: Path, data_dir: Path) -> None:
    grid = _ensemble(tmp_path, data_dir)
    with pytest.raises(VirtualizeError, match=r"pass one concat_dim per level"):
        virtualize(grid, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def _with_attrs(src: Path, dest: Path, **attrs: str) -> Path:
    import shutil

    import h5py

    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest)
    with h5py.File(dest, "r+") as f:  # root attributes only: the chunks stay where they are
        for k, v in attrs.items():
            f.attrs[k] = v
    return dest


def test_attributes_drop_conflicts_on_write_and_append(tmp_path: Path, series: list[Path]) -> None:
    d = tmp_path / "src"
    a = _with_attrs(series[0], d / series[0].name, title="first", history="made a", institution="X")
    b = _with_attrs(series[1], d / series[1].name, title="second", history="made b", institution="X")
    c = _with_attrs(series[2], d / series[2].name, title="third", institution="X", references="paper c")
    result = virtualize([a, b], tmp_path / "repo")
    assert result.dropped_attrs == ["history", "source", "title"]  # the fixture's 'source' differs per file too
    stored = _read(tmp_path / "repo")
    assert stored.attrs["institution"] == "X" and stored.attrs["Conventions"] == "CF-1.8"
    assert not {"title", "history", "source"} & set(stored.attrs)

    appended = virtualize([c], tmp_path / "repo", append=True)
    stored = _read(tmp_path / "repo")
    assert "title" not in stored.attrs  # dropped before: the appended file's title does not come back
    assert stored.attrs["institution"] == "X" and stored.attrs["references"] == "paper c"  # equal kept, new added
    assert appended.dropped_attrs == ["history", "source", "title"]
    _assert_equal(stored, series[:3])


def test_append_keeps_stored_attributes_the_new_file_lacks(tmp_path: Path, series: list[Path]) -> None:
    d = tmp_path / "src"
    a = _with_attrs(series[0], d / series[0].name, title="series", comment="kept")
    b = _with_attrs(series[1], d / series[1].name, title="series")
    virtualize([a], tmp_path / "repo")
    result = virtualize([b], tmp_path / "repo", append=True, concat_dim="time")
    stored = _read(tmp_path / "repo")
    assert stored.attrs["title"] == "series" and stored.attrs["comment"] == "kept" and result.dropped_attrs == ["source"]


def _kerchunk_refs(data: list[Path], refs_dir: Path) -> list[str]:
    import json

    from kerchunk.hdf import SingleHdf5ToZarr

    refs_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for f in data:
        refs = SingleHdf5ToZarr(str(f), f.as_uri()).translate()
        path = refs_dir / (f.stem + ".json")
        path.write_text(json.dumps(refs))
        out.append(str(path))
    return out


def test_kerchunk_refs_pointing_to_another_folder(tmp_path: Path, series: list[Path]) -> None:
    import shutil

    data = [Path(shutil.copy(f, (tmp_path / "data").mkdir(exist_ok=True) or tmp_path / "data" / f.name)) for f in series[:2]]
    refs = _kerchunk_refs(data, tmp_path / "refs")
    result = virtualize(refs, tmp_path / "repo", concat_dim="time")
    assert (tmp_path / "data").as_uri() + "/" in result.containers
    assert declared_prefixes(storage_for(tmp_path / "repo")) == sorted(result.containers)
    _assert_equal(_read(tmp_path / "repo"), data)


def test_kerchunk_refs_to_missing_data_name_it(tmp_path: Path, series: list[Path]) -> None:
    import shutil

    data = [Path(shutil.copy(f, (tmp_path / "data").mkdir(exist_ok=True) or tmp_path / "data" / f.name)) for f in series[:2]]
    refs = _kerchunk_refs(data, tmp_path / "refs")
    data[1].unlink()
    with pytest.raises(VirtualizeError) as err:
        virtualize(refs, tmp_path / "repo", concat_dim="time")
    assert data[1].name in str(err.value) and "\n" not in str(err.value) and " -> " in str(err.value)
    assert not (tmp_path / "repo").exists()


def test_group_and_workers_are_passed_to_the_parse(tmp_path: Path, data_dir: Path) -> None:
    """group= picks one HDF5 group of every file (written at the repository root); workers= reaches parse_files."""
    import h5py

    path = data_dir / "grouped" / "groups.nc"
    with h5py.File(path) as f:
        first = sorted(f)[0]
    result = virtualize([path], tmp_path / "repo", group=first, workers=2)
    direct = xr.open_dataset(path, engine="h5netcdf", group=first).load()
    stored = _read(tmp_path / "repo")
    assert result.variables == sorted(str(v) for v in direct.data_vars)
    for name in direct.data_vars:
        np.testing.assert_array_equal(stored[name].values, direct[name].values, err_msg=str(name))


def test_a_list_of_groups_is_one_datatree_commit(tmp_path: Path, data_dir: Path, series: list[Path]) -> None:
    """group=[...] writes every group at its path in ONE commit; a second write, an append and a bad group are refused."""
    path = data_dir / "grouped" / "groups.nc"
    result = virtualize([path], tmp_path / "repo", group=["surface", "upper"])
    assert len(_history(tmp_path / "repo")) == 2 and result.snapshots == [result.snapshot_id]
    repo = open_repo(storage_for(tmp_path / "repo"))
    tree = xr.open_datatree(repo.readonly_session(branch="main").store, engine="zarr", consolidated=False,
                            zarr_format=3, chunks=None)
    assert sorted(tree.children) == ["surface", "upper"] and not tree.ds.data_vars
    for group in ("surface", "upper"):
        direct = xr.open_dataset(path, engine="h5netcdf", group=group).load()
        for name in direct.data_vars:
            assert f"{group}/{name}" in result.variables
            np.testing.assert_array_equal(tree[group][name].values, direct[name].values, err_msg=f"{group}/{name}")
    tip = _tip(tmp_path / "repo")
    with pytest.raises(VirtualizeError, match="already holds data"):
        virtualize([path], tmp_path / "repo", group=["surface", "upper"])
    with pytest.raises(VirtualizeError, match="already holds data"):
        virtualize(series[:1], tmp_path / "repo")  # the root of a tree is not empty
    with pytest.raises(VirtualizeError, match="^append adds files to ONE group"):
        virtualize([path], tmp_path / "repo", group=["surface", "upper"], append=True)
    assert _tip(tmp_path / "repo") == tip
    with pytest.raises(VirtualizeError, match="^group 'nope': [^\n]*$"):
        virtualize([path], tmp_path / "other", group=["surface", "nope"])
    assert not (tmp_path / "other").exists()


def test_unloaded_time_cannot_be_placed_and_the_guard_refuses(tmp_path: Path, series: list[Path]) -> None:
    """time left virtual (loadable_variables=[]): no values to place by; an out-of-order append is refused."""
    opts = dict(loadable_variables=[], concat_dim="time")
    virtualize([series[0], series[2]], tmp_path / "repo", **opts)
    tip = _tip(tmp_path / "repo")
    with pytest.raises(VirtualizeError, match=r"^the time axis would not be strictly increasing after this append "
                       r"\(position 8\), nothing committed -> keep time loaded"):
        virtualize([series[1]], tmp_path / "repo", append=True, **opts)
    assert _tip(tmp_path / "repo") == tip
    virtualize([series[3]], tmp_path / "repo", append=True, **opts)  # in order: lands
    assert _read(tmp_path / "repo").sizes["time"] == 12


@pytest.mark.parametrize("kind, what", [("other_level", "codecs"), ("other_chunks", "chunks"), ("float64", "dtype")])
def test_append_encoded_unlike_the_stored_arrays_is_one_line(tmp_path: Path, series: list[Path], variant, kind: str,
                                                             what: str) -> None:
    virtualize(series[:3], tmp_path / "repo")
    tip = _tip(tmp_path / "repo")
    with pytest.raises(VirtualizeError, match=rf"^{kind}\.nc: variable \w+ has {what} .* but the stored \w+ has .*, nothing "
                       rf"written -> append files encoded like the stored ones \(same {what}\)"):
        virtualize([variant(kind)], tmp_path / "repo", append=True)
    assert _tip(tmp_path / "repo") == tip


def test_append_drops_conflicting_attributes_from_the_stored_root(tmp_path: Path, series: list[Path]) -> None:
    """What the result says dropped is gone from the repository too (F's repro: 'source' differs per file)."""
    virtualize(series[:1], tmp_path / "repo")
    assert _read(tmp_path / "repo").attrs["source"] == "file index 0"
    result = virtualize(series[1:3], tmp_path / "repo", append=True)
    assert "source" in result.dropped_attrs
    stored = _read(tmp_path / "repo")
    assert "source" not in stored.attrs and stored.attrs["title"] == "vzskill sample archive"


def test_place_rules_on_plain_values() -> None:
    """vzskill.append.place on numbers: skip exact stored runs, insert into gaps, refuse overlaps, keep order."""
    from vzskill.append import place

    stored = np.array([0, 1, 2, 3, 8, 9, 10, 11])
    files = {"a.nc": np.array([4, 5, 6, 7]), "b.nc": np.array([12, 13]), "c.nc": np.array([0, 1, 2, 3])}
    got = place(stored, list(files.values()), list(files), "time")
    assert got.order == [0, 1] and got.inserted == ["a.nc"] and got.skipped == ["c.nc"]
    with pytest.raises(VirtualizeError, match=r"^d\.nc: time 8\.\.11 is already stored from file:///x/old\.nc"):
        place(stored, [np.array([8, 9, 10, 11])], ["d.nc"], "time",
              sources_at=lambda start, stop: {("file:///x/old.nc", 0, 8)}, new_sources=[{("file:///x/d.nc", 0, 8)}])
    with pytest.raises(VirtualizeError, match=r"^d\.nc: time 8\.\.11 is stored from this file, but the file has changed"):
        place(stored, [np.array([8, 9, 10, 11])], ["d.nc"], "time",
              sources_at=lambda start, stop: {("file:///x/d.nc", 0, 8)}, new_sources=[{("file:///x/d.nc", 8, 8)}])
    same = place(stored, [np.array([8, 9, 10, 11])], ["d.nc"], "time",
                 sources_at=lambda start, stop: {("file:///x/d.nc", 0, 8)}, new_sources=[{("file:///x/d.nc", 0, 8)}])
    assert same.skipped == ["d.nc"] and same.order == []
    with pytest.raises(VirtualizeError, match=r"^e\.nc: time 3\.\.5 overlaps the stored time 3 \(1 stored step"):
        place(stored, [np.array([3, 4, 5])], ["e.nc"], "time")
    with pytest.raises(VirtualizeError, match=r"^f\.nc and g\.nc overlap in time \(12\.\.14 and 14\.\.15\)"):
        place(stored, [np.array([12, 13, 14]), np.array([14, 15])], ["f.nc", "g.nc"], "time")
    as_dates = stored.astype("datetime64[D]")
    assert place(as_dates, [np.array([1.5])], ["h.nc"], "time").order == [0]  # not comparable: left to the guard
    assert place(None, [None], ["i.nc"], "time").order == [0]


def test_append_with_a_variable_not_stored_is_one_line(tmp_path: Path, series: list[Path]) -> None:
    ds = fixtures.sample_dataset(1)
    ds["wind"] = ds["temperature"] * 2
    ds.to_netcdf(tmp_path / "extra.nc", engine="h5netcdf", encoding=fixtures.encoding_for(ds))
    virtualize(series[:1], tmp_path / "repo")
    with pytest.raises(VirtualizeError, match=r"^the new files have variable\(s\) wind not stored on branch 'main', nothing "
                       r"written -> drop them \(drop_variables=\['wind'\] / --drop wind\)"):
        virtualize([tmp_path / "extra.nc"], tmp_path / "repo", append=True)
    virtualize([tmp_path / "extra.nc"], tmp_path / "repo", append=True, drop_variables=["wind"])  # the fix works
    _assert_equal(_read(tmp_path / "repo"), series[:2])


def test_append_on_another_grid_is_one_line(tmp_path: Path, series: list[Path]) -> None:
    ds = fixtures.sample_dataset(1, ny=25)
    ds.to_netcdf(tmp_path / "wide.nc", engine="h5netcdf", encoding=fixtures.encoding_for(ds))
    virtualize(series[:1], tmp_path / "repo")
    tip = _tip(tmp_path / "repo")
    with pytest.raises(VirtualizeError, match=r"^wide\.nc: variable \w+ has shape outside time \(25, 30\) but the stored "
                       r"\w+ has \(20, 30\), nothing written -> append files on the same grid"):
        virtualize([tmp_path / "wide.nc"], tmp_path / "repo", append=True)
    assert _tip(tmp_path / "repo") == tip
