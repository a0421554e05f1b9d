"""vzskill.jsonable: the one JSON sanitiser, and the outputs built on it (``--json``, ``FileInfo.to_dict``)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from vzskill.cli import main
from vzskill.inventory import format_info, inspect_file
from vzskill.jsonable import fill_value, jsonable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), None),
        (float("inf"), None),
        (-math.inf, None),
        (np.float32("nan"), None),
        (np.float64(1.5), 1.5),
        (np.int16(-3), -3),
        (np.uint64(2**63), 2**63),
        (np.bool_(True), True),
        (np.str_("degC"), "degC"),
        (np.array([1.0, np.nan, -np.inf], dtype="float32"), [1.0, None, None]),
        (np.array([[1, 2], [3, 4]], dtype="int8"), [[1, 2], [3, 4]]),
        (np.array(7), 7),
        (b"days since 2024", "days since 2024"),
        (b"\xff ok", "\ufffd ok"),
        (Path("/data/temp_000.nc"), "/data/temp_000.nc"),
        (np.datetime64("2024-01-01T06:00:00.000000000"), "2024-01-01T06:00:00.000000000"),
        (np.datetime64("NaT", "ns"), None),
        (np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"), ["2024-01-01", None]),
        (dt.datetime(2024, 1, 1, 12), "2024-01-01T12:00:00"),
        ((1, (2, 3)), [1, [2, 3]]),
        ({3, 1, 2}, [1, 2, 3]),
        ({1: {"a": np.nan}}, {"1": {"a": None}}),
        (None, None),
    ],
)
def test_values(value: object, expected: object) -> None:
    got = jsonable(value)
    assert got == expected and type(got) is type(expected)
    json.dumps(got, allow_nan=False)  # strict JSON


def test_nested_numpy_is_plain_python_and_strict_json() -> None:
    value = {"stats": {"max": np.float32(np.inf), "shape": (np.int64(4), 20)}, "fills": [np.nan, 1], "t": np.datetime64("NaT", "ns")}
    out = jsonable(value)
    assert out == {"stats": {"max": None, "shape": [4, 20]}, "fills": [None, 1], "t": None}
    assert type(out["stats"]["shape"][0]) is int
    assert json.loads(json.dumps(out, allow_nan=False)) == out


@pytest.mark.parametrize(
    ("value", "expected"),
    [(float("nan"), "NaN"), (np.float32("inf"), "Infinity"), (-math.inf, "-Infinity"), ("nan", "NaN"), ("-inf", "-Infinity"),
     (np.float32(-9999.0), -9999.0), (np.int16(0), 0), (None, None), (b"x", "x")],
)
def test_fill_values_keep_the_zarr_spelling(value: object, expected: object) -> None:
    got = fill_value(value)
    assert got == expected and type(got) is type(expected)


def test_unknown_objects_become_their_str() -> None:
    class Codec:
        def __str__(self) -> str:
            return "Zlib(level=4)"

    assert jsonable({"codec": Codec()}) == {"codec": "Zlib(level=4)"}


# --------------------------------------------------------------------------- outputs built on it


@pytest.fixture
def nan_fill_files(tmp_path: Path) -> tuple[Path, Path]:
    """A NetCDF4 file whose fill value and an attribute are NaN, and an LZF (HDFParser cannot read it) one."""
    parsed = tmp_path / "nan_fill.nc"
    ds = xr.Dataset({"t": (("x",), np.array([1.0, np.nan, 3.0], dtype="float32"), {"valid_max": np.float32(np.inf)})})
    ds.to_netcdf(parsed, engine="h5netcdf", encoding={"t": {"_FillValue": np.float32(np.nan), "zlib": True}})
    described = tmp_path / "lzf_nan.h5"
    with h5py.File(described, "w") as f:
        f.create_dataset("x", data=np.arange(4.0), chunks=(2,), compression="lzf", fillvalue=np.nan)
    return parsed, described


def test_a_nan_fill_value_is_not_shown_as_no_fill_value(nan_fill_files: tuple[Path, Path]) -> None:
    parsed, described = nan_fill_files
    info = inspect_file(parsed)
    assert info.error is None, info.error
    t = next(v for v in info.to_dict()["variables"] if v["name"] == "t")
    assert t["fill_value"] == "NaN"  # zarr v3 spelling: null would read as "no fill value"
    row = next(line for line in format_info(info).splitlines() if line.strip().startswith("t "))
    assert " NaN " in row, row
    lzf = inspect_file(described)
    assert lzf.error and lzf.kind == "hdf5"  # described with h5py, error attached
    assert lzf.to_dict()["variables"][0]["fill_value"] == "NaN"


def test_json_output_is_strict_json(nan_fill_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    parsed, _ = nan_fill_files
    assert main(["inspect", str(parsed), "--json"]) == 0
    text = capsys.readouterr().out
    out = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    t = next(v for v in out["files"][0]["variables"] if v["name"] == "t")
    assert t["fill_value"] == "NaN"
