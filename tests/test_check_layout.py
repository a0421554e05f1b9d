"""vzskill.layout + check: the concat dimension is inferred (none for one file), N-D grids are checked per axis."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vzskill import fixtures
from vzskill.preflight import check, flatten
from vzskill.layout import ConcatChoice, LayoutError, grid_shape, infer_concat_dim, nest
from vzskill.parse import parse_files

SITE = Path(np.__file__).parents[1]
REAL_FILES = [  # files nobody on the project wrote, none with a 'time' dimension
    "xarray/tests/data/bears.nc",
    "scipy/io/tests/data/example_2.nc",
    "h5py/tests/data_files/vlen_string_dset.h5",
    "astropy/io/fits/tests/data/test0.fits",
]


@pytest.mark.parametrize("rel", REAL_FILES)
def test_one_real_file_needs_no_concat_dim(rel: str) -> None:
    report = check([SITE / rel])
    assert report.ok and report.exit_code == 0, report.format_table()
    assert report.findings == []
    assert report.concat_dim is None and report.concat_reason == "one file: no concat dimension"
    assert report.format_table().startswith("vzskill check: 1 file(s), concat_dim=None (one file: no concat dimension) -> OK")
    doc = report.to_dict()
    assert doc["concat_dim"] is None and doc["concat_reason"] == "one file: no concat dimension"


def test_several_files_infer_the_dim_whose_values_differ(series_files: list[Path]) -> None:
    for files in (series_files, series_files[::-1]):
        report = check(files)
        assert report.concat_dim == "time" and report.concat_reason == "time: its values differ between files"
    # an explicit concat_dim works as before, and says so
    given = check(series_files, concat_dim="time")
    assert given.ok and given.concat_dim == "time" and given.concat_reason == "concat_dim='time' as given"


def test_a_shifted_grid_in_one_file_does_not_win_the_inference(tmp_path: Path, series_files: list[Path]) -> None:
    ds = fixtures.sample_dataset(3)
    shifted = tmp_path / "shifted.nc"
    ds.assign_coords(lat=ds.lat + 0.5).to_netcdf(shifted, engine="h5netcdf", encoding=fixtures.encoding_for(ds))
    datasets = [p.dataset for p in parse_files([*series_files, shifted])]
    assert infer_concat_dim(datasets) == ConcatChoice(["time"], "time: its values differ between files", [])


def test_identical_files_fail_listing_the_candidates(tmp_path: Path, series_files: list[Path]) -> None:
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    shutil.copy(series_files[0], a)
    shutil.copy(series_files[0], b)
    report = check([a, b])
    assert report.exit_code == 1 and report.concat_dim is None
    [f] = [f for f in report.errors if f.kind == "concat_dim"]
    assert f.message == (
        "cannot infer the concat dimension of 2 files: no dimension's coordinate values differ between them "
        "(candidates: time, lat, lon) -> pass concat_dim=... / --concat-dim (one of the candidates, or a new name "
        "such as 'member' to stack the files along a new dimension)"
    )
    assert f.fix.startswith("pass concat_dim=... / --concat-dim")
    assert check([a, b], concat_dim="member").ok  # the fix works: a new dimension


def test_record_dimension_and_differing_length_are_the_fallbacks() -> None:
    one = xr.Dataset({"v": (("rec", "x"), np.zeros((2, 3)))})
    two = xr.Dataset({"v": (("rec", "x"), np.zeros((2, 3)))})
    for ds in (one, two):
        ds.encoding["unlimited_dims"] = {"rec"}
    assert infer_concat_dim([one, two]) == ConcatChoice(["rec"], "rec: the record (unlimited) dimension of the files", [])
    short = xr.Dataset({"v": (("rec", "x"), np.zeros((1, 3)))})
    assert infer_concat_dim([one.copy(), short]).reason == "rec: its length differs between files"
    with pytest.raises(LayoutError, match=r"candidates: rec, x\) -> pass concat_dim=\.\.\. / --concat-dim"):
        infer_concat_dim([short, short.copy()])


def _ensemble(data_dir: Path) -> list[list[Path]]:
    return [[data_dir / "ensemble" / f"ens{m}" / f"temp_{t:03d}.nc" for t in range(2)] for m in range(2)]


def test_ensemble_grid_has_no_false_order_warning(data_dir: Path) -> None:
    grid = _ensemble(data_dir)
    report = check(grid, concat_dim=["member", "time"])
    assert report.ok, report.format_table()
    assert report.concat_dim == ["member", "time"]
    assert report.concat_reason == "concat_dim=['member', 'time'] as given ('member': new dimension, not in the files)"
    assert not [f for f in report.findings if f.kind in ("order", "concat_dim")]
    assert report.groups == [[p.as_uri() for p in flatten(grid)]]
    # the member attribute differs: one warning, named
    [attr] = [f for f in report.findings if f.kind == "attribute" and "'member'" in f.message]
    assert attr.message.startswith("global attribute 'member' differs between files: 2 of 4 files differ from 0 (e.g. 1) ->")
    assert "combine_attrs='drop_conflicts'" in attr.fix
    # the same files as one flat list along time DO restart: the order warning is real there
    flat = check(flatten(grid), concat_dim="time")
    assert [f.file for f in flat.findings if f.kind == "order"] == [grid[1][0].as_uri()]


def test_order_is_checked_per_row_of_the_grid(data_dir: Path) -> None:
    grid = _ensemble(data_dir)
    swapped = [grid[0][::-1], grid[1]]
    report = check(swapped, concat_dim=["member", "time"])
    [f] = [f for f in report.findings if f.kind == "order"]
    assert f.file == grid[0][0].as_uri() and f.severity == "warning"
    assert f.message.startswith("ens0/temp_000.nc: 'time' starts at 2024-01-01")
    assert "not after the end of ens0/temp_001.nc" in f.message


def test_ragged_grid_is_refused_naming_the_position(data_dir: Path) -> None:
    grid = _ensemble(data_dir)
    report = check([grid[0], grid[1][:1]], concat_dim=["member", "time"])
    assert report.exit_code == 1
    [f] = [f for f in report.errors if f.kind == "grid"]
    assert f.message == (
        "ragged grid of files: position [1] has 1 item(s) where position [0] has 2 item(s) (shape (2,) vs (1,)) "
        "-> give every row the same number of files"
    )


def test_grid_needs_one_concat_dim_per_level(data_dir: Path) -> None:
    grid = _ensemble(data_dir)
    report = check(grid, concat_dim="time")
    [f] = [f for f in report.errors if f.kind == "concat_dim"]
    assert f.message.startswith("the grid of files has 2 levels but concat_dim has 1 name(s) (['time']) -> pass one concat_dim per level")
    report = check(grid)
    [f] = [f for f in report.errors if f.kind == "concat_dim"]
    assert f.message.startswith("a 2x2 grid of files needs one concat dimension per level -> pass concat_dim=[...]")


def test_grid_accepts_parsed_files_and_partial_chunks_per_axis(tmp_path: Path) -> None:
    rows = []
    for m in range(2):
        row = []
        for t, n in enumerate((3, 4)):
            ds = fixtures.sample_dataset(t, n_time=n)
            p = tmp_path / f"m{m}_t{t}.nc"
            ds.to_netcdf(p, engine="h5netcdf", encoding=fixtures.encoding_for(ds, chunks=(2, 10, 15)))
            row.append(p)
        rows.append(row)
    parsed = nest(parse_files(flatten(rows)), rows)
    report = check(parsed, concat_dim=["member", "time"])
    partial = {f.file for f in report.errors if f.kind == "partial_chunk"}
    assert partial == {rows[0][0].as_uri(), rows[1][0].as_uri()}  # 3 steps in chunks of 2, not last in its row
    assert all(a is b for a, b in zip(report.parsed, flatten(parsed)))


def test_flatten_nest_grid_shape() -> None:
    grid = [["a", "b"], ["c", "d"]]
    assert flatten(grid) == ["a", "b", "c", "d"] and nest(list("wxyz"), grid) == [["w", "x"], ["y", "z"]]
    assert grid_shape(grid) == (2, 2) and grid_shape(["a"]) == (1,) and grid_shape("a") == ()
    with pytest.raises(LayoutError, match=r"fewer than the grid holds"):
        nest(["a"], grid)
    with pytest.raises(LayoutError, match=r"position \[0, 1\] has 2 item\(s\)"):
        grid_shape([[["a"], ["b", "c"]]])


def test_parse_errors_come_first_no_layout_error_next_to_them(tmp_path: Path, series_files: list[Path]) -> None:
    from vzskill.parse import ParsedFile

    a, b, text = tmp_path / "a.nc", tmp_path / "b.nc", tmp_path / "c.nc"
    shutil.copy(series_files[0], a)
    shutil.copy(series_files[0], b)
    text.write_text("not a netcdf file\n")
    report = check([a, b, text])
    assert [f.kind for f in report.errors] == ["unreadable"] and report.errors[0].file == text.as_uri()
    assert report.concat_reason == "not resolved: some files could not be parsed"
    failed = check([ParsedFile(url="file:///tmp/x.nc", error="x.nc: broken -> fix")])
    assert [f.message for f in failed.findings] == ["x.nc: broken -> fix"]
