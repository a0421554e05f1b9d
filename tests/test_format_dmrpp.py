"""DMR++ sidecars (VirtualiZarr's DMRPPParser): a sidecar generated for a NetCDF4 file is detected by
its extension, virtualized and verified against the NetCDF4 file it describes; a stale sidecar is caught."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vzskill.fixtures import write_file
from vzskill.format_fixtures import make_dmrpp
from vzskill.formats import detect_kind
from vzskill.parse import parse_files
from vzskill import verify
from vzskill.write import virtualize

pytestmark = pytest.mark.timeout(120)


def test_dmrpp_end_to_end(tmp_path: Path) -> None:
    import icechunk

    nc = write_file(tmp_path / "temp_000.nc", 0)
    sidecar = make_dmrpp(nc)
    assert sidecar.name == "temp_000.nc.dmrpp" and detect_kind(str(sidecar)) == "dmrpp"
    [p] = parse_files([sidecar])
    assert p.ok, p.error
    refs = {e["path"] for e in p.dataset["temperature"].data.manifest.dict().values()}
    assert refs == {nc.as_uri()}  # the chunks are the NetCDF4 file's, not the sidecar's
    repo = tmp_path / "repo"
    result = virtualize([sidecar], repo)
    assert result.nrefs == 32
    report = verify(repo)
    assert report.ok and report.compared["temperature"] == 16, report.format_table()
    session = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)),
                                       authorize_virtual_chunk_access={f"file://{tmp_path}/": icechunk.credentials.LocalFileSystemAccess}).readonly_session("main")
    ds = xr.open_zarr(session.store, consolidated=False, zarr_format=3)
    src = xr.open_dataset(nc, engine="h5netcdf")
    for name in ("temperature", "precipitation", "time", "lat", "lon"):
        np.testing.assert_array_equal(ds[name].values, src[name].values)


def test_stale_sidecar_is_caught_by_verify(tmp_path: Path) -> None:
    """The sidecar describes an older layout of the data file (rewritten uncompressed, mtime kept):
    verify reads the NetCDF4 file itself and reports every reference that starts no chunk there."""
    nc = write_file(tmp_path / "temp_000.nc", 0)
    sidecar = make_dmrpp(nc)
    stat = nc.stat()
    write_file(nc, 1, complevel=None)  # larger: the old offsets stay inside the file
    os.utime(nc, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    repo = tmp_path / "repo"
    virtualize([sidecar], repo)
    report = verify(repo)
    assert not report.ok and report.mismatch_counts.get("temperature", 0) >= 1, report.format_table()
    assert "is not the start of a block of 'temperature' in temp_000.nc" in " ".join(m.message for m in report.mismatches)


@pytest.mark.s3
def test_dmrpp_on_s3(tmp_path: Path, s3_endpoint: str, s3_client, make_bucket) -> None:
    """Sidecar and data file side by side in a bucket: the references name the data object."""
    from tests.plugins.servers import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access

    nc = write_file(tmp_path / "temp_000.nc", 0)
    sidecar = make_dmrpp(nc)
    bucket = make_bucket()
    for path in (nc, sidecar):
        s3_client.upload_file(str(path), bucket, f"dmrpp/{path.name}")
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    url = f"s3://{bucket}/dmrpp/temp_000.nc.dmrpp"
    [p] = parse_files([url], access=access)
    assert p.ok, p.error
    assert {e["path"] for e in p.dataset["temperature"].data.manifest.dict().values()} == {url.removesuffix(".dmrpp")}
    virtualize([url], tmp_path / "repo", access=access)
    report = verify(tmp_path / "repo", access=access)
    assert report.ok and report.compared["temperature"] == 16, report.format_table()


def test_sidecar_longer_than_its_file_is_refused(tmp_path: Path) -> None:
    nc = write_file(tmp_path / "temp_000.nc", 0)
    sidecar = make_dmrpp(nc)
    write_file(nc, 0, chunks=(4, 20, 30))  # rewritten smaller: the sidecar's chunks run past its end
    [p] = parse_files([sidecar])
    assert p.problem == "modified" and p.error is not None
    assert p.error.startswith("temp_000.nc.dmrpp: references bytes up to ")
    assert p.error.endswith("(the sidecar describes another version of the file) -> regenerate the sidecar for the "
                            "current file (OPeNDAP get_dmrpp), or virtualize temp_000.nc itself")


def test_sidecar_without_its_data_file_is_refused(tmp_path: Path) -> None:
    nc = write_file(tmp_path / "temp_000.nc", 0)
    sidecar = make_dmrpp(nc)
    nc.unlink()
    [p] = parse_files([sidecar])
    assert p.problem == "missing"
    assert p.error == ("temp_000.nc.dmrpp: its data file temp_000.nc is missing (expected next to the sidecar) -> "
                       "put temp_000.nc next to temp_000.nc.dmrpp, or drop the sidecar from the list")
