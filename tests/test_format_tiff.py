"""TIFF / COG sources (virtual-tiff): detection, inspect/check/virtualize/verify end to end with
tifffile as the direct reader, and the variants refused before anything is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from vzskill.format_fixtures import make_tiff, make_tiff_variant, tiff_values
from vzskill.formats import detect_kind, parser_for
from vzskill.parse import parse_files
from vzskill import verify
from vzskill.write import virtualize

pytestmark = pytest.mark.timeout(120)

CASES = {  # name -> make_tiff options
    "tiled_zlib_edge_tiles": {"shape": (100, 120)},  # 100 x 120 in 32 x 32 tiles: partial edge tiles
    "strips_lzw_predictor": {"tile": None, "rowsperstrip": 20, "compression": "lzw", "predictor": True},
    "zstd_float32": {"dtype": "float32", "compression": "zstd"},
    "bands_separate": {"shape": (3, 64, 64), "dtype": "uint8", "planarconfig": "separate"},
    "multipage": {"pages": 3, "compression": "packbits"},
    "jpeg_lossy_uint8": {"dtype": "uint8", "compression": "jpeg"},  # both sides decode the same JPEG bytes
    "jpeg2000": {"compression": "jpeg2000"},
    "bigtiff_big_endian": {"bigtiff": True, "byteorder": ">", "dtype": "int32"},
    "lzma_float64_predictor": {"dtype": "float64", "compression": "lzma", "predictor": True},
    "cog_overviews": {"shape": (128, 128), "overviews": 2},
}


def _values(repo: Path, name: str) -> np.ndarray:
    import icechunk
    import zarr

    session = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)),
                                       authorize_virtual_chunk_access={f"file://{repo.parent}/": icechunk.credentials.LocalFileSystemAccess}).readonly_session("main")
    return np.asarray(zarr.open_array(session.store, path=name, mode="r")[...])


@pytest.mark.parametrize("case", list(CASES))
def test_tiff_end_to_end(case: str, tmp_path: Path) -> None:
    opts = CASES[case]
    tif = make_tiff(tmp_path / f"{case}.tif", **opts)  # type: ignore[arg-type]
    assert detect_kind(str(tif)) == "tiff" and type(parser_for(tif)).__name__ == "TiffParser"
    [parsed] = parse_files([tif])
    assert parsed.ok, parsed.error
    pages = opts.get("pages", 1)
    assert sorted(parsed.dataset.data_vars) == [str(i) for i in range(pages)]  # overviews left out
    repo = tmp_path / "repo"
    result = virtualize([tif], repo)
    assert result.n_files == 1
    report = verify(repo)
    assert report.ok, report.format_table()
    assert report.n_chunks == result.nrefs > 0
    shape = opts.get("shape", (100, 120))
    for page in range(pages):  # the repository reads back what tifffile wrote (JPEG: what tifffile decodes)
        want = tifffile.imread(tif, key=page) if opts.get("compression") == "jpeg" else tiff_values(
            shape, opts.get("dtype", "uint16"), page)
        np.testing.assert_array_equal(_values(repo, str(page)), want)


def test_geotiff_cf_attributes_from_gdal_metadata(tmp_path: Path) -> None:
    """GDAL writes scale_factor/add_offset as text: stored as numbers (else every xarray read fails), and
    the tifffile reader's own reading of the GDAL XML agrees (no false drift)."""
    import icechunk
    import xarray as xr

    from vzskill.containers import open_repo

    tif = make_tiff(tmp_path / "geo.tif", geo=True)
    [p] = parse_files([tif])
    attrs = p.dataset["0"].attrs
    assert attrs["scale_factor"] == 0.01 and attrs["add_offset"] == 200.0 and attrs["geographic_type"] == 4326
    repo = tmp_path / "repo"
    virtualize([tif], repo)
    report = verify(repo)
    assert report.ok and not report.warnings, report.format_table()
    ds = xr.open_zarr(open_repo(icechunk.local_filesystem_storage(str(repo)), None).readonly_session("main").store,
                      consolidated=False)
    np.testing.assert_allclose(ds["0"].values, tiff_values((100, 120)) * 0.01 + 200.0)


@pytest.mark.parametrize("options", [
    {"tile": (32, 32), "compression": None},
    {"tile": (32, 32), "compression": "zlib"},
    {"rowsperstrip": 16, "compression": "lzw"},
])
def test_interleaved_rgb_as_y_x_band(options: dict, tmp_path: Path) -> None:
    """Pixel-interleaved RGB (virtual-tiff 0.5 cannot build its codec): described as (y, x, band), verified."""
    rgb = np.stack([tiff_values((64, 96), "uint8", page=b) for b in range(3)], axis=-1)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", **options)
    [p] = parse_files([path])
    assert p.ok and p.dataset["0"].dims == ("y", "x", "band"), p.error
    repo = tmp_path / "repo"
    result = virtualize([path], repo)
    report = verify(repo)
    assert report.ok and report.compared == {"0": result.nrefs}, report.format_table()
    np.testing.assert_array_equal(_values(repo, "0"), rgb)


def test_interleaved_geotiff_keeps_its_georeferencing_and_nodata(tmp_path: Path) -> None:
    rgb = np.stack([tiff_values((64, 96), "uint8", page=b) for b in range(3)], axis=-1)
    keys = (1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 2054, 0, 1, 9102)
    path = tmp_path / "g.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", tile=(32, 32), compression="zlib",
                     extratags=[(34735, "H", len(keys), keys, True), (33550, "d", 3, (0.1, 0.1, 0.0), True),
                                (42113, "s", 0, "7", True)])
    [p] = parse_files([path])
    attrs = p.dataset["0"].attrs
    assert attrs["geographic_type"] == 4326 and attrs["model_pixel_scale"] == [0.1, 0.1, 0.0] and attrs["_FillValue"] == 7
    virtualize([path], tmp_path / "repo")
    report = verify(tmp_path / "repo")
    assert report.ok and not report.warnings, report.format_table()


def test_overview_is_a_group(tmp_path: Path) -> None:
    tif = make_tiff(tmp_path / "cog.tif", shape=(128, 128), overviews=2)
    [p] = parse_files([tif], group="2")
    assert p.ok and dict(p.dataset.sizes) == {"y": 32, "x": 32}
    virtualize([tif], tmp_path / "overview.icechunk", group="2")
    report = verify(tmp_path / "overview.icechunk")
    assert report.ok and report.compared == {"2": 1}, report.format_table()
    [bad] = parse_files([tif], group="3")
    assert bad.error == ("cog.tif: no IFD 3 in this TIFF -> pass group='0' (the full-resolution image) or a smaller "
                         "index; `vzskill inspect` lists the arrays")


def test_verify_catches_moved_tiles(tmp_path: Path) -> None:
    """tifffile's tile offsets are really used: two tiles swapped in the file's TileOffsets (same mtime,
    so the repository cannot tell) put the repository's references at the wrong tiles."""
    import os

    tif = make_tiff(tmp_path / "t.tif", compression=None)
    repo = tmp_path / "repo"
    virtualize([tif], repo)
    assert verify(repo).ok
    with tifffile.TiffFile(tif) as tf:
        tag = tf.pages[0].tags["TileOffsets"]
        where, offsets, fmt = tag.valueoffset, list(tag.value), tf.byteorder + "I"
    offsets[0], offsets[1] = offsets[1], offsets[0]
    stat = tif.stat()
    with open(tif, "r+b") as fh:
        fh.seek(where)
        fh.write(__import__("struct").pack(fmt[0] + f"{len(offsets)}I", *offsets))
    os.utime(tif, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = verify(repo)
    assert not report.ok and report.mismatch_counts.get("0", 0) >= 1, report.format_table()


@pytest.mark.parametrize(("kind", "message"), [
    ("subifd", r"^subifd\.tif: a sub-IFD pyramid \(.*\) -> rewrite it with the overviews as top-level IFDs \(rewrite it as a COG"),
    ("partial_strips", r"^partial_strips\.tif: strips that do not divide the image height \(.*rows per strip 15.*\) -> rewrite it tiled"),
    ("interleaved_predictor", r"^interleaved_predictor\.tif: interleaved samples \(PlanarConfiguration 1 .*\) with a "
                              r"predictor across interleaved samples -> rewrite it band-sequential"),
    ("jetraw", r"^jetraw\.tif: IFD 0 is jetraw-compressed and this installation's imagecodecs cannot decode jetraw -> convert it"),
])
def test_refused_before_writing(kind: str, message: str, tmp_path: Path) -> None:
    from vzskill.outcome import VirtualizeError

    tif = make_tiff_variant(tmp_path / f"{kind}.tif", kind)
    [p] = parse_files([tif])
    assert p.problem == "unsupported", p
    assert p.error is not None and "\n" not in p.error
    assert __import__("re").search(message, p.error), p.error
    with pytest.raises(VirtualizeError, match="nothing written"):
        virtualize([tif], tmp_path / "repo")
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())


@pytest.mark.s3
def test_tiff_on_s3(tmp_path: Path, s3_endpoint: str, s3_client, make_bucket) -> None:
    """Virtualized from and verified against moto S3: virtual-tiff and tifffile both read by range."""
    from tests.plugins.servers import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access

    tif = make_tiff(tmp_path / "remote.tif", tile=(64, 64))
    bucket = make_bucket()
    s3_client.upload_file(str(tif), bucket, "tiff/remote.tif")
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    url = f"s3://{bucket}/tiff/remote.tif"
    result = virtualize([url], tmp_path / "repo", access=access)
    report = verify(tmp_path / "repo", access=access)
    assert report.ok and report.n_chunks == result.nrefs == 4, report.format_table()


def test_missing_extra_names_the_pip_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "virtual_tiff" else real(name, *a))
    tif = make_tiff(tmp_path / "a.tif")
    [p] = parse_files([tif])
    assert p.error == "a.tif: a TIFF file needs virtual_tiff, which is not installed -> pip install virtual-tiff tifffile imagecodecs"
    shutil.rmtree(tmp_path)


def test_verify_without_tifffile_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader's package missing: verify reports the chunks as not compared (never ok)."""
    import sys

    from vzskill import source_readers

    tif = make_tiff(tmp_path / "a.tif")
    virtualize([tif], tmp_path / "repo")
    monkeypatch.delitem(source_readers._READERS, "tiff", raising=False)
    monkeypatch.delitem(sys.modules, "vzskill.readers_tiff", raising=False)
    monkeypatch.setitem(sys.modules, "tifffile", None)
    report = verify(tmp_path / "repo")
    assert not report.ok
    assert "no reader for tiff sources" in report.format_table(), report.format_table()
