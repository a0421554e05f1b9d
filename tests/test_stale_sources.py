"""A source changed or removed after its references were written: the read must fail, loudly.

Refs are written with ``to_icechunk(store, last_updated_at=datetime.now(timezone.utc))``; icechunk
then refuses to serve a chunk whose object is newer (``If-Unmodified-Since`` on S3/HTTP, the mtime
on local disk). Deleted sources fail with not-found. ``vzskill.verify`` reports both as stale.

The check has a resolution of one second, so an overwrite must land in a later second than
``last_updated_at`` (the S3 tests wait for the next second boundary; local files get an explicit
mtime).
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import icechunk
import pytest
import xarray as xr
from virtualizarr import open_virtual_dataset
from virtualizarr.parsers import HDFParser

import vzskill
from tests.plugins import servers
from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET
from tests.plugins.servers import assert_same_values, local_series, repo_storage
from vzskill.registry import build_registry

pytestmark = pytest.mark.timeout(60)

try:
    from vzskill import verify
except ImportError:  # the verify module is optional for these tests
    verify = None


def write_refs(storage, urls: list[str], access=None) -> None:
    """Virtualize ``urls`` (concat on time) with an explicit last_updated_at and commit."""
    registry = build_registry(urls, access)
    parts = [open_virtual_dataset(u, registry=registry, parser=HDFParser()) for u in urls]
    vds = xr.concat(parts, dim="time", coords="minimal", compat="override", combine_attrs="override")
    session = vzskill.create_repo(storage, urls, access).writable_session("main")
    vds.vz.to_icechunk(session.store, last_updated_at=datetime.now(timezone.utc))
    session.commit("refs")


def read(storage, access=None) -> xr.Dataset:
    repo = vzskill.open_repo(storage, access)
    return xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3).load()


def next_second() -> None:
    """Sleep until just after the next whole second (HTTP dates have 1 s resolution)."""
    time.sleep(1.05 - (time.time() % 1.0))


def assert_verify_reports(storage, access, url: str, reason: str) -> None:
    if verify is None:
        return
    report = verify(storage, access=access)
    assert not report.ok and report.exit_code == 1
    stale = {s.file: s.reason for s in report.stale}
    assert stale.get(url) == reason, report.format_table()
    assert reason.upper() in report.format_table()


# --------------------------------------------------------------------------- local files


@pytest.fixture()
def local_copy(tmp_path, series_files) -> list[Path]:
    """Copies of two series files with an archival mtime (one hour ago).

    A local file whose mtime falls in the same second as ``last_updated_at`` is already reported
    as changed (see test_local_source_written_in_the_same_second), so fresh copies get an old mtime.
    """
    src = tmp_path / "src"
    src.mkdir()
    copies = [Path(shutil.copy(p, src / p.name)) for p in series_files[:2]]
    old = time.time() - 3600
    for p in copies:
        os.utime(p, (old, old))
    return copies


def test_local_source_modified(tmp_path, local_copy, series_files):
    urls = [p.as_uri() for p in local_copy]
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    write_refs(storage, urls)
    assert_same_values(read(storage), local_series(series_files[:2]))  # fresh refs read fine
    if verify is not None:
        assert verify(storage).ok
    # the archive is regenerated in place (same name, different content)
    local_copy[0].write_bytes(series_files[2].read_bytes())
    later = time.time() + 5
    os.utime(local_copy[0], (later, later))
    with pytest.raises(
        icechunk.StorageError,
        match=f"the checksum of the object owning the virtual chunk has changed \\({urls[0]}\\)",
    ):
        read(storage)
    assert_verify_reports(storage, None, urls[0], "modified")


def test_local_source_written_in_the_same_second(tmp_path, local_copy):
    """Local files: last_updated_at is compared at whole-second resolution, so a file modified
    earlier *within the same second* counts as changed. virtualizarr's default (write time + 1 s)
    avoids it; an explicit last_updated_at must be at least the next second after the last change."""
    whole = int(time.time()) - 60
    os.utime(local_copy[0], (whole + 0.5, whole + 0.5))  # mtime x.5
    urls = [local_copy[0].as_uri()]
    registry = build_registry(urls)
    vds = open_virtual_dataset(urls[0], registry=registry, parser=HDFParser())

    def write(storage, seconds_after: float) -> None:
        session = vzskill.create_repo(storage, urls).writable_session("main")
        stamp = datetime.fromtimestamp(whole + 0.5 + seconds_after, timezone.utc)
        vds.vz.to_icechunk(session.store, last_updated_at=stamp)
        session.commit("refs")

    same_second = icechunk.local_filesystem_storage(str(tmp_path / "same"))
    write(same_second, 0.2)  # x.7: same second as the mtime
    with pytest.raises(icechunk.StorageError, match="the checksum of the object owning the virtual chunk has changed"):
        read(same_second)
    next_one = icechunk.local_filesystem_storage(str(tmp_path / "next"))
    write(next_one, 0.6)  # (x+1).1
    assert read(next_one).sizes["time"] == 4


def test_local_source_deleted(tmp_path, local_copy):
    urls = [p.as_uri() for p in local_copy]
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    write_refs(storage, urls)
    local_copy[1].unlink()
    with pytest.raises(
        icechunk.StorageError,
        match=(
            rf"error fetching virtual reference: Object at location {local_copy[1]} not found: "
            r"No such file or directory \(os error 2\)"
        ),
    ):
        read(storage)
    assert_verify_reports(storage, None, urls[1], "missing")


# --------------------------------------------------------------------------- S3 objects


@pytest.fixture()
def s3_sources(s3_endpoint, s3_client, make_bucket, series_files):
    """A fresh bucket with two series files (this test may overwrite / delete them)."""
    bucket = make_bucket("vz-stale")
    for p in series_files[:2]:
        s3_client.upload_file(str(p), bucket, f"series/{p.name}")
    access = vzskill.Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    urls = [f"s3://{bucket}/series/{p.name}" for p in series_files[:2]]
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/stale")
    return bucket, urls, access, storage


@pytest.mark.s3
def test_s3_source_overwritten(s3_client, s3_sources, series_files):
    bucket, urls, access, storage = s3_sources
    write_refs(storage, urls, access)
    assert_same_values(read(storage, access), local_series(series_files[:2]))
    next_second()
    s3_client.upload_file(str(series_files[2]), bucket, f"series/{series_files[0].name}")  # overwrite
    with pytest.raises(
        icechunk.StorageError,
        match=f"the checksum of the object owning the virtual chunk has changed \\({urls[0]}\\)",
    ):
        read(storage, access)
    assert_verify_reports(storage, access, urls[0], "modified")


@pytest.mark.s3
def test_s3_source_deleted(s3_client, s3_sources):
    bucket, urls, access, storage = s3_sources
    write_refs(storage, urls, access)
    s3_client.delete_object(Bucket=bucket, Key=f"series/{Path(urls[1]).name}")
    with pytest.raises(
        icechunk.StorageError,
        match="error fetching virtual reference: service error: NoSuchKey: The specified key does not exist.",
    ):
        read(storage, access)
    assert_verify_reports(storage, access, urls[1], "missing")


@pytest.mark.s3
def test_s3_source_overwritten_default_last_updated_at(s3_client, s3_sources, series_files):
    """Without an explicit last_updated_at, virtualizarr uses write time + 1 s: a later overwrite is caught too."""
    bucket, urls, access, storage = s3_sources
    registry = build_registry(urls, access)
    vds = open_virtual_dataset(urls[0], registry=registry, parser=HDFParser())
    session = vzskill.create_repo(storage, urls[:1], access).writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("refs, default last_updated_at")
    time.sleep(1.0)
    next_second()
    s3_client.upload_file(str(series_files[2]), bucket, f"series/{series_files[0].name}")
    with pytest.raises(icechunk.StorageError, match="the checksum of the object owning the virtual chunk has changed"):
        read(storage, access)


# --------------------------------------------------------------------------- HTTP (nginx sends Last-Modified)


@pytest.mark.http
def test_http_source_modified(tmp_path, series_files):
    binary = servers.nginx_binary()
    if binary is None:
        pytest.skip("nginx not installed (apt-get install -y --no-install-recommends nginx-light)")
    root = tmp_path / "www"
    (root / "series").mkdir(parents=True)
    for p in series_files[:2]:
        shutil.copy(p, root / "series" / p.name)
    nginx_tmp = tmp_path / "nginx"
    nginx_tmp.mkdir()
    proc, port = servers._start_nginx(binary, root, nginx_tmp)
    try:
        base = f"http://127.0.0.1:{port}"
        urls = [f"{base}/series/{p.name}" for p in series_files[:2]]
        storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
        write_refs(storage, urls)
        assert_same_values(read(storage), local_series(series_files[:2]))
        target = root / "series" / series_files[0].name
        target.write_bytes(series_files[2].read_bytes())
        later = time.time() + 5
        os.utime(target, (later, later))
        with pytest.raises(
            icechunk.StorageError,
            match=f"the checksum of the object owning the virtual chunk has changed \\({urls[0]}\\)",
        ):
            read(storage)
    finally:
        proc.terminate()
        proc.wait(10)
