"""verify on combine layouts: member x time grids, loaded (natively stored) variables."""

from __future__ import annotations

from pathlib import Path

import icechunk
import numpy as np
import pytest
import zarr

from tests.verify_repos import write_repo
from vzskill import fixtures
from vzskill import verify

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def ensemble(tmp_path: Path) -> list[list[Path]]:
    return fixtures.make_ensemble(tmp_path / "src", members=2, n_files=2)


def test_member_time_grid_no_false_mismatch(tmp_path: Path, ensemble: list[list[Path]]) -> None:
    storage = write_repo(tmp_path / "repo", ensemble, concat_dim=["member", "time"], root=tmp_path / "src",
                         data_vars="all")  # xarray: 'minimal' is refused for a new dimension
    report = verify(storage, [str(p) for row in ensemble for p in row])
    assert report.ok and not report.mismatches, report.format_table()
    assert report.compared["temperature"] == 2 * 2 * 32 // 2  # 4 files x 16 chunks
    assert report.compared["time"] >= 1 and not report.skipped


def test_member_pointing_at_another_members_file_is_reported(tmp_path: Path, ensemble: list[list[Path]]) -> None:
    wrong = [ensemble[0], ensemble[0]]  # member 1 references member 0's files
    storage = write_repo(tmp_path / "repo", wrong, concat_dim=["member", "time"], root=tmp_path / "src",
                         data_vars="all")  # xarray: 'minimal' is refused for a new dimension
    report = verify(storage)
    assert report.exit_code == 1
    kinds = {f.kind for f in report.errors}
    assert "duplicate_reference" in kinds, report.format_table()
    listed = verify(storage, [str(p) for row in ensemble for p in row])
    assert {f.kind for f in listed.errors} >= {"not_referenced"}
    assert sorted(Path(f.file).parent.name for f in listed.errors if f.kind == "not_referenced") == ["ens1", "ens1"]


def test_changed_loaded_variable_is_reported(tmp_path: Path, series_files: list[Path]) -> None:
    storage = write_repo(tmp_path / "repo", list(series_files[:2]), root=series_files[0].parent)
    assert verify(storage).ok
    repo = icechunk.Repository.open(storage)
    session = repo.writable_session("main")
    lat = zarr.open_array(session.store, path="lat", mode="r+")
    lat[3] = np.float64(99.0)
    session.commit("edit a loaded coordinate")
    report = verify(storage)
    assert report.exit_code == 1
    assert {m.variable for m in report.mismatches} == {"lat"}, report.format_table()
    assert "(stored in the repository)" in report.mismatches[0].message
    assert report.n_native > 0


# --------------------------------------------------------------------------- chunks stored inside virtual arrays


def _native_rows(storage: icechunk.Storage, var: str) -> list[tuple[slice, ...]]:
    from vzskill.references import reference_index

    refs = reference_index(icechunk.Repository.open(storage).readonly_session("main")).arrays[var]
    return [refs.region(int(r)) for r in np.flatnonzero(~refs.virtual)]


def _bump(storage: icechunk.Storage, var: str, region: tuple[slice, ...]) -> None:
    """Rewrite one chunk stored in the repository with different values."""
    session = icechunk.Repository.open(storage).writable_session("main")
    arr = zarr.open_array(session.store, path=var, mode="r+")
    arr[region] = np.asarray(arr[region]) + 1
    session.commit(f"edit a stored chunk of {var}")


def test_kerchunk_refs_in_another_folder_inlined_chunks_compared(tmp_path: Path, series_files: list[Path]) -> None:
    """kerchunk inlines small chunks into the JSON: icechunk stores them in the repository, inside virtual arrays."""
    import json
    import shutil

    from kerchunk.hdf import SingleHdf5ToZarr

    from vzskill.write import virtualize

    (tmp_path / "data").mkdir()
    (tmp_path / "refs").mkdir()
    refs = []
    for f in series_files[:2]:
        data = Path(shutil.copy(f, tmp_path / "data" / f.name))
        ref = tmp_path / "refs" / (f.stem + ".json")
        ref.write_text(json.dumps(SingleHdf5ToZarr(str(data), data.as_uri()).translate()))  # inline_threshold=100
        refs.append(ref)
    virtualize(refs, tmp_path / "repo")
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    inlined = _native_rows(storage, "temperature")
    assert inlined, "the fixture no longer inlines chunks: the test would not cover them"
    for urls in (None, refs):
        report = verify(storage, urls)
        assert report.ok and not report.skipped and not report.errors, report.format_table()
        assert report.compared["temperature"] == 32 and report.n_native >= len(inlined)
        assert not [f for f in report.findings if f.kind in ("not_referenced", "unlisted")]
    sampled = verify(storage, sample=3)  # N chunks per variable, drawn from virtual and stored ones together
    assert sampled.ok and sampled.compared["temperature"] == 3, sampled.format_table()
    assert sum(1 for v, _ in sampled.sampled if v == "temperature") == 3
    _bump(storage, "temperature", inlined[0])
    report = verify(storage, refs)
    [m] = report.mismatches
    assert m.variable == "temperature" and "(stored in the repository)" in m.message, report.format_table()
    owner = series_files[inlined[0][0].start // 4].name  # 4 time steps per file
    assert m.file == (tmp_path / "data" / owner).as_uri()


def _odd_file_layout(tmp_path: Path) -> tuple[icechunk.Storage, list[Path], Path]:
    """Issue 10's layout: four files in time order, the odd one (other chunks) stored natively, the rest virtual."""
    from tests.verify_repos import create, open_one

    src = tmp_path / "src"
    files = fixtures.make_series(src, 4)
    odd = fixtures.make_variant(src / "odd", "other_chunks", index=2)
    order = [files[0], files[1], odd, files[3]]
    repo = create(tmp_path / "repo", [src])
    for i, f in enumerate(order):
        load = ["time", "lat", "lon"] + (["temperature", "precipitation"] if f == odd else [])
        vds = open_one(f, src, loadable_variables=load)
        session = repo.writable_session("main")
        vds.vz.to_icechunk(session.store, **({"append_dim": "time"} if i else {}))
        session.commit(f"file {i}")
    return icechunk.local_filesystem_storage(str(tmp_path / "repo")), order, odd


@pytest.mark.filterwarnings("ignore:Attempting to write an entirely non-virtual Dataset")
def test_odd_file_stored_natively_is_compared(tmp_path: Path) -> None:
    storage, order, odd = _odd_file_layout(tmp_path)
    alone = verify(storage)  # nothing references the odd file: its chunks cannot be placed, and that is said
    assert not alone.ok and not alone.mismatches
    assert alone.skipped["temperature"] == {
        "stored in the repository, in no referenced file (pass the source files to compare them)": 16}
    report = verify(storage, order)
    assert report.ok and not report.skipped and not report.errors, report.format_table()
    assert report.compared["temperature"] == report.compared["precipitation"] == 64
    assert report.n_native >= 32
    stored = _native_rows(storage, "temperature")
    _bump(storage, "temperature", stored[-1])
    report = verify(storage, order)
    [m] = report.mismatches
    assert m.variable == "temperature" and m.file == odd.as_uri() and "(stored in the repository)" in m.message


def test_supplied_coordinate_of_a_new_dimension_does_not_fail(tmp_path: Path, ensemble: list[list[Path]]) -> None:
    """coords={'member': [...]} come from the caller, not from a file: said, not compared, not a failure."""
    from vzskill.write import virtualize

    virtualize([[str(p) for p in row] for row in ensemble], tmp_path / "repo", concat_dim=["member", "time"],
               coords={"member": ["ens0", "ens1"]})
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    for urls in (None, [str(p) for row in ensemble for p in row]):
        report = verify(storage, urls)
        assert report.ok and not report.skipped, report.format_table()
        assert report.compared["temperature"] == 64
        assert report.skipped_by_request == {
            "member": {"supplied when writing (coordinate of a new dimension, in no source file)": 1}}
        assert [w.kind for w in report.warnings] == ["supplied"]
    # an array stored in the repository that no file holds and that is no new dimension's coordinate still fails
    session = icechunk.Repository.open(storage).writable_session("main")
    root = zarr.open_group(session.store, mode="r+")
    extra = root.create_array("extra", shape=(3,), dtype="f4", dimension_names=("extra",))
    extra[:] = 1.0
    session.commit("an array from nowhere")
    report = verify(storage)
    assert not report.ok and "extra" in report.skipped, report.format_table()
