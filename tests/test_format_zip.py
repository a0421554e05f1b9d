"""Zipped Zarr stores: detected by name or by the zip signature, virtualized and verified; compressed
members and zip archives without a Zarr store refused with the fix."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from vzskill.format_fixtures import make_zipped_zarr
from vzskill.formats import detect_kind
from vzskill.outcome import VirtualizeError
from vzskill.parse import parse_files
from vzskill import verify
from vzskill.write import virtualize

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("name", ["cube.zarr.zip", "cube.zip"])
def test_zipped_zarr_end_to_end(name: str, tmp_path: Path) -> None:
    import icechunk
    import zarr

    path = make_zipped_zarr(tmp_path / name)
    assert detect_kind(str(path)) == "zarr-zip"  # by the name, or by the zip signature
    repo = tmp_path / "repo"
    result = virtualize([path], repo)
    assert result.nrefs == 16
    report = verify(repo)
    assert report.ok and report.compared["temperature"] == 16, report.format_table()
    session = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo)),
                                       authorize_virtual_chunk_access={f"file://{tmp_path}/": icechunk.credentials.LocalFileSystemAccess}).readonly_session("main")
    values = zarr.open_array(session.store, path="temperature", mode="r")[...]
    np.testing.assert_array_equal(values, np.arange(2400, dtype="float32").reshape(4, 20, 30) / 10)


def test_compressed_members_refused(tmp_path: Path) -> None:
    path = make_zipped_zarr(tmp_path / "deflated.zarr.zip", deflate=True)
    [p] = parse_files([path])
    assert p.problem == "unsupported"
    assert p.error is not None and p.error.startswith("deflated.zarr.zip: ") and "zip members are compressed" in p.error
    assert p.error.endswith("-> recreate it with uncompressed members (cd store.zarr && zip -0 -r ../store.zarr.zip .) "
                            "and virtualize that")
    with pytest.raises(VirtualizeError, match="nothing written"):
        virtualize([path], tmp_path / "repo")


def test_zip_without_zarr_refused(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "not a zarr store")
    [p] = parse_files([path])
    assert p.error == "bundle.zip: a zip archive without a Zarr store at its root -> unzip it and virtualize the files inside"
