"""GRIB2 sources (gribberish parser, eccodes as the direct reader): one message per chunk,
multi-message and multi-field files, packings, groups, and the variants refused before writing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from vzskill.format_fixtures import grib_values, make_grib
from vzskill.formats import detect_kind
from vzskill.outcome import VirtualizeError
from vzskill.parse import parse_files
from vzskill import verify
from vzskill.write import virtualize

pytestmark = pytest.mark.timeout(120)


def _read(repo: Path, name: str) -> np.ndarray:
    import icechunk
    import zarr

    repo_ = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)),
                                     authorize_virtual_chunk_access={f"file://{repo.parent}/": icechunk.credentials.LocalFileSystemAccess})
    return np.asarray(zarr.open_array(repo_.readonly_session("main").store, path=name, mode="r")[...])


@pytest.mark.parametrize("packing", ["simple", "complex", "complex_spatial", "ccsds"])
def test_grib_end_to_end(packing: str, tmp_path: Path) -> None:
    grib = make_grib(tmp_path / f"{packing}.grib2", packing=packing)
    assert detect_kind(str(grib)) == "grib"
    [p] = parse_files([grib])
    assert p.ok, p.error
    tmp = p.dataset["tmp"]
    assert tmp.dims == ("time", "latitude", "longitude") and tmp.shape == (3, 10, 12)
    entries = tmp.data.manifest.dict()
    assert len(entries) == 3 and len({e["offset"] for e in entries.values()}) == 3  # one message per chunk
    repo = tmp_path / "repo"
    result = virtualize([grib], repo)
    assert result.nrefs == 3
    report = verify(repo)
    assert report.ok, report.format_table()
    assert report.compared["tmp"] == 3 and report.compared["time"] == 1
    np.testing.assert_allclose(_read(repo, "tmp"), np.stack([grib_values(s) for s in (0, 6, 12)]), atol=0.01)


def test_two_fields_and_a_bitmap(tmp_path: Path) -> None:
    grib = make_grib(tmp_path / "two.grib2", fields=("2t", "2d"), steps=(0, 6), missing=True)
    [p] = parse_files([grib])
    assert p.ok and sorted(p.dataset.data_vars) == ["dpt", "tmp"]
    repo = tmp_path / "repo"
    virtualize([grib], repo)
    report = verify(repo)
    assert report.ok, report.format_table()
    assert report.compared["dpt"] == report.compared["tmp"] == 2
    assert np.isnan(_read(repo, "dpt")[:, 0, 0]).all()  # the bitmap hole reads as NaN on both sides


def test_series_of_files_along_time(tmp_path: Path) -> None:
    files = [make_grib(tmp_path / f"f{d}.grib2", date=d, steps=(0, 6)) for d in (20240101, 20240102)]
    repo = tmp_path / "repo"
    result = virtualize(files, repo, concat_dim="time")
    assert result.nrefs == 4
    report = verify(repo)
    assert report.ok, report.format_table()
    want = [grib_values(s, date=d) for d in (20240101, 20240102) for s in (0, 6)]  # each day's values differ
    np.testing.assert_allclose(_read(repo, "tmp"), np.stack(want), atol=0.01)


def test_group_picks_a_node_of_the_tree(tmp_path: Path) -> None:
    grib = make_grib(tmp_path / "g.grib2")
    [p] = parse_files([grib], group="hag/instant")
    assert p.ok and list(p.dataset.data_vars) == ["tmp"]
    [bad] = parse_files([grib], group="sfc/instant")
    assert bad.error == "g.grib2: no GRIB group 'sfc/instant' -> pass one of group=['hag/instant']"


def test_verify_catches_a_swapped_message(tmp_path: Path) -> None:
    """eccodes' message positions are really used: two messages of equal size swapped in place (same
    mtime) put the repository's references at the wrong steps."""
    import os

    grib = make_grib(tmp_path / "s.grib2", steps=(0, 6))
    repo = tmp_path / "repo"
    virtualize([grib], repo)
    data = grib.read_bytes()
    half = len(data) // 2
    assert data[half:half + 4] == b"GRIB"
    stat = grib.stat()
    grib.write_bytes(data[half:] + data[:half])
    os.utime(grib, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = verify(repo)
    assert not report.ok and report.mismatch_counts.get("tmp", 0) >= 1, report.format_table()


@pytest.mark.parametrize(("variant", "message"), [
    ("ieee", r"^ieee\.grib2: variable 'tmp': its GRIB2 packing cannot be decoded by gribberish \(.*\) -> repack it "
             r"\(grib_set -r -s packingType=grid_simple in\.grib2 out\.grib2\) or drop it: drop_variables=\['tmp'\]$"),
    ("edition1", r"^edition1\.grib: GRIB edition 1 \(gribberish reads GRIB2 only\) -> convert it to GRIB2"),
])
def test_refused_before_writing(variant: str, message: str, tmp_path: Path) -> None:
    if variant == "ieee":
        path = make_grib(tmp_path / "ieee.grib2", packing="grid_ieee")
    else:
        import eccodes

        path = tmp_path / "edition1.grib"
        h = eccodes.codes_grib_new_from_samples("GRIB1")
        with open(path, "wb") as fh:
            eccodes.codes_write(h, fh)
        eccodes.codes_release(h)
    [p] = parse_files([path])
    assert p.problem == "unsupported" and p.error is not None and re.search(message, p.error), p.error
    with pytest.raises(VirtualizeError, match="nothing written"):
        virtualize([path], tmp_path / "repo")


@pytest.mark.s3
def test_grib_on_s3(tmp_path: Path, s3_endpoint: str, s3_client, make_bucket) -> None:
    """Parsed (gribberish reads the object through obstore) and verified (eccodes on the fetched bytes) on moto S3."""
    from tests.plugins.servers import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access

    grib = make_grib(tmp_path / "remote.grib2", steps=(0, 6))
    bucket = make_bucket()
    s3_client.upload_file(str(grib), bucket, "grib/remote.grib2")
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    result = virtualize([f"s3://{bucket}/grib/remote.grib2"], tmp_path / "repo", access=access)
    report = verify(tmp_path / "repo", access=access)
    assert report.ok and result.nrefs == 2 and report.compared["tmp"] == 2, report.format_table()


@pytest.mark.s3
def test_grib_is_downloaded_once_per_virtualize(tmp_path: Path, s3_endpoint: str, s3_client, make_bucket,
                                                loopback_proxy) -> None:
    """A small GRIB file costs ONE request: the format probe's first block (1 MiB) is the whole file, and the
    refusal checks and gribberish's parser (which reads the whole file again) are served from it."""
    from tests.plugins.servers import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access

    grib = make_grib(tmp_path / "once.grib2", steps=(0, 6))
    bucket = make_bucket()
    s3_client.upload_file(str(grib), bucket, "grib/once.grib2")
    proxy = loopback_proxy(s3_endpoint)
    access = Access(endpoint=proxy.url, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    result = virtualize([f"s3://{bucket}/grib/once.grib2"], tmp_path / "repo", access=access)
    gets = [(r.method, r.range) for r in proxy.log if r.target.startswith(f"/{bucket}/grib/once.grib2")]
    # the format probe's block has it all; the HEAD is write's check that the source is unchanged before the commit
    assert result.nrefs == 2 and gets == [("GET", "bytes=0-1048575"), ("HEAD", None)], gets


def test_pressure_levels_become_a_dimension(tmp_path: Path) -> None:
    grib = make_grib(tmp_path / "t.grib2", fields=("t",), levels=((100, 850), (100, 500), (100, 700)), steps=(0, 6))
    [p] = parse_files([grib])
    assert p.ok and p.dataset["tmp"].dims == ("time", "isobar", "latitude", "longitude"), p.error
    repo = tmp_path / "repo"
    virtualize([grib], repo)
    report = verify(repo)
    assert report.ok and report.compared["tmp"] == 6 and report.compared["isobar"] == 1, report.format_table()
    np.testing.assert_array_equal(_read(repo, "isobar"), [50000.0, 70000.0, 85000.0])  # Pa, sorted
    np.testing.assert_allclose(_read(repo, "tmp")[1, 0], grib_values(6) + 5.0, atol=0.01)  # 6 h, 500 hPa


def test_fields_at_several_level_types_are_refused_with_the_groups(tmp_path: Path) -> None:
    grib = tmp_path / "mixed.grib2"
    with open(grib, "wb") as fh:
        for part in (make_grib(tmp_path / "a.grib2", fields=("2t",)), make_grib(tmp_path / "b.grib2", fields=("t",),
                                                                                  levels=((100, 850), (100, 500)))):
            fh.write(part.read_bytes())
    [p] = parse_files([grib])
    assert p.error == ("mixed.grib2: fields in 2 groups (hag/instant, isobar/instant) -> virtualize them as one tree: "
                       "group=['hag/instant', 'isobar/instant'], or one group per repository: group='hag/instant', or "
                       "split the file by level type (grib_copy -w typeOfFirstFixedSurface=103 in.grib2 out.grib2)")
    from vzskill.format_grib import level_groups

    assert level_groups(grib) == ["hag/instant", "isobar/instant"]
    for group, dims in (("hag/instant", 3), ("isobar/instant", 4)):  # the fix: one repository per group
        [node] = parse_files([grib], group=group)
        assert node.ok and node.dataset["tmp"].ndim == dims
        repo = tmp_path / f"{group.replace('/', '-')}.icechunk"
        virtualize([grib], repo, group=group)
        report = verify(repo)
        assert report.ok and report.compared["tmp"] == (3 if dims == 3 else 6), report.format_table()


def _sample(name: str, dest: Path) -> Path:
    import eccodes

    h = eccodes.codes_grib_new_from_samples(name)
    path = dest / f"{name}.grib2"
    with open(path, "wb") as fh:
        eccodes.codes_write(h, fh)
    eccodes.codes_release(h)
    return path


@pytest.mark.parametrize("name", [
    "regular_ll_sfc_grib2", "regular_ll_pl_grib2", "ccsds_grib2", "polar_stereographic_sfc_grib2",
    "polar_stereographic_pl_grib2",  # scanned -y: eccodes 2.50's own lat/lon are wrong here, grid_latlon is compared
])
def test_eccodes_samples(name: str, tmp_path: Path) -> None:
    """eccodes' own GRIB2 samples (other writers' files): virtualized and verified."""
    path = _sample(name, tmp_path)
    virtualize([path], tmp_path / "repo")
    report = verify(tmp_path / "repo")
    assert report.ok, report.format_table()


@pytest.mark.parametrize(("name", "grid"), [
    ("regular_gg_sfc_grib2", "a Gaussian grid (template 3.40)"),
    ("reduced_gg_pl_grib2", "a Gaussian grid (template 3.40)"),
    ("sh_sfc_grib2", "spherical harmonics (template 3.50)"),
    ("reduced_ll_sfc_grib2", "a quasi-regular (reduced) latitude/longitude grid"),  # gribberish would need ~2**32 points a row
])
def test_grids_gribberish_cannot_read_are_refused(name: str, grid: str, tmp_path: Path) -> None:
    [p] = parse_files([_sample(name, tmp_path)])
    assert p.error == (f"{name}.grib2: {grid}, which gribberish cannot read -> regrid it to a regular latitude/longitude "
                       "grid (e.g. cdo remapbil,r360x180 in.grib2 out.grib2) or skip the file")


def _projected(dest: Path, template: int, mode: int) -> Path:
    """One message on a polar stereographic (eccodes' sample) or Lambert grid, scanned in ``mode``."""
    import eccodes

    h = eccodes.codes_grib_new_from_samples("polar_stereographic_pl_grib2" if template == 20 else "GRIB2")
    if template == 30:
        eccodes.codes_set(h, "gridDefinitionTemplateNumber", 30)
        for key, value in {"Nx": 12, "Ny": 10, "latitudeOfFirstGridPointInDegrees": 40.0,
                           "longitudeOfFirstGridPointInDegrees": 250.0, "LaDInDegrees": 33.0, "LoVInDegrees": 255.0,
                           "Latin1InDegrees": 33.0, "Latin2InDegrees": 45.0, "DxInMetres": 20000,
                           "DyInMetres": 20000, "shapeOfTheEarth": 6}.items():
            eccodes.codes_set(h, key, value)
        eccodes.codes_set_values(h, np.linspace(250.0, 300.0, 120))
    eccodes.codes_set(h, "scanningMode", mode)
    path = dest / f"grid{template}-{mode}.grib2"
    with open(path, "wb") as fh:
        eccodes.codes_write(h, fh)
    eccodes.codes_release(h)
    return path


@pytest.mark.parametrize(("template", "mode"), [(20, 0), (20, 128), (20, 192), (30, 0), (30, 64)])
def test_projected_grids_in_every_scanning_direction(template: int, mode: int, tmp_path: Path) -> None:
    """The repository's lat/lon (gribberish) are compared with grid_latlon's own projection, right for every
    scanning mode (eccodes 2.50 walks +i, +j whatever the mode: 1-5 degrees off on these grids)."""
    path = _projected(tmp_path, template, mode)
    virtualize([path], tmp_path / "repo")
    report = verify(tmp_path / "repo")
    assert report.ok and report.compared["latitude"] == report.compared["longitude"] == 1, report.format_table()
    assert report.compared["x"] == report.compared["y"] == 1  # x/y: grid_xy's own projection vs gribberish's


@pytest.mark.parametrize("template", [20, 30])
def test_grid_latlon_is_eccodes_where_eccodes_scans_right(template: int, tmp_path: Path) -> None:
    """Scanned +i, +j (mode 64) eccodes' grid is right: the independent computation equals it; scanned -y it is not."""
    import eccodes

    from vzskill.readers_grib_grid import eccodes_scans_right, grid_latlon

    for mode, same in ((64, True), (0, False)):
        data = _projected(tmp_path, template, mode).read_bytes()
        h = eccodes.codes_new_from_message(data)
        shape = (eccodes.codes_get(h, "Nj"), eccodes.codes_get(h, "Ni"))
        lat, lon = (np.asarray(eccodes.codes_get_array(h, k)).reshape(shape) for k in ("latitudes", "longitudes"))
        eccodes.codes_release(h)
        own = grid_latlon(data)
        assert own is not None and eccodes_scans_right(data) is same
        assert np.allclose(own[0], lat, rtol=0, atol=1e-10) is same
        assert np.allclose(own[1], np.mod(lon, 360.0), rtol=0, atol=1e-10) or not same


def test_every_level_type_is_a_group_of_one_repository(tmp_path: Path) -> None:
    """virtualize(group=[...]) writes each level type at its group path in ONE commit: open_datatree sees both,
    verify compares every group's arrays with eccodes."""
    import icechunk
    import xarray as xr

    from vzskill.containers import open_repo
    from vzskill.format_grib import level_groups

    grib = tmp_path / "mixed.grib2"
    grib.write_bytes(make_grib(tmp_path / "a.grib2", fields=("2t",)).read_bytes()
                     + make_grib(tmp_path / "b.grib2", fields=("t",), levels=((100, 850), (100, 500))).read_bytes())
    repo = tmp_path / "tree.icechunk"
    result = virtualize([grib], repo, group=level_groups(grib))
    storage = icechunk.local_filesystem_storage(str(repo))
    r = open_repo(storage, None)
    assert len(list(r.ancestry(branch="main"))) == 2  # the repository's first snapshot + ONE commit
    tree = xr.open_datatree(r.readonly_session("main").store, engine="zarr", consolidated=False)
    assert tree["hag/instant"]["tmp"].dims == ("time", "latitude", "longitude")
    assert tree["isobar/instant"]["tmp"].dims == ("time", "isobar", "latitude", "longitude")
    np.testing.assert_allclose(tree["isobar/instant"]["tmp"].values[1, 0], grib_values(6) + 5.0, atol=0.01)
    report = verify(repo)
    assert report.ok and report.compared["hag/instant/tmp"] == 3 and report.compared["isobar/instant/tmp"] == 6, \
        report.format_table()
    assert result.nrefs == 9
