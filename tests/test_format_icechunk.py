"""Icechunk repositories as sources (IcechunkParser): native chunks become references to the source
repository's chunk objects, inlined chunks are copied; verify reads the source repository back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vzskill.format_fixtures import make_icechunk_source
from vzskill.formats import detect_kind
from vzskill.parse import parse_files
from vzskill import verify
from vzskill.write import virtualize

pytestmark = pytest.mark.timeout(120)


def _values(repo: Path, name: str) -> np.ndarray:
    import icechunk
    import zarr

    from vzskill.containers import open_repo

    session = open_repo(icechunk.local_filesystem_storage(str(repo)), None).readonly_session("main")
    return np.asarray(zarr.open_array(session.store, path=name, mode="r")[...])


def test_native_chunks_become_references(tmp_path: Path) -> None:
    source = make_icechunk_source(tmp_path / "source.icechunk")
    assert detect_kind(str(source)) == "icechunk"
    [p] = parse_files([source])
    assert p.ok, p.error
    paths = {e["path"] for e in p.dataset["t"].data.manifest.dict().values()}
    assert len(paths) == 4 and all(u.startswith(f"{source.as_uri()}/chunks/") for u in paths)
    repo = tmp_path / "copy.icechunk"
    result = virtualize([source], repo)
    assert result.nrefs == 4
    report = verify(repo)
    assert report.ok and report.compared == {"t": 4}, report.format_table()
    np.testing.assert_array_equal(_values(repo, "t"), _values(source, "t"))


def test_inlined_chunks_are_copied_and_compared_with_the_source(tmp_path: Path) -> None:
    source = make_icechunk_source(tmp_path / "small.icechunk", native=False)
    repo = tmp_path / "copy.icechunk"
    result = virtualize([source], repo)
    assert result.nrefs == 0
    assert not verify(repo).ok  # nothing virtual: verify needs the source named
    report = verify(repo, [source])
    assert report.ok and report.compared == {"t": 4}, report.format_table()


def test_swapped_chunk_references_are_caught(tmp_path: Path) -> None:
    import icechunk

    from vzskill.containers import open_repo

    source = make_icechunk_source(tmp_path / "source.icechunk")
    repo = tmp_path / "copy.icechunk"
    virtualize([source], repo)
    [p] = parse_files([source])
    entries = p.dataset["t"].data.manifest.dict()
    first, second = entries["0.0.0"], entries["1.0.0"]
    session = open_repo(icechunk.local_filesystem_storage(str(repo)), None).writable_session("main")
    session.store.set_virtual_ref("t/c/0/0/0", second["path"], offset=0, length=int(second["length"]))
    session.store.set_virtual_ref("t/c/1/0/0", first["path"], offset=0, length=int(first["length"]))
    session.commit("swap two chunks")
    report = verify(repo)
    assert not report.ok and report.mismatch_counts.get("t", 0) >= 1, report.format_table()


def test_a_folder_named_icechunk_without_a_repository_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty.icechunk").mkdir()
    [p] = parse_files([tmp_path / "empty.icechunk"])
    assert p.error == ("empty.icechunk: no Icechunk repository here (no 'repo' object) -> pass the repository's "
                       "folder/prefix (the one holding 'repo' and 'snapshots/'), or check the URL"), p.error



@pytest.mark.s3
def test_an_icechunk_repository_on_s3_is_a_source(tmp_path: Path, s3_endpoint: str, s3_client, make_bucket) -> None:
    """A repository in a bucket (a prefix, not an object) is detected and parsed through the caller's access;
    verify opens it with the same access and places every native chunk by its id."""
    from tests.plugins.servers import TEST_KEY_ID, TEST_SECRET
    from vzskill.sources import Access

    source = make_icechunk_source(tmp_path / "source.icechunk")
    bucket = make_bucket()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        s3_client.upload_file(str(path), bucket, f"repos/source.icechunk/{path.relative_to(source).as_posix()}")
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    url = f"s3://{bucket}/repos/source.icechunk"
    assert detect_kind(url, access=access) == "icechunk"
    result = virtualize([url], tmp_path / "copy.icechunk", access=access)
    assert result.nrefs == 4
    report = verify(tmp_path / "copy.icechunk", access=access)
    assert report.ok and report.compared == {"t": 4}, report.format_table()
    np.testing.assert_array_equal(_values(tmp_path / "copy.icechunk", "t"), _values(source, "t"))
