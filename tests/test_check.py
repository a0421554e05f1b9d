"""vzskill.check: per-variable consistency across real files, odd files named, fixes given."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vzskill import fixtures
from vzskill.preflight import CheckReport, check, describe_codecs
from vzskill.parse import ParsedFile, parse_files, parser_for

VZSKILL = str(Path(sys.executable).with_name("vzskill"))

# variant -> (exit code, finding kinds that must name the variant)
EXPECTED = {
    "other_chunks": (1, {"chunks"}),
    "other_level": (1, {"codecs"}),
    "no_shuffle": (1, {"codecs"}),
    "no_compression": (1, {"codecs"}),
    "float64": (1, {"dtype"}),
    "other_time_units": (0, {"time_units"}),
    "scale_factor": (1, {"scale_offset", "fill_value", "dtype"}),
    "netcdf3": (1, {"chunks", "codecs"}),
}


@pytest.fixture(scope="module")
def variant_files(data_dir: Path) -> dict[str, str]:
    return {kind: str(data_dir / "variants" / f"{kind}.nc") for kind in EXPECTED}


def test_consistent_series_is_ok(series_files: list[Path]) -> None:
    report = check(series_files)
    assert report.ok and report.exit_code == 0
    assert report.concat_dim == "time" and report.concat_reason == "time: its values differ between files"
    # the only finding: the sample files' 'source' attribute differs (dropped on combine)
    assert [f.message for f in report.findings] == [
        "global attribute 'source' differs between files: 2 of 3 files differ from 'file index 0' (e.g. 'file index "
        "1') -> virtualize drops conflicting attributes (combine_attrs='drop_conflicts'): set it on the combined "
        "dataset yourself if you need it"
    ]
    assert report.findings[0].severity == "warning" and report.findings[0].kind == "attribute"
    assert report.groups == [[p.as_uri() for p in series_files]]
    # the parsed datasets are there to be reused (no second parse)
    assert len(report.datasets) == 3
    assert type(report.datasets[0]["temperature"].data).__name__ == "ManifestArray"
    info = report.variables["temperature"]
    assert info["chunks"] == (1, 10, 15)
    assert info["codecs"] == "zlib level 4 with shuffle"
    assert info["dtype"] == "float32"
    assert report.variables["time"]["time_units"] == "days since 2024-01-01"


def test_parsed_files_are_reused_not_reparsed(series_files: list[Path]) -> None:
    parsed = parse_files(series_files)
    report = check(parsed)
    assert report.ok
    assert all(a is b for a, b in zip(report.datasets, [p.dataset for p in parsed], strict=True))


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_variant_is_named_with_its_fix(kind: str, series_files: list[Path], variant_files: dict[str, str]) -> None:
    odd = variant_files[kind]
    report = check([*map(str, series_files), odd])
    code, kinds = EXPECTED[kind]
    assert report.exit_code == code, report.format_table()
    about_files = [f for f in report.findings if f.kind != "attribute"]
    assert about_files, f"{kind}: no finding"
    odd_url = Path(odd).as_uri()
    # every finding is about the odd file, one line, names it and carries a fix
    for f in about_files:
        assert f.file == odd_url
        assert "\n" not in f.message
        assert f.message.startswith(f"{kind}.nc: variable '")
        assert " -> " in f.message and f.fix and f.message.endswith(f.fix)
    assert {f.kind for f in report.findings} >= kinds
    assert report.odd_files == [odd_url]
    if kind == "other_time_units":  # time loaded and decoded: they combine correctly, one group
        assert report.groups == [[*(p.as_uri() for p in series_files), odd_url]]
    else:
        assert report.groups[0] == [p.as_uri() for p in series_files]
        assert report.groups[1] == [odd_url]


def test_messages_say_level_shuffle_and_fix(series_files: list[Path], variant_files: dict[str, str]) -> None:
    report = check([*series_files, variant_files["other_level"]])
    msg = report.errors[0].message
    assert msg == (
        "other_level.nc: variable 'temperature' uses zlib level 9 with shuffle, the other 3 files use zlib level 4 "
        "with shuffle -> recompress it like the others (e.g. nccopy -d 4 -s), or store this file's chunks in the "
        "repository (load 'temperature' for other_level.nc only: loadable_variables with its coordinates and "
        "'temperature', appending the files one by one in order), or virtualize it separately"
    )
    assert report.errors[0].file == Path(variant_files["other_level"]).as_uri()  # the file the 'load ... only' fix is for
    chunks = check([*series_files, variant_files["other_chunks"]]).errors[0]
    assert chunks.fix == (
        "rechunk it to (1, 10, 15) (e.g. nccopy -c), or store this file's chunks in the repository (load "
        "'temperature' for other_chunks.nc only: loadable_variables with its coordinates and 'temperature', "
        "appending the files one by one in order), or virtualize it separately")
    report = check([*series_files, variant_files["no_shuffle"]])
    assert "uses zlib level 4 without shuffle, the other 3 files use zlib level 4 with shuffle" in report.errors[0].message


def test_all_variants_together_name_every_odd_file(series_files: list[Path], variant_files: dict[str, str]) -> None:
    report = check([*series_files, *variant_files.values()])
    assert report.exit_code == 1
    assert sorted(report.odd_files) == sorted(Path(v).as_uri() for v in variant_files.values())
    assert report.groups[0] == [*(p.as_uri() for p in series_files), Path(variant_files["other_time_units"]).as_uri()]
    doc = json.loads(json.dumps(report.to_dict()))
    assert sorted(doc["odd_file_names"]) == sorted(f"{k}.nc" for k in variant_files)
    table = report.format_table()
    for kind in variant_files:
        assert f"{kind}.nc" in table


def test_cli_check_json_names_every_odd_file(series_files: list[Path], variant_files: dict[str, str]) -> None:
    proc = subprocess.run(
        [VZSKILL, "check", "--json", *map(str, series_files), *variant_files.values()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert sorted(doc["odd_file_names"]) == sorted(f"{k}.nc" for k in variant_files)
    named = {f["file_name"] for f in doc["findings"] if f["kind"] != "attribute"}
    assert named == {f"{k}.nc" for k in variant_files}
    assert len(proc.stderr.strip().splitlines()) == 1  # one-line error on stderr


def test_cli_check_ok_exit_0(series_files: list[Path]) -> None:
    proc = subprocess.run([VZSKILL, "check", *map(str, series_files)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout


def test_mixed_time_units_with_virtual_time_is_an_error(series_files: list[Path], variant_files: dict[str, str]) -> None:
    files = [*series_files, variant_files["other_time_units"]]
    loaded = check(files)
    assert loaded.ok and [f.severity for f in loaded.findings if f.kind == "time_units"] == ["warning"]
    assert len(loaded.groups) == 1  # one consistent group: they combine correctly
    for kwargs, how in (({"loadable_variables": []}, "is virtual"), ({"decode_times": False}, "is not decoded")):
        report = check(files, coords="minimal", concat_dim="time", **kwargs)
        errs = [f for f in report.errors if f.kind == "time_units"]
        assert len(errs) == 1, report.format_table()
        assert errs[0].message.startswith(
            "other_time_units.nc: variable 'time' uses units 'hours since 2024-01-05', the other 3 files use units "
            f"'days since 2024-01-01', and 'time' {how}"
        )
        assert "keep 'time' loaded and decoded" in errs[0].fix
        assert len(report.groups) == 2  # silent wrong times: the odd file is its own group


def test_concat_dim_typo_is_an_error(series_files: list[Path]) -> None:
    report = check(series_files, concat_dim="Time")
    assert report.exit_code == 1
    [f] = [f for f in report.findings if f.kind == "concat_dim"]
    assert f.severity == "error"
    assert "did you mean 'time'?" in f.message
    # a genuinely new dimension (ensemble stacking) is only a warning
    report = check(series_files[:1] * 1 + series_files[1:2], concat_dim="member")
    assert all(f.severity == "warning" for f in report.findings if f.kind == "concat_dim")


def test_virtual_coordinates_would_become_2d(series_files: list[Path]) -> None:
    report = check(series_files, loadable_variables=[], coords="different", concat_dim="time")
    kinds = {(f.kind, f.variable) for f in report.errors}
    assert ("virtual_coordinate", "lat") in kinds and ("virtual_coordinate", "lon") in kinds
    msg = next(f.message for f in report.errors if f.variable == "lat")
    assert "would turn ('lat',) into ('time', 'lat')" in msg and "coords='minimal'" in msg
    assert "(keeps the first file's 'lat' without comparing: check the files with 'lat' loaded first)" in msg
    minimal = check(series_files, loadable_variables=[], concat_dim="time")  # the default: how virtualize combines
    assert minimal.to_dict()["findings"] == check(series_files, loadable_variables=[], coords="minimal",
                                                  data_vars="minimal", concat_dim="time").to_dict()["findings"]
    assert minimal.ok  # warnings only: override keeps the first file's virtual coordinates, unchecked - and says so
    assert sorted(f.variable for f in minimal.warnings if f.kind == "virtual_coordinate") == ["lat", "lon"]
    assert ("coordinate 'lat' is virtual: its values are not compared between files, and compat='override' keeps the "
            "first file's -> run the check with 'lat' in loadable_variables") in next(
        f.message for f in minimal.warnings if f.variable == "lat")


def test_coordinate_values_differ_and_missing_variable(tmp_path: Path, series_files: list[Path]) -> None:
    ds = fixtures.sample_dataset(3)
    ds = ds.assign_coords(lat=ds.lat + 0.5)
    shifted = tmp_path / "shifted_grid.nc"
    ds.to_netcdf(shifted, engine="h5netcdf", encoding=fixtures.encoding_for(ds))
    ds = fixtures.sample_dataset(4).drop_vars("precipitation")
    missing = tmp_path / "no_precip.nc"
    ds.to_netcdf(missing, engine="h5netcdf", encoding=fixtures.encoding_for(ds))
    report = check([*series_files, shifted, missing])
    by_kind = {f.kind: f for f in report.errors}
    assert by_kind["coordinate_values"].file == shifted.as_uri()
    assert by_kind["coordinate_values"].message.startswith("shifted_grid.nc: coordinate 'lat' values differ")
    assert by_kind["missing_variable"].message.startswith(
        "no_precip.nc: variable 'precipitation' is missing, the other 4 files have it -> drop it"
    )


def test_partial_chunk_before_last_file(tmp_path: Path) -> None:
    paths = []
    for i, n in enumerate((3, 4)):
        ds = fixtures.sample_dataset(i, n_time=n)
        p = tmp_path / f"part_{i}.nc"
        ds.to_netcdf(p, engine="h5netcdf", encoding=fixtures.encoding_for(ds, chunks=(2, 10, 15)))
        paths.append(p)
    report = check(paths)
    partial = [f for f in report.errors if f.kind == "partial_chunk"]
    assert partial and all(f.file == paths[0].as_uri() for f in partial)
    assert not [f for f in check(paths[::-1]).findings if f.kind == "partial_chunk"]  # partial chunk last: fine


def test_parallel_executor_same_report(series_files: list[Path], variant_files: dict[str, str]) -> None:
    files = [*series_files, variant_files["float64"]]
    serial = check(files)
    with ThreadPoolExecutor(2) as pool:
        threaded = check(files, parallel=pool)
    assert [f.message for f in serial.findings] == [f.message for f in threaded.findings]


def test_parser_for_by_magic_and_extension(data_dir: Path) -> None:
    assert type(parser_for(data_dir / "series" / "temp_000.nc")).__name__ == "HDFParser"
    assert type(parser_for(data_dir / "variants" / "netcdf3.nc")).__name__ == "NetCDF3Parser"
    assert type(parser_for(data_dir / "fits" / "image.fits")).__name__ == "FITSParser"
    assert type(parser_for("/nowhere/refs.json")).__name__ == "KerchunkJSONParser"
    assert type(parser_for("/nowhere/refs.parq")).__name__ == "KerchunkParquetParser"
    assert type(parser_for("/nowhere/store.zarr")).__name__ == "ZarrParser"


def test_mixed_formats_parse_once(data_dir: Path) -> None:
    parsed = parse_files([data_dir / "series" / "temp_000.nc", data_dir / "variants" / "netcdf3.nc", data_dir / "fits" / "image.fits"])
    assert [p.kind for p in parsed] == ["hdf5", "netcdf3", "fits"]
    assert all(isinstance(p, ParsedFile) and p.ok for p in parsed)


def test_describe_codecs() -> None:
    assert describe_codecs((("bytes", ()),)) == "no compression"
    assert describe_codecs((("bytes", (("endian", "big"),)),)) == "no compression, big-endian"
    assert describe_codecs((("bytes", ()), ("shuffle", ()), ("zlib", (("level", 3),)))) == "zlib level 3 with shuffle"


def test_could_not_run_is_exit_2() -> None:
    report = check([])
    assert report.exit_code == 2 and report.fatal
    assert isinstance(report, CheckReport)
    report = check(["/data/x.nc"], registry={"file:///data/.*": object()})
    assert report.exit_code == 2 and "regular expression" in report.fatal


def test_check_reads_no_chunks(series_files: list[Path], tmp_path: Path) -> None:
    """Metadata only: a file whose chunk bytes are zeroed still checks OK (and identically)."""
    src = series_files[0].read_bytes()
    import h5py

    with h5py.File(series_files[0], "r") as f:
        info = f["temperature"].id.get_chunk_info(0)
    broken = bytearray(src)
    broken[info.byte_offset : info.byte_offset + info.size] = bytes(info.size)
    target = tmp_path / "zeroed.nc"
    target.write_bytes(bytes(broken))
    report = check([target, *series_files[1:]])
    assert report.ok, report.format_table()
    assert len(report.datasets) == 3


# --------------------------------------------------------------------------- remote sources


@pytest.mark.http
def test_check_over_http(http_base_url: str, variant_files: dict[str, str]) -> None:
    urls = [f"{http_base_url}/series/temp_{i:03d}.nc" for i in range(3)] + [f"{http_base_url}/variants/other_chunks.nc"]
    report = check(urls)
    assert report.exit_code == 1
    assert report.odd_files == [urls[-1]]
    assert report.errors[0].message.startswith("other_chunks.nc: variable 'temperature' uses chunks (1, 20, 30)")
    missing = check([urls[0], f"{http_base_url}/series/nope.nc"])
    assert missing.errors[0].message.startswith("nope.nc: file not found")


@pytest.mark.s3
def test_check_over_s3(s3_endpoint: str, s3_data_bucket: str) -> None:
    from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access

    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    urls = [f"s3://{s3_data_bucket}/series/temp_{i:03d}.nc" for i in range(3)]
    report = check(urls, access=access)
    assert report.ok, report.format_table()
    assert report.variables["temperature"]["codecs"] == "zlib level 4 with shuffle"
    gone = check([*urls, f"s3://{s3_data_bucket}/series/nope.nc"], access=access)
    assert [f.message.split(":")[0] for f in gone.errors] == ["nope.nc"]


def test_kerchunk_and_zarr_inputs(tmp_path: Path, series_files: list[Path]) -> None:
    [p] = parse_files(series_files[:1])
    p.dataset.vz.to_kerchunk(str(tmp_path / "inlined.json"), format="json")  # loaded coords are inlined
    [v] = parse_files(series_files[:1], loadable_variables=[])
    v.dataset.vz.to_kerchunk(str(tmp_path / "virtual.json"), format="json")
    v.dataset.vz.to_kerchunk(str(tmp_path / "virtual.parq"), format="parquet")
    fixtures.sample_dataset(0).to_zarr(tmp_path / "store.zarr", zarr_format=3, consolidated=False)
    parsed = parse_files([tmp_path / "virtual.json", tmp_path / "virtual.parq", tmp_path / "store.zarr", tmp_path / "inlined.json"])
    assert [q.kind for q in parsed] == ["kerchunk-json", "kerchunk-parquet", "zarr", "kerchunk-json"]
    assert [q.ok for q in parsed] == [True, True, True, False]
    assert parsed[3].error.startswith("inlined.json: Kerchunk references with inlined (loaded) ")
    assert "loadable_variables=[]" in parsed[3].fix


def test_by_coords_infers_the_concat_dim_like_xarray(series_files) -> None:
    """by_coords takes no concat_dim: the check infers it from the loaded coordinates (any file order)."""
    from vzskill import check

    for files in (series_files, series_files[::-1]):
        report = check(files, combine="by_coords", concat_dim=None)
        assert report.ok, report.format_table()
        assert report.concat_dim == "time"
    # the odd file is still named
    report = check([*series_files, series_files[0].parent.parent / "variants" / "other_chunks.nc"], combine="by_coords", concat_dim=None)
    assert not report.ok
    assert any(f.message.startswith("other_chunks.nc: variable 'temperature' uses chunks (1, 20, 30)") for f in report.findings)


def test_differing_global_attributes_one_warning_each(tmp_path: Path) -> None:
    """Zarr stores may carry dict-valued attributes: compared too, one warning per attribute, never a crash."""
    stores = []
    for i in range(3):
        ds = fixtures.sample_dataset(i)
        ds.attrs = {"title": "same", "history": f"made {i}", "meta": {"run": i // 2}}
        path = tmp_path / f"s{i}.zarr"
        ds.to_zarr(path, zarr_format=3, consolidated=False)
        stores.append(path)
    report = check(stores)
    assert report.ok and report.fatal is None, report.format_table()
    warned = {f.message.split("'")[1]: f.message for f in report.findings if f.kind == "attribute"}
    assert sorted(warned) == ["history", "meta"]
    assert warned["history"].startswith("global attribute 'history' differs between files: 2 of 3 files differ from 'made 0'")
    assert warned["meta"].startswith("global attribute 'meta' differs between files: 1 of 3 files differ from")


def test_to_dict_is_strict_json_and_keeps_a_nan_fill_value(tmp_path: Path) -> None:
    """check.to_dict goes through vzskill.jsonable; a NaN fill value keeps zarr's spelling (null = no fill value)."""
    import netCDF4
    import numpy as np

    paths = []
    for i in range(2):
        path = tmp_path / f"nanfill_{i}.nc"
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("time", None)
            ds.createDimension("x", 3)
            t = ds.createVariable("time", "f8", ("time",))
            t.units = "days since 2000-01-01"
            t[:] = [2 * i, 2 * i + 1]
            v = ds.createVariable("v", "f4", ("time", "x"), fill_value=np.float32(np.nan))
            v[:] = np.arange(6, dtype="f4").reshape(2, 3)
        paths.append(path)
    out = check(paths).to_dict()
    text = json.dumps(out, allow_nan=False)  # strict JSON: no NaN anywhere
    assert out["variables"]["v"]["fill_value"] == "NaN", text
    assert isinstance(out["variables"]["v"]["dtype"], str)


def test_workers_are_forwarded_to_the_parse(series_files: list[Path]) -> None:
    one = check(series_files, workers=1)
    two = check(series_files, workers=2)
    assert one.ok and two.ok and one.to_dict() == two.to_dict()


def test_three_distinct_values_count_every_other_file(data_dir: Path) -> None:
    """Three codecs among four files: each odd file's message counts all 3 others and names who uses what."""
    files = [data_dir / "series" / "temp_000.nc", data_dir / "series" / "temp_001.nc",
             data_dir / "variants" / "other_level.nc", data_dir / "variants" / "no_shuffle.nc"]
    report = check(files)
    by_file = {f.file.rsplit("/", 1)[-1]: f.message for f in report.findings if f.kind == "codecs" and f.variable == "temperature"}
    assert sorted(by_file) == ["no_shuffle.nc", "other_level.nc"], by_file
    level = by_file["other_level.nc"]
    assert "the other 3 files" in level, level
    assert "zlib level 4 with shuffle (temp_000.nc, temp_001.nc)" in level, level
    assert "zlib level 4 without shuffle (no_shuffle.nc)" in level, level
    assert "zlib level 9 with shuffle (other_level.nc)" in by_file["no_shuffle.nc"], by_file
    # everyone else agreeing keeps the short form
    [single] = [f for f in check(files[:3]).findings if f.kind == "codecs" and f.variable == "temperature"]
    assert "the other 2 files use zlib level 4 with shuffle ->" in single.message, single.message
