"""Reference bounds and tile-compressed FITS: refused by check (exit 1) before anything is written."""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from pathlib import Path

import h5py
import icechunk
import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

from vzskill import check
from vzskill.containers import open_repo
from vzskill.extents import bounds_findings, object_sizes, reference_reach
from vzskill.parse import parse_files
from vzskill.write import VirtualizeError, virtualize

ASTROPY_DATA = Path(fits.__file__).parent / "tests" / "data"


def _fits_message(name: str, compression: str, var: str = "COMPRESSED_IMAGE", index: int = 1, alone: bool = True) -> str:
    skip = "skip the file (it has no other data)" if alone else f"skip it (drop_variables=['{var}']) or the file"
    return (
        f"{name}: variable '{var}' is a tile-compressed FITS image ({compression}, CompImageHDU): "
        "VirtualiZarr's FITS parser cannot virtualize tile-compressed images (its references point at the compressed "
        f"tiles as if they were raw pixels) -> decompress it with astropy (hdu = fits.open(f)[{index}]; "
        f"fits.writeto('uncompressed.fits', hdu.data, hdu.header)) and virtualize the uncompressed copy, or {skip}"
    )


@pytest.mark.parametrize("name, var", [("comp.fits", "COMPRESSED_IMAGE"), ("compressed_image.fits", "COMPRESSED_IMAGE"),
                                       ("double_ext.fits", "ccd00")])
def test_astropy_tile_compressed_fits_is_refused(name: str, var: str) -> None:
    """comp.fits points past its end; compressed_image.fits stays inside it; double_ext.fits names the image by
    its own EXTNAME (the table is 'COMPRESSED_IMAGE'): all refused by the header."""
    report = check([ASTROPY_DATA / name])
    assert report.exit_code == 1
    assert [f.message for f in report.errors] == [_fits_message(name, "RICE_1", var)]
    assert report.errors[0].kind == "fits_tile_compressed" and report.errors[0].variable == var


def test_written_comp_image_hdu_refused_and_the_fix_works(tmp_path: Path) -> None:
    data = np.arange(64 * 48, dtype="int16").reshape(64, 48)
    packed = tmp_path / "packed.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type="GZIP_1")]).writeto(packed)
    report = check([packed])
    assert [f.message for f in report.errors] == [_fits_message("packed.fits", "GZIP_1")]
    # next to an uncompressed image, dropping the compressed one is offered - and works
    mixed = tmp_path / "mixed.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="PLAIN"),
                  fits.CompImageHDU(data, compression_type="RICE_1", name="PACKED")]).writeto(mixed)
    [f] = check([mixed]).errors
    assert f.message == _fits_message("mixed.fits", "RICE_1", "PACKED", index=2, alone=False)
    assert check([mixed], drop_variables=["PACKED"]).ok
    with pytest.raises(VirtualizeError):
        virtualize([packed], tmp_path / "refused")
    assert not (tmp_path / "refused").exists()  # nothing written
    # the fix, as the message says it
    with fits.open(packed) as hdul:
        plain = tmp_path / "uncompressed.fits"
        hdu = hdul[1]
        fits.writeto(plain, hdu.data, hdu.header)
    assert check([plain]).ok
    virtualize([plain], tmp_path / "repo")
    repo = open_repo(icechunk.local_filesystem_storage(str(tmp_path / "repo")))
    ds = xr.open_zarr(repo.readonly_session(branch="main").store, consolidated=False, zarr_format=3, chunks=None)
    [var] = list(ds.data_vars)
    np.testing.assert_array_equal(ds[var].values, data)


def _past_eof(path: Path) -> tuple[int, int, int]:
    """An HDF5 file (superblock v0, no checksums) whose last chunk reference ends 2000 bytes past EOF."""
    with h5py.File(path, "w", libver="earliest") as f:
        f.create_dataset("v", data=np.arange(4000, dtype="f4").reshape(4, 1000), chunks=(1, 1000))
    [p] = parse_files([path])
    [reach] = reference_reach([p])
    cut = reach.end - 2000
    os.truncate(path, cut)
    with open(path, "r+b") as fh:  # superblock v0: end-of-file address at byte 40
        fh.seek(40)
        fh.write(struct.pack("<Q", cut))
    return reach.offset, reach.length, cut


def test_hdf5_reference_past_end_of_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "eof.h5"
    offset, length, size = _past_eof(path)
    report = check([path])
    assert report.exit_code == 1
    [f] = report.errors
    assert f.kind == "reference_bounds" and f.variable == "v" and f.file == path.as_uri()
    assert f.message == (
        f"eof.h5: variable 'v' references bytes up to {offset + length} (offset {offset} + length {length}) but the "
        f"file has only {size} bytes -> the object is shorter than its metadata says (truncated, or changed since it "
        "was indexed): fetch it again, or drop the variable: drop_variables=['v'] (loading it reads the same missing bytes)"
    )
    with pytest.raises(VirtualizeError, match="references bytes up to"):
        virtualize([path], tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
    assert check([path], drop_variables=["v"]).ok  # the fix works


def _kerchunk(path: Path, target: str, offset: int, length: int) -> None:
    zarray = {"chunks": [4], "compressor": None, "dtype": "<f4", "fill_value": None, "filters": None,
              "order": "C", "shape": [4], "zarr_format": 2}
    refs = {".zgroup": json.dumps({"zarr_format": 2}), "v/.zarray": json.dumps(zarray),
            "v/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": ["x"]}), "v/0": [target, offset, length]}
    path.write_text(json.dumps({"version": 1, "refs": refs}))


def test_kerchunk_references_past_end_and_to_a_missing_object(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(np.arange(4, dtype="<f4").tobytes())
    inside, past, gone = tmp_path / "inside.json", tmp_path / "past.json", tmp_path / "gone.json"
    _kerchunk(inside, blob.as_uri(), 0, 16)
    _kerchunk(past, blob.as_uri(), 8, 16)
    _kerchunk(gone, (tmp_path / "nope.bin").as_uri(), 0, 16)
    assert check([inside]).ok
    [f] = check([past]).errors
    assert f.message.startswith(
        "past.json: variable 'v' references bytes up to 24 (offset 8 + length 16) but blob.bin has only 16 bytes ->"
    )
    [f] = check([gone]).errors
    assert f.kind == "missing_object"
    assert f.message == (
        f"gone.json: variable 'v' references {(tmp_path / 'nope.bin').as_uri()}, which does not exist -> re-generate "
        "the references, or drop it: drop_variables=['v']"
    )


def test_sizes_known_from_the_parse_are_used_and_inlined_chunks_skipped(series_files: list[Path]) -> None:
    parsed = parse_files(series_files[:1])
    url = parsed[0].url
    real = series_files[0].stat().st_size
    assert object_sizes([url]) == {url: real}
    assert object_sizes([url], known={url: 10}) == {url: 10}  # no stat when the size is known
    names = {url: "temp_000.nc"}
    parsed[0].size = 10  # a (wrong) size learned by the parse wins: every reference is now past it
    assert {f.kind for f in bounds_findings(parsed, names)} == {"reference_bounds"}
    parsed[0].size = None
    assert bounds_findings(parsed, names) == []
    # loaded coordinates are not references; every reach is a real file path
    assert {r.path for r in reference_reach(parsed)} == {url}


@pytest.mark.s3
def test_remote_sizes_by_head_and_past_end_on_s3(s3_endpoint: str, make_bucket, s3_client, tmp_path: Path,
                                                series_files: list[Path]) -> None:
    from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access

    bucket = make_bucket()
    path = tmp_path / "eof.h5"
    _, _, size = _past_eof(path)
    s3_client.upload_file(str(path), bucket, "eof.h5")
    s3_client.upload_file(str(series_files[0]), bucket, "temp_000.nc")
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    good = check([f"s3://{bucket}/temp_000.nc"], access=access)
    assert good.ok and good.findings == [], good.format_table()
    [f] = check([f"s3://{bucket}/eof.h5"], access=access).errors
    assert f.kind == "reference_bounds" and f"but the file has only {size} bytes" in f.message


@pytest.mark.http
def test_remote_sizes_over_http(http_base_url: str) -> None:
    urls = [f"{http_base_url}/series/temp_{i:03d}.nc" for i in range(3)]
    report = check(urls)
    assert report.ok and not [f for f in report.findings if f.kind in ("bounds_unchecked", "reference_bounds")]


def test_bounds_cost_per_file(tmp_path: Path, series_files: list[Path]) -> None:
    """The bounds step on 60 local files: a few ms per file at most (printed; asserted loosely)."""
    files = []
    for i in range(60):
        target = tmp_path / f"f{i:03d}.nc"
        shutil.copy(series_files[i % len(series_files)], target)
        files.append(target)
    parsed = parse_files(files)
    names = {p.url: p.name for p in parsed}
    start = time.perf_counter()
    assert bounds_findings(parsed, names) == []
    per_file_ms = (time.perf_counter() - start) / len(parsed) * 1000
    print(f"bounds check: {per_file_ms:.2f} ms per file over {len(parsed)} files")
    assert per_file_ms < 20


# --------------------------------------------------------------------------- FITS ASCII tables


def _ascii_with(tmp_path: Path, name: str, a_text: bytes | None, b_text: bytes | None, *, image: bool) -> Path:
    """An ASCII table (float 'a' E10.4, int 'b' I5, TNULL '*' on both) whose row 1 fields are overwritten as given."""
    cols = [fits.Column(name="a", format="E10.4", null="*", array=np.array([1.5, 2.5, 3.5])),
            fits.Column(name="b", format="I5", null="*", array=np.array([1, 2, 3]))]
    hdus = [fits.PrimaryHDU(np.arange(6.0).reshape(2, 3) if image else None), fits.TableHDU.from_columns(cols, name="CAT")]
    path = tmp_path / name
    fits.HDUList(hdus).writeto(path)
    with fits.open(path) as hdul:
        start, width = hdul.fileinfo(1)["datLoc"], hdul[1].header["NAXIS1"]
        starts = [hdul[1].header["TBCOL1"] - 1, hdul[1].header["TBCOL2"] - 1]
    data = bytearray(path.read_bytes())
    for text, col, w in ((a_text, 0, 10), (b_text, 1, 5)):
        if text is not None:
            at = start + width + starts[col]
            data[at:at + w] = text.rjust(w)
    path.write_bytes(bytes(data))
    return path


def test_fits_ascii_table_null_marker_is_refused(tmp_path: Path) -> None:
    alone = _ascii_with(tmp_path, "nulls.fits", b"*", None, image=False)
    report = check([alone])
    [f] = report.errors
    assert f.kind == "fits_ascii_table" and f.variable == "CAT"
    assert f.message == (
        "nulls.fits: variable 'CAT' is a FITS ASCII table whose column 'a' holds '*', its null marker (TNULL1 = '*'), "
        "in 1 row(s): VirtualiZarr's ASCII-table codec cannot parse it, so the written table could not be read back "
        "-> skip the file (it has no other data)")
    with pytest.raises(VirtualizeError):
        virtualize([alone], tmp_path / "refused")
    assert not (tmp_path / "refused").exists()  # nothing written
    # next to an image: dropping the table is offered, and works
    mixed = _ascii_with(tmp_path, "mixed.fits", None, b"x1", image=True)
    [f] = check([mixed]).errors
    assert "column 'b' holds 'x1', text that is not a number, in 1 row(s)" in f.message
    assert f.fix == "skip it (drop_variables=['CAT']) or the file"
    assert check([mixed], drop_variables=["CAT"]).ok
    virtualize([mixed], tmp_path / "repo", drop_variables=["CAT"])
    repo = open_repo(icechunk.local_filesystem_storage(str(tmp_path / "repo")))
    ds = xr.open_zarr(repo.readonly_session(branch="main").store, consolidated=False, zarr_format=3, chunks=None)
    assert list(ds.data_vars) == ["PRIMARY"]


def test_fits_ascii_table_that_decodes_is_not_refused(tmp_path: Path) -> None:
    """A declared TNULL that no row uses, a blank float (NaN) and Fortran 'D' exponents decode: no false alarm."""
    for name, text in (("blank.fits", b""), ("fortran.fits", b"2.5000D+00")):
        ok = _ascii_with(tmp_path, name, text, None, image=False)
        assert check([ok]).ok, check([ok]).format_table()
    assert check([ASTROPY_DATA / "ascii_i4-i20.fits"]).ok
    both = _ascii_with(tmp_path, "both.fits", b"*", b"", image=False)  # a blank integer does not parse either
    [f] = check([both]).errors
    assert "column 'a' holds '*'" in f.message and "; 1 more column(s) too:" in f.message


@pytest.mark.s3
def test_remote_fits_probes_use_the_credentials(s3_endpoint: str, make_bucket, s3_client, tmp_path: Path) -> None:
    """Tile-compressed images and undecodable ASCII tables on S3 are refused too (the probes read with access=)."""
    from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access

    bucket = make_bucket()
    nulls = _ascii_with(tmp_path, "nulls.fits", b"*", None, image=False)
    s3_client.upload_file(str(ASTROPY_DATA / "compressed_image.fits"), bucket, "compressed_image.fits")
    s3_client.upload_file(str(nulls), bucket, "nulls.fits")
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    start = time.perf_counter()
    [tiles] = check([f"s3://{bucket}/compressed_image.fits"], access=access).errors
    [table] = check([f"s3://{bucket}/nulls.fits"], access=access).errors
    assert tiles.kind == "fits_tile_compressed" and table.kind == "fits_ascii_table", (tiles, table)
    assert time.perf_counter() - start < 3.0  # no retries of unauthenticated requests
