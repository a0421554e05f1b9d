"""Session-scoped sample archives (read-only for tests: copy before modifying).

Layout of ``data_dir`` (see vzskill.fixtures.make_all)::

    series/temp_000.nc temp_001.nc temp_002.nc   consistent time series (4 steps each)
    variants/<kind>.nc                          one-property-off files continuing the series
    ensemble/ens{0,1}/temp_{000,001}.nc         2 x 2 grid for nested combine
    grouped/groups.nc                           groups /surface and /upper
    bounds/with_bounds.nc                       time_bnds + crs
    fits/image.fits                             FITS primary image
    bad/<kind>.nc                               corrupt, truncated, text, empty, lzf, vlen_int, object_ref
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vzskill import fixtures


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    fixtures.make_all(root)
    return root


@pytest.fixture(scope="session")
def series_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "series").glob("temp_*.nc"))
