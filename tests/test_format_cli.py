"""The CLI on every new format, as a user runs it: inspect, check, virtualize, verify (exit codes, one
line on stderr for a refusal, --json kinds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vzskill import format_fixtures as fx
from vzskill.cli import main
from vzskill.fixtures import write_file

pytestmark = pytest.mark.timeout(120)


def _run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


MAKERS = {
    "tiff": lambda d: fx.make_tiff(d / "scene.tif"),
    "grib": lambda d: fx.make_grib(d / "forecast.grib2"),
    "hdf4": lambda d: fx.make_hdf4(d / "granule.hdf"),
    "envi": lambda d: fx.make_envi(d / "cube.img"),
    "dmrpp": lambda d: fx.make_dmrpp(write_file(d / "temp_000.nc", 0)),
    "zarr-zip": lambda d: fx.make_zipped_zarr(d / "cube.zarr.zip"),
    "icechunk": lambda d: fx.make_icechunk_source(d / "source.icechunk"),
}


@pytest.mark.parametrize("kind", list(MAKERS))
def test_cli_end_to_end(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = MAKERS[kind](tmp_path)
    code, out, _ = _run(capsys, "inspect", path, "--json")
    assert code == 0, out
    assert kind in out  # the detected kind is reported
    assert _run(capsys, "check", path)[0] == 0
    code, out, err = _run(capsys, "virtualize", path, "--repo", tmp_path / "repo")
    assert code == 0, err
    code, out, err = _run(capsys, "verify", "--repo", tmp_path / "repo", "--json")
    assert code == 0, out + err
    assert json.loads(out)["ok"] is True


def test_cli_refusal_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = fx.make_tiff_variant(tmp_path / "rgb.tif", "interleaved_predictor")
    code, _, err = _run(capsys, "virtualize", path, "--repo", tmp_path / "repo")
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "rgb.tif: interleaved samples" in lines[0] and "nothing written" in lines[0], err
    assert not (tmp_path / "repo").exists()
