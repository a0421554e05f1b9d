"""vzskill.formats: format by magic bytes / extension on files other projects wrote, size from the same read."""

from __future__ import annotations

from pathlib import Path

import astropy
import h5py
import pytest
import scipy

from vzskill.formats import ParseError, detect_kind, parser_for, sniff
from vzskill.parse import parse_files

FILES = {
    "netcdf3": Path(scipy.__file__).parent / "io/tests/data/example_1.nc",
    "hdf5": Path(h5py.__file__).parent / "tests/data_files/vlen_string_dset.h5",
    "fits": Path(astropy.__file__).parent / "io/fits/tests/data/arange.fits",
}
PARSERS = {"netcdf3": "NetCDF3Parser", "hdf5": "HDFParser", "fits": "FITSParser"}


@pytest.mark.parametrize("kind", list(FILES))
def test_magic_bytes_and_size(kind: str) -> None:
    path = FILES[kind]
    found = sniff(str(path))
    assert found.kind == kind and found.size == path.stat().st_size
    assert type(parser_for(path)).__name__ == PARSERS[kind]
    [p] = parse_files([path])
    assert p.ok and p.kind == kind and p.size == path.stat().st_size


def test_extension_decides_references(tmp_path: Path) -> None:
    assert detect_kind(str(tmp_path / "refs.json")) == "kerchunk-json"  # not read: no size
    assert sniff(str(tmp_path / "refs.parquet")).size is None


def test_not_a_format_and_empty(tmp_path: Path) -> None:
    (tmp_path / "page.nc").write_text("<html>404</html>")
    (tmp_path / "empty.nc").write_bytes(b"")
    with pytest.raises(ParseError, match=r"^page\.nc: not a format vzskill reads \(starts with b'<html>40'; it reads NetCDF3/4, HDF5, HDF4, FITS, GRIB2, TIFF, ENVI, DMR\+\+, Zarr, kerchunk\) -> check"):
        detect_kind(str(tmp_path / "page.nc"))
    with pytest.raises(ParseError, match=r"^empty\.nc: empty file \(0 bytes\) -> re-download"):
        detect_kind(str(tmp_path / "empty.nc"))
    with pytest.raises(FileNotFoundError):
        detect_kind(str(tmp_path / "gone.nc"))


def test_gzip_is_refused_with_gunzip(tmp_path: Path) -> None:
    import gzip

    gz = tmp_path / "example_1.nc.gz"
    gz.write_bytes(gzip.compress(FILES["netcdf3"].read_bytes()))
    [p] = parse_files([gz])
    assert p.problem == "unsupported" and p.dataset is None
    assert p.error == "example_1.nc.gz: gzip-compressed: decompress it first (gunzip -k example_1.nc.gz) -> then virtualize example_1.nc"
    assert p.fix == "gunzip -k example_1.nc.gz, then virtualize example_1.nc"
    (tmp_path / "example_1.nc").write_bytes(gzip.decompress(gz.read_bytes()))  # the fix works
    assert parse_files([tmp_path / "example_1.nc"])[0].ok


def test_every_format_is_detected_and_gets_its_parser(tmp_path: Path) -> None:
    from vzskill import format_fixtures as fx
    from vzskill.fixtures import write_file

    made = {
        "tiff": (fx.make_tiff(tmp_path / "a.tif"), "TiffParser"),
        "grib": (fx.make_grib(tmp_path / "a.grib2", steps=(0,)), "GribParser"),
        "hdf4": (fx.make_hdf4(tmp_path / "a.hdf"), "Hdf4Parser"),
        "envi": (fx.make_envi(tmp_path / "a.img"), "EnviParser"),
        "dmrpp": (fx.make_dmrpp(write_file(tmp_path / "a.nc", 0)), "DmrppParser"),
        "zarr-zip": (fx.make_zipped_zarr(tmp_path / "a.zip"), "ZipParser"),  # by the zip signature, not the name
        "icechunk": (fx.make_icechunk_source(tmp_path / "a.icechunk", native=False), "IcechunkParser"),
    }
    for kind, (path, parser) in made.items():
        assert detect_kind(str(path)) == kind, path
        assert type(parser_for(path)).__name__ == parser
