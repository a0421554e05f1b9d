"""verify on combine layouts: member x time grids, loaded (natively stored) variables."""

from __future__ import annotations

from pathlib import Path

import icechunk
import numpy as np
import pytest
import zarr

from tests.verify_repos import write_repo
from vzskill import fixtures
from vzskill.verify import verify

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
