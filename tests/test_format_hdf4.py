"""HDF4 sources (VirtualiZarr's HDF4Parser, pyhdf as the direct reader): DEFLATE SDS end to end,
the float byte order kerchunk gets wrong (corrected), and the variants refused before writing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from vzskill.format_fixtures import hdf4_values, make_hdf4
from vzskill.format_hdf4 import sds_layout
from vzskill.formats import detect_kind
from vzskill.outcome import VirtualizeError
from vzskill.parse import parse_files
from vzskill import verify
from vzskill.write import virtualize

pytestmark = pytest.mark.timeout(120)


def test_hdf4_end_to_end(tmp_path: Path) -> None:
    import icechunk
    import zarr

    hdf = make_hdf4(tmp_path / "granule.hdf")
    assert detect_kind(str(hdf)) == "hdf4"
    [p] = parse_files([hdf])
    assert p.ok, p.error
    assert sorted(p.dataset.data_vars) == ["counts", "reflectance"]
    repo = tmp_path / "repo"
    virtualize([hdf], repo)
    report = verify(repo)
    assert report.ok and report.compared == {"counts": 1, "reflectance": 1}, report.format_table()
    assert not report.warnings, report.warnings
    session = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)),
                                       authorize_virtual_chunk_access={f"file://{tmp_path}/": icechunk.credentials.LocalFileSystemAccess}).readonly_session("main")
    for name in ("counts", "reflectance"):  # float32 reads back right (kerchunk says little-endian: corrected)
        np.testing.assert_array_equal(zarr.open_array(session.store, path=name, mode="r")[...], hdf4_values(name))


def test_numeric_units_give_no_warning(tmp_path: Path) -> None:
    hdf = make_hdf4(tmp_path / "u.hdf", names=("counts",), units="1")
    virtualize([hdf], tmp_path / "repo")
    report = verify(tmp_path / "repo")
    assert report.ok and not report.warnings, report.warnings


def test_layout_is_read_from_the_dd_blocks(tmp_path: Path) -> None:
    """vzskill's own DD reader agrees with kerchunk's references (two independent readings)."""
    hdf = make_hdf4(tmp_path / "g.hdf")
    [p] = parse_files([hdf])
    layout = sds_layout(hdf.read_bytes())
    assert {comp for _, comp in layout.values()} == {"DEFLATE"}
    starts = sorted(start for start, _ in layout.values())
    refs = sorted(int(e["offset"]) for v in p.dataset.data_vars.values() for e in v.data.manifest.dict().values())
    assert starts == refs


def test_verify_catches_a_reference_to_the_other_sds(tmp_path: Path) -> None:
    """The DD reader really places references: 'albedo' pointed at reflectance's block is a mismatch."""
    import icechunk

    hdf = make_hdf4(tmp_path / "g.hdf", names=("reflectance", "albedo"))  # both float32 20 x 30
    repo = tmp_path / "repo"
    virtualize([hdf], repo)
    [p] = parse_files([hdf])
    [entry] = p.dataset["reflectance"].data.manifest.dict().values()
    r = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)),
                                 authorize_virtual_chunk_access={f"file://{tmp_path}/": icechunk.credentials.LocalFileSystemAccess})
    session = r.writable_session("main")
    session.store.set_virtual_ref("albedo/c/0/0", f"file://{hdf}", offset=int(entry["offset"]), length=int(entry["length"]))
    session.commit("point albedo at reflectance's bytes")
    report = verify(repo)
    assert not report.ok and report.mismatch_counts == {"albedo": 1}, report.format_table()


@pytest.mark.parametrize("compression", ["deflate", None])
def test_chunked_sds_end_to_end(compression: str | None, tmp_path: Path) -> None:
    """Chunked SDS (written by the HDF4 library: pyhdf has no SDsetchunk), 8 x 12 chunks over 20 x 30 (edge
    chunks padded by HDF4): one reference per chunk, placed by vzskill's own chunk-table reader; raw chunks
    lose the zlib codec kerchunk declares for every chunked SDS."""
    import icechunk
    import zarr

    from vzskill.format_hdf4 import chunk_table

    hdf = make_hdf4(tmp_path / "chunked.hdf", chunks=(8, 12), compression=compression)
    [p] = parse_files([hdf])
    assert p.ok, p.error
    codecs = [type(c).__name__ for c in p.dataset["counts"].data.metadata.codecs]
    assert codecs == (["BytesCodec", "Zlib"] if compression else ["BytesCodec"]), codecs
    tables = [chunk_table(hdf.read_bytes(), ref) for ref in sds_layout(hdf.read_bytes())]
    assert all(t is not None and t[0] == (8, 12) and len(t[1]) == 9 for t in tables)
    repo = tmp_path / "repo"
    assert virtualize([hdf], repo).nrefs == 18
    report = verify(repo)
    assert report.ok and report.compared == {"counts": 9, "reflectance": 9}, report.format_table()
    session = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)), authorize_virtual_chunk_access={
        f"file://{tmp_path}/": icechunk.credentials.LocalFileSystemAccess}).readonly_session("main")
    for name in ("counts", "reflectance"):
        np.testing.assert_array_equal(zarr.open_array(session.store, path=name, mode="r")[...], hdf4_values(name))


def test_verify_places_chunks_by_the_chunk_table(tmp_path: Path) -> None:
    """Two chunks of a chunked SDS swapped in the repository: the chunk table puts them back, a mismatch."""
    import icechunk

    hdf = make_hdf4(tmp_path / "c.hdf", names=("reflectance",), chunks=(10, 15))
    repo = tmp_path / "repo"
    virtualize([hdf], repo)
    [p] = parse_files([hdf])
    entries = p.dataset["reflectance"].data.manifest.dict()
    r = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)), authorize_virtual_chunk_access={
        f"file://{tmp_path}/": icechunk.credentials.LocalFileSystemAccess})
    session = r.writable_session("main")
    for key, other in (("0.0", "1.1"), ("1.1", "0.0")):
        e = entries[other]
        session.store.set_virtual_ref(f"reflectance/c/{key.replace('.', '/')}", e["path"], offset=int(e["offset"]),
                                      length=int(e["length"]))
    session.commit("swap two chunks")
    report = verify(repo)
    assert not report.ok and report.mismatch_counts.get("reflectance", 0) == 2, report.format_table()


@pytest.mark.parametrize(("options", "message"), [
    ({"compression": None}, r"^v\.hdf: 2 uncompressed SDS \(VirtualiZarr's HDF4Parser reads compressed SDS only\) -> "
                            r"recompress it \(hrepack -t '\*:GZIP 4' in\.hdf out\.hdf\)"),
    ({"compression": "rle"}, r"^v\.hdf: variable 'counts': RLE-compressed \(VirtualiZarr's HDF4Parser decodes DEFLATE "
                             r"only\) -> drop it \(drop_variables=\['counts'\]\)"),
    ({"shape": (2, 20, 30)}, r"^v\.hdf: an SDS of more than 2 dimensions \(VirtualiZarr's HDF4Parser names two dims\) "
                             r"-> skip the file"),
])
def test_refused_before_writing(options: dict, message: str, tmp_path: Path) -> None:
    hdf = make_hdf4(tmp_path / "v.hdf", **options)
    [p] = parse_files([hdf])
    assert p.problem == "unsupported" and p.error is not None and re.search(message, p.error), p.error
    with pytest.raises(VirtualizeError, match="nothing written"):
        virtualize([hdf], tmp_path / "repo")


def test_rle_variable_dropped_leaves_the_rest(tmp_path: Path) -> None:
    """The refusal's fix works: with the RLE SDS dropped the file virtualizes and verifies."""
    from pyhdf.SD import SD, SDC

    hdf = make_hdf4(tmp_path / "mixed.hdf", names=("reflectance",))
    f = SD(str(hdf), SDC.WRITE)
    sds = f.create("counts", SDC.INT16, (20, 30))
    sds.setcompress(SDC.COMP_RLE)
    sds[:] = hdf4_values("counts")
    sds.endaccess()
    f.end()
    [p] = parse_files([hdf])
    assert p.error is not None and "drop_variables=['counts']" in p.error
    virtualize([hdf], tmp_path / "repo", drop_variables=["counts"])
    report = verify(tmp_path / "repo")
    assert report.ok and report.compared == {"reflectance": 1}, report.format_table()


@pytest.mark.s3
def test_hdf4_on_s3(tmp_path: Path, s3_endpoint: str, s3_client, make_bucket) -> None:
    from tests.plugins.servers import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access

    hdf = make_hdf4(tmp_path / "remote.hdf")
    bucket = make_bucket()
    s3_client.upload_file(str(hdf), bucket, "hdf4/remote.hdf")
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    url = f"s3://{bucket}/hdf4/remote.hdf"
    [p] = parse_files([url], access=access)
    assert p.ok, p.error  # decoded from the bytes read through obstore (never kerchunk's own fsspec access)
    assert {e["path"] for e in p.dataset["counts"].data.manifest.dict().values()} == {url}
    virtualize([url], tmp_path / "repo", access=access)
    report = verify(tmp_path / "repo", access=access)
    assert report.ok and report.compared == {"counts": 1, "reflectance": 1}, report.format_table()
