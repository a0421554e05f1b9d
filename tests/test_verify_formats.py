"""verify per source format: NetCDF3 (packed, site-packages files), NetCDF4 packed, FITS, kerchunk JSON, Zarr.

Repositories are written with plain VirtualiZarr + icechunk calls (tests/verify_repos.py); each
test also breaks something and checks that verify reports it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import icechunk
import numpy as np
import pytest
import zarr

from tests.verify_repos import write_repo
from vzskill import fixtures
from vzskill import verify

pytestmark = pytest.mark.timeout(120)

SITE = Path(np.__file__).parents[1]


def _copy(src: Path, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, dest_dir / src.name))


def _old_mtime(*paths: Path) -> float:
    old = time.time() - 3600
    for p in paths:
        os.utime(p, (old, old))
    return old


def _packed_netcdf3(path: Path) -> Path:
    from scipy.io import netcdf_file

    f = netcdf_file(path, "w")
    f.createDimension("time", None)
    f.createDimension("x", 5)
    t = f.createVariable("time", "i4", ("time",))
    t.units = "hours since 2000-01-01"
    t[:] = np.arange(3)
    p = f.createVariable("pressure", "i2", ("time", "x"))
    p.scale_factor = np.float32(0.1)
    p.add_offset = np.float32(1000.0)
    p._FillValue = np.int16(-32767)
    p[:] = np.arange(15, dtype="i2").reshape(3, 5)
    p[1, 2] = -32767
    s = f.createVariable("static", "f4", ("x",))
    s[:] = np.arange(5) / 3
    f.close()
    return path


# --------------------------------------------------------------------------- NetCDF3


def test_packed_netcdf3_raw_equal_one_dtype_warning(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    src = _packed_netcdf3(tmp_path / "src" / "packed.nc")
    report = verify(write_repo(tmp_path / "repo", [src], concat_dim=None))
    assert report.ok and not report.mismatches, report.format_table()
    assert report.compared == {"pressure": 3, "static": 1, "time": 3}  # time stored in the repository
    [w] = report.warnings
    assert w.kind == "decoded_dtype" and w.variable == "pressure"
    assert w.message.startswith("pressure: scale_factor is float32 in the source, float64 in the repository")
    assert "decoded values are float64 (raw values equal" in w.message
    assert "re-virtualize" not in w.message


def test_netcdf3_rewritten_in_place_is_caught(tmp_path: Path) -> None:
    """Same name, same mtime, a variable added in front: every reference now points at the wrong bytes."""
    from scipy.io import netcdf_file

    (tmp_path / "src").mkdir()
    src = _packed_netcdf3(tmp_path / "src" / "packed.nc")
    old = _old_mtime(src)
    storage = write_repo(tmp_path / "repo", [src], concat_dim=None)
    with netcdf_file(src, "r", mmap=False, maskandscale=False) as f:
        pressure, static = f.variables["pressure"].data.copy(), f.variables["static"].data.copy()
    g = netcdf_file(src, "w")
    g.createDimension("time", None)
    g.createDimension("x", 5)
    g.createVariable("extra", "f8", ("x",))[:] = 1.0
    g.createVariable("time", "i4", ("time",))[:] = np.arange(3)
    g.createVariable("padding", "f8", ("x",))[:] = 2.0  # the file grows: offsets move, nothing past the end
    g.createVariable("static", "f4", ("x",))[:] = static
    g.createVariable("pressure", "i2", ("time", "x"))[:] = pressure
    g.close()
    os.utime(src, (old, old))
    report = verify(storage)
    assert report.exit_code == 1
    assert {m.variable for m in report.mismatches} == {"pressure", "static"}, report.format_table()
    assert "is not the start of a block of 'static' in packed.nc" in next(
        m.message for m in report.mismatches if m.variable == "static")


@pytest.mark.parametrize("rel", ["scipy/io/tests/data/example_1.nc", "xarray/tests/data/example_1.nc",
                                 "xarray/tests/data/bears.nc"])
def test_site_packages_netcdf3(tmp_path: Path, rel: str) -> None:
    src = _copy(SITE / rel, tmp_path / "src")
    report = verify(write_repo(tmp_path / "repo", [src], concat_dim=None))
    assert report.ok, report.format_table()
    assert report.n_chunks == report.n_refs > 0 and not report.skipped
    assert set(report.compared) == set(zarr.open_group(
        icechunk.Repository.open(icechunk.local_filesystem_storage(str(tmp_path / "repo"))).readonly_session("main").store,
        mode="r").array_keys())


def test_packed_netcdf4_one_dtype_warning(tmp_path: Path) -> None:
    import netCDF4

    path = tmp_path / "src" / "packed4.nc"
    path.parent.mkdir()
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", 4)
        ds.createDimension("x", 6)
        v = ds.createVariable("pressure", "i2", ("time", "x"), chunksizes=(1, 6), zlib=True, fill_value=np.int16(-1))
        v.scale_factor = np.float32(0.5)
        v.add_offset = np.float32(100.0)
        v.set_auto_maskandscale(False)
        v[:] = np.arange(24, dtype="i2").reshape(4, 6)
    report = verify(write_repo(tmp_path / "repo", [path], concat_dim=None))
    assert report.ok and not report.mismatches, report.format_table()
    assert report.compared["pressure"] == 4
    assert [w.variable for w in report.warnings] == ["pressure"]
    assert "scale_factor is float32 in the source, float64 in the repository" in report.warnings[0].message


# --------------------------------------------------------------------------- FITS


def test_fits_values_compared(tmp_path: Path) -> None:
    src = fixtures.make_fits(tmp_path / "src" / "image.fits")
    report = verify(write_repo(tmp_path / "repo", [src], concat_dim=None))
    assert report.ok and report.compared == {"PRIMARY": 1}, report.format_table()
    assert "no direct reader" not in report.format_table()


def test_fits_corrupted_source_is_reported(tmp_path: Path) -> None:
    src = fixtures.make_fits(tmp_path / "src" / "image.fits")
    storage = write_repo(tmp_path / "repo", [src], concat_dim=None)
    data = bytearray(src.read_bytes())
    data[-100] ^= 0xFF  # one data byte
    src.write_bytes(bytes(data))
    later = time.time() + 5
    os.utime(src, (later, later))
    report = verify(storage)
    assert [s.reason for s in report.stale] == ["modified"] and report.exit_code == 1


def test_fits_header_rewritten_is_reported(tmp_path: Path) -> None:
    """The header grows by a block (same mtime): the reference no longer starts the data."""
    from astropy.io import fits

    src = fixtures.make_fits(tmp_path / "src" / "image.fits")
    old = _old_mtime(src)
    storage = write_repo(tmp_path / "repo", [src], concat_dim=None)
    with fits.open(src, mode="update") as hdul:
        for i in range(40):
            hdul[0].header[f"KEY{i}"] = i
    os.utime(src, (old, old))
    report = verify(storage)
    [m] = report.mismatches
    assert m.variable == "PRIMARY" and "is not the start of a block of 'PRIMARY' in image.fits" in m.message


@pytest.mark.parametrize("name", ["arange.fits", "blank.fits", "scale.fits", "test0.fits", "o4sp040b0_raw.fits",
                                  "ascii_i4-i20.fits"])
def test_site_packages_fits(tmp_path: Path, name: str) -> None:
    src = _copy(SITE / "astropy/io/fits/tests/data" / name, tmp_path / "src")
    report = verify(write_repo(tmp_path / "repo", [src], concat_dim=None))
    assert report.ok, report.format_table()
    assert report.n_chunks == report.n_refs > 0 and not report.skipped


def _ascii_table(path: Path, n1: int = -20) -> Path:
    from astropy.io import fits

    path.parent.mkdir(parents=True, exist_ok=True)
    cols = [fits.Column(name="n", format="I6", array=np.array([1, n1, 300])),
            fits.Column(name="x", format="D12.4", array=np.array([1.5, -2.25e-3, 4e10])),
            fits.Column(name="y", format="E10.3", array=np.array([0.5, np.nan, 7.0]))]
    fits.HDUList([fits.PrimaryHDU(), fits.TableHDU.from_columns(cols, name="CAT")]).writeto(path)
    return path


def test_fits_ascii_table_compared_field_by_field(tmp_path: Path) -> None:
    src = _ascii_table(tmp_path / "src" / "table.fits")
    storage = write_repo(tmp_path / "repo", [src], concat_dim=None)
    report = verify(storage)
    assert report.ok and report.compared == {"CAT": 1} and not report.findings, report.format_table()
    # the reference now starts one row later (two rows long): not the start of the table's data
    from astropy.io import fits

    width = fits.getheader(src, 1)["NAXIS1"]
    session = icechunk.Repository.open(storage).writable_session("main")
    session.store.set_virtual_ref("CAT/c/0", src.as_uri(), offset=5760 + width, length=2 * width)
    session.commit("shifted")
    report = verify(storage)
    [m] = report.mismatches
    assert m.variable == "CAT" and "is not the start of a block of 'CAT' in table.fits" in m.message


def test_structured_values_equal_field_by_field() -> None:
    from vzskill.compare import equal_mask

    dt = np.dtype([("n", "i4"), ("x", "f8")])
    a = np.array([(1, 0.5), (2, np.nan), (3, 1.0)], dtype=dt)
    b = a.copy()
    assert equal_mask(a, b).all()  # NaN equal to NaN inside a field
    b["x"][2] = 1.5
    b["n"][0] = 7
    assert equal_mask(a, b).tolist() == [False, True, False]
    with pytest.raises(ValueError, match="fields"):
        equal_mask(a, np.zeros(3, dtype=[("n", "i4"), ("y", "f8")]))


def test_tile_compressed_fits_reference_past_end(tmp_path: Path) -> None:
    src = _copy(SITE / "astropy/io/fits/tests/data/comp.fits", tmp_path / "src")
    report = verify(write_repo(tmp_path / "repo", [src], concat_dim=None))
    assert report.exit_code == 1 and not report.stale
    [f] = report.errors
    assert f.kind == "past_end" and "reference past end of object" in f.message
    assert "credential" not in report.format_table().lower()
    assert report.skipped == {"COMPRESSED_IMAGE": {"in a stale or unreadable source (see above)": 1}}


# --------------------------------------------------------------------------- kerchunk JSON, Zarr


def _kerchunk_json(nc: Path, dest: Path) -> Path:
    from kerchunk.hdf import SingleHdf5ToZarr

    refs = SingleHdf5ToZarr(str(nc), nc.as_uri(), inline_threshold=0).translate()
    dest.write_text(json.dumps(refs))
    return dest


def test_kerchunk_json_compared_and_swapped_refs_caught(tmp_path: Path, series_files: list[Path]) -> None:
    nc = _copy(series_files[0], tmp_path / "src")
    refs = _kerchunk_json(nc, tmp_path / "src" / "temp_000.json")
    report = verify(write_repo(tmp_path / "repo", [refs], concat_dim=None))
    assert report.ok and report.files == [nc.as_uri()], report.format_table()
    assert report.compared["temperature"] == report.compared["precipitation"] == 16
    data = json.loads(refs.read_text())
    r = data["refs"]
    r["temperature/0.0.0"], r["temperature/1.0.0"] = r["temperature/1.0.0"], r["temperature/0.0.0"]
    bad = tmp_path / "src" / "swapped.json"
    bad.write_text(json.dumps(data))
    report = verify(write_repo(tmp_path / "bad", [bad], concat_dim=None))
    assert sorted(m.chunk for m in report.mismatches) == [(0, 0, 0), (1, 0, 0)], report.format_table()
    assert all("misplaced" in m.message for m in report.mismatches)


def test_zarr_source_compared_and_wrong_key_caught(tmp_path: Path, series_files: list[Path]) -> None:
    import xarray as xr

    store = tmp_path / "src" / "series.zarr"
    with xr.open_dataset(series_files[0], engine="h5netcdf") as ds:
        ds.load().to_zarr(store, zarr_format=3, consolidated=False,
                          encoding={v: {"chunks": (1, 10, 15)} for v in ("temperature", "precipitation")})
    storage = write_repo(tmp_path / "repo", [store], concat_dim=None, root=tmp_path / "src")
    report = verify(storage)
    assert report.ok and report.compared["temperature"] == 16, report.format_table()
    # point the reference of chunk (0, 0, 0) at the object of chunk (1, 0, 0)
    repo = icechunk.Repository.open(storage)
    session = repo.writable_session("main")
    key = (store / "temperature" / "c" / "1" / "0" / "0")
    session.store.set_virtual_ref("temperature/c/0/0/0", key.as_uri(), offset=0, length=key.stat().st_size)
    session.commit("wrong key")
    report = verify(storage)
    [m] = report.mismatches
    assert m.variable == "temperature" and m.chunk == (0, 0, 0) and "misplaced" in m.message


# --------------------------------------------------------------------------- HDF5 variable-length strings


def _vlen_strings(path: Path, *, with_data: bool) -> Path:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("ascii", data=np.array([b"Parting", b"is such"], dtype=object),
                         dtype=h5py.string_dtype("ascii"))
        f.create_dataset("utf8", data=np.array(["sweet", "sorrow \u00e9"], dtype=object), dtype=h5py.string_dtype())
        if with_data:
            f.create_dataset("values", data=np.arange(6.0).reshape(2, 3), chunks=(1, 3))
    return path


@pytest.mark.parametrize("with_data", [True, False], ids=["with_virtual", "only_stored"])
def test_vlen_strings_compared_as_str(tmp_path: Path, with_data: bool) -> None:
    """h5py reads variable-length strings as bytes; the repository holds str: equal, not a mismatch."""
    src = _vlen_strings(tmp_path / "src" / "strings.h5", with_data=with_data)
    storage = write_repo(tmp_path / "repo", [src], concat_dim=None, loadable_variables=["ascii", "utf8"])
    report = verify(storage, urls=[src])
    assert report.ok and not report.findings, report.format_table()
    assert report.compared["ascii"] == report.compared["utf8"] == 1
    session = icechunk.Repository.open(storage).writable_session("main")
    arr = zarr.open_array(session.store, path="utf8", mode="r+")
    arr[1] = "sorrow e"
    session.commit("one string changed")
    report = verify(storage, urls=[src])
    [m] = report.mismatches
    assert m.variable == "utf8" and "1 of 2 raw values differ" in m.message, report.format_table()
    assert not [f for f in report.errors if f.kind == "not_referenced"]


# --------------------------------------------------------------------------- kerchunk Parquet, zipped Zarr


def test_kerchunk_parquet_compared_and_swapped_refs_caught(tmp_path: Path, series_files: list[Path]) -> None:
    from kerchunk.df import refs_to_dataframe
    from kerchunk.hdf import SingleHdf5ToZarr

    from vzskill.write import virtualize

    nc = _copy(series_files[0], tmp_path / "data")
    refs = SingleHdf5ToZarr(str(nc), nc.as_uri()).translate()  # small chunks inlined
    (tmp_path / "refs").mkdir()
    refs_to_dataframe(refs, str(tmp_path / "refs" / "good.parq"))
    virtualize([tmp_path / "refs" / "good.parq"], tmp_path / "repo")
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    report = verify(storage, [tmp_path / "refs" / "good.parq"])
    assert report.ok and not report.skipped and not report.errors, report.format_table()
    # kerchunk keeps the HDF5 fill value as the Zarr fill_value only: the CF attribute is gone, and that is said
    assert sorted(w.variable for w in report.warnings) == ["precipitation", "temperature"]
    assert all("_FillValue -9999.0 in the source, absent in the repository (decoded values equal; values equal to "
               "the source's _FillValue read back as numbers, not as missing" in w.message for w in report.warnings)
    assert report.compared["temperature"] == report.compared["precipitation"] == 16
    r = refs["refs"]
    r["precipitation/0.0.0"], r["precipitation/1.0.0"] = r["precipitation/1.0.0"], r["precipitation/0.0.0"]
    refs_to_dataframe(refs, str(tmp_path / "refs" / "swapped.parq"))
    virtualize([tmp_path / "refs" / "swapped.parq"], tmp_path / "bad")
    report = verify(icechunk.local_filesystem_storage(str(tmp_path / "bad")))
    assert sorted(m.chunk for m in report.mismatches) == [(0, 0, 0), (1, 0, 0)], report.format_table()
    assert all("misplaced" in m.message for m in report.mismatches)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_zipped_zarr_compared_and_wrong_member_caught(tmp_path: Path, series_files: list[Path]) -> None:
    import xarray as xr
    from zarr.storage import ZipStore

    from vzskill.source_zarr import member_offsets

    archive = tmp_path / "src" / "series.zarr.zip"
    archive.parent.mkdir()
    with xr.open_dataset(series_files[0], engine="h5netcdf") as ds:
        store = ZipStore(archive, mode="w")
        ds.load().to_zarr(store, zarr_format=3, consolidated=False,
                          encoding={v: {"chunks": (1, 10, 15)} for v in ("temperature", "precipitation")})
        store.close()
    storage = write_repo(tmp_path / "repo", [archive], concat_dim=None, root=tmp_path / "src")
    report = verify(storage)
    assert report.ok and report.compared["temperature"] == 16 and not report.skipped, report.format_table()
    assert "no reader" not in report.format_table()
    # point chunk (0, 0, 0) at the bytes of the member of chunk (1, 0, 0)
    with open(archive, "rb") as fh:
        at = {name: off for off, name in member_offsets(fh).items()}
    session = icechunk.Repository.open(storage).writable_session("main")
    import zipfile

    size = zipfile.ZipFile(archive).getinfo("temperature/c/1/0/0").file_size
    session.store.set_virtual_ref("temperature/c/0/0/0", archive.as_uri(), offset=at["temperature/c/1/0/0"], length=size)
    session.commit("wrong member")
    report = verify(storage)
    [m] = report.mismatches
    assert m.variable == "temperature" and m.chunk == (0, 0, 0) and "misplaced" in m.message, report.format_table()


def test_cf_attribute_comparison_rules() -> None:
    """Equal attributes are no drift: number-like text (CF dimensionless units '1'), zarr's "NaN" fill string."""
    from vzskill.cf_drift import attr_drift

    assert attr_drift({"units": "1"}, {"units": "1"}) == []
    assert attr_drift({"_FillValue": "NaN"}, {"_FillValue": np.float32(np.nan)}) == []
    assert attr_drift({"units": "m"}, {"units": "m"}) == []
    [d] = attr_drift({"units": "1"}, {"units": "10"})
    assert d.name == "units" and d.value_differs
    [d] = attr_drift({"units": "days since 2000-01-01"}, {"units": "hours since 2000-01-01"})
    assert d.value_differs


@pytest.mark.s3
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_zipped_zarr_and_ascii_table_on_s3(s3_endpoint: str, s3_client, make_bucket, tmp_path: Path,
                                          series_files: list[Path]) -> None:
    """The zipped Zarr reader and the ASCII-table check read remote objects through the registry."""
    import xarray as xr
    from zarr.storage import ZipStore

    from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET
    from vzskill import check
    from vzskill.sources import Access
    from vzskill.write import virtualize

    archive = tmp_path / "series.zarr.zip"
    with xr.open_dataset(series_files[0], engine="h5netcdf") as ds:
        store = ZipStore(archive, mode="w")
        ds.load().to_zarr(store, zarr_format=3, consolidated=False,
                          encoding={v: {"chunks": (1, 10, 15)} for v in ("temperature", "precipitation")})
        store.close()
    table = _ascii_table(tmp_path / "table.fits")
    bucket = make_bucket()
    for path in (archive, table):
        s3_client.upload_file(str(path), bucket, f"data/{path.name}")
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    for name, var in (("series.zarr.zip", "temperature"), ("table.fits", "CAT")):
        url = f"s3://{bucket}/data/{name}"
        report = check([url], access=access)
        assert report.ok, report.format_table()
        virtualize([url], tmp_path / f"repo-{name}", access=access)
        got = verify(tmp_path / f"repo-{name}", access=access)
        assert got.ok and got.compared[var] >= 1 and not got.skipped, got.format_table()


@pytest.mark.s3
@pytest.mark.filterwarnings("ignore:Attempting to write an entirely non-virtual Dataset")
def test_only_stored_arrays_from_s3_sources_are_compared(s3_endpoint: str, s3_client, make_bucket,
                                                          tmp_path: Path) -> None:
    """Nothing virtual: the listed remote sources are read with the caller's access."""
    from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access
    from vzskill.write import virtualize

    src = _vlen_strings(tmp_path / "strings.h5", with_data=False)
    bucket = make_bucket()
    s3_client.upload_file(str(src), bucket, "strings.h5")
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    url = f"s3://{bucket}/strings.h5"
    virtualize([url], tmp_path / "repo", access=access)
    report = verify(tmp_path / "repo", [url], access=access)
    assert report.ok and report.compared == {"ascii": 1, "utf8": 1} and report.n_chunks == 0, report.format_table()


def test_one_bad_chunk_among_a_files_chunks_is_reported_alone(tmp_path: Path, series_files: list[Path]) -> None:
    """A file's chunks are read in one go; when that read fails, chunk by chunk: only the bad one is reported."""
    src = _copy(series_files[0], tmp_path / "src")
    storage = write_repo(tmp_path / "repo", [src], concat_dim=None)
    session = icechunk.Repository.open(storage).writable_session("main")
    session.store.set_virtual_ref("temperature/c/1/0/0", src.as_uri(), offset=0, length=100)  # the HDF5 superblock
    session.commit("one reference into the header")
    report = verify(storage)
    [m] = report.mismatches
    assert m.variable == "temperature" and m.chunk == (1, 0, 0), report.format_table()
    assert report.compared["temperature"] == 16 and report.mismatch_counts == {"temperature": 1}
