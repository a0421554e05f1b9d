"""Local paths with spaces / percent signs: raw file:// URLs end to end (registry, manifests, containers, verify)."""

from __future__ import annotations

from pathlib import Path

import icechunk
import numpy as np
import xarray as xr

import vzskill
from vzskill import fixtures
from vzskill.sources import normalize_url, parse_sources
from vzskill import verify


def test_file_urls_are_raw_not_percent_encoded(tmp_path: Path) -> None:
    d = tmp_path / "with space"
    assert normalize_url(d / "a.nc") == f"file://{d}/a.nc"
    assert normalize_url(f"file://{d}/a.nc".replace(" ", "%20")) == f"file://{d}/a.nc"
    (src,) = parse_sources([d / "a.nc"])
    assert src.prefix == f"file://{d}/" and src.bucket == str(d) and src.path == "a.nc"


def test_round_trip_and_verify_in_a_directory_with_a_space(tmp_path: Path) -> None:
    d = tmp_path / "archive 2024 (v1)"
    files = fixtures.make_series(d, 2)
    result = vzskill.virtualize(files, tmp_path / "repo.icechunk")
    assert result.n_files == 2
    repo = vzskill.open_repo(icechunk.local_filesystem_storage(str(tmp_path / "repo.icechunk")))
    ds = xr.open_zarr(repo.readonly_session("main").store, consolidated=False)
    expected = xr.concat([fixtures.sample_dataset(i) for i in range(2)], dim="time")
    np.testing.assert_array_equal(ds["temperature"].values, expected["temperature"].values)
    report = verify(repo)
    assert report.ok, report.format_table()
    assert report.n_chunks == result.nrefs
