"""vzskill.repo: one way from a location (path, URL, Storage, Repository) to an authorized repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import icechunk
import numpy as np
import pytest
import xarray as xr

from vzskill.containers import declared_prefixes
from vzskill.repo import (
    RepositoryNotFound,
    create_location,
    open_location,
    prepare_location,
    storage_for,
    to_storage,
)
from vzskill.sources import Access, SourceError
from vzskill.write import virtualize


def _read(repo: icechunk.Repository) -> xr.Dataset:
    return xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3, chunks=None)


def test_missing_repository_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFound, match=r"^no icechunk repository at .*nothing -> check --repo \(write one with `vzskill virtualize`\)$"):
        open_location(tmp_path / "nothing")
    assert issubclass(RepositoryNotFound, SourceError)
    assert not (tmp_path / "nothing").exists()  # opening creates nothing


def test_every_location_kind_opens_the_same_repository(tmp_path: Path, series_files: list[Path]) -> None:
    src = [Path(shutil.copy(f, tmp_path / f.name)) for f in series_files[:2]]
    virtualize(src, tmp_path / "repo")
    storage = storage_for(tmp_path / "repo")
    tips = set()
    for location in (tmp_path / "repo", str(tmp_path / "repo"), (tmp_path / "repo").as_uri(), storage):
        repo = open_location(location)
        assert set(repo.authorized_virtual_container_prefixes) == {tmp_path.as_uri() + "/"}
        tips.add(repo.lookup_branch("main"))
        direct = xr.open_dataset(src[0], engine="h5netcdf")
        np.testing.assert_array_equal(_read(repo)["temperature"].isel(time=slice(0, 4)).values, direct["temperature"].values)
    assert len(tips) == 1
    repo = open_location(storage)
    assert open_location(repo) is repo  # a Repository is used as it is
    assert isinstance(to_storage(repo), icechunk.Storage)


def test_create_then_prepare_adds_only_missing_containers(tmp_path: Path) -> None:
    a, b = (tmp_path / "a").as_uri() + "/", (tmp_path / "b").as_uri() + "/"
    repo = create_location(tmp_path / "repo", [a])
    assert declared_prefixes(repo.storage) == [a]
    with pytest.raises(SourceError, match="a repository already exists at"):
        create_location(tmp_path / "repo", [a])
    again = prepare_location(tmp_path / "repo", [a + "sub/"])  # covered by a: nothing added
    assert declared_prefixes(again.storage) == [a]
    both = prepare_location(tmp_path / "repo", [a, b])
    assert declared_prefixes(both.storage) == sorted([a, b])
    assert set(both.authorized_virtual_container_prefixes) == {a, b}
    reopened = open_location(tmp_path / "repo")
    assert set(reopened.authorized_virtual_container_prefixes) == {a, b}  # persisted


def test_prepare_a_repository_object_without_containers(tmp_path: Path) -> None:
    bare = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "repo")))
    prefix = (tmp_path / "data").as_uri() + "/"
    prepared = prepare_location(bare, [prefix])
    assert declared_prefixes(prepared.storage) == [prefix]
    assert prefix in prepared.authorized_virtual_container_prefixes


def test_unsupported_location_types(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unsupported repository location of type int"):
        to_storage(3)  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="unsupported repository location"):
        open_location("ftp://h/repo")


def test_anonymous_sources_never_make_the_repository_storage_anonymous() -> None:
    """--anonymous is about the sources: the repository bucket is written with credentials."""
    storage = to_storage("s3://bucket/repo", Access(anonymous=False, endpoint="http://127.0.0.1:1", region="us-east-1"))
    assert isinstance(storage, icechunk.Storage)
    from vzskill.repo import storage_access

    assert storage_access(Access(anonymous=True)).anonymous is False
    assert storage_access(Access(endpoint="http://x:1")).endpoint == "http://x:1"


def _stopped_endpoint() -> str:
    """The URL of an S3 endpoint whose server is stopped (a free loopback port: connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_unreachable_storage_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped S3 server: open / create / prepare fail within seconds (icechunk's default retries: ~45 s)."""
    import time

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    access = Access(endpoint=_stopped_endpoint(), region="us-east-1", access_key_id="testing", secret_access_key="testing")
    calls = {"open": lambda: open_location("s3://bucket/repo", access),
             "create": lambda: create_location("s3://bucket/repo", ["s3://data/series/"], access),
             "prepare": lambda: prepare_location("s3://bucket/repo", ["s3://data/series/"], access)}
    for name, call in calls.items():
        start = time.monotonic()
        with pytest.raises(icechunk.IcechunkError) as info:
            call()
        elapsed = time.monotonic() - start
        assert info.value.kind == icechunk.ErrorKind.OBJECT_STORE, (name, info.value)
        assert "Connection refused" in str(info.value), (name, info.value)
        assert elapsed < 12, f"{name}: {elapsed:.1f} s"  # default retries: 10 tries, ~45 s
    # the opened repository keeps icechunk's retries (the probe settings are for the first request only)
    repo = create_location(tmp_path / "r", [(tmp_path / "d").as_uri() + "/"])
    settings = repo.config.storage
    assert settings is None or settings.retries is None or settings.retries.max_tries != 4


def test_locations_are_described_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, series_files: list[Path]) -> None:
    """WriteResult.repo (the CLI JSON 'repo') names the repository from anywhere: the absolute path, URLs as written."""
    from vzskill.repo import describe

    monkeypatch.chdir(tmp_path)
    result = virtualize(series_files[:1], "rel-repo")
    assert result.repo == str(tmp_path / "rel-repo")
    assert describe("s3://bucket/repo") == "s3://bucket/repo" and describe(icechunk.in_memory_storage()) is None
    with pytest.raises(RepositoryNotFound, match=f"^no icechunk repository at {tmp_path / 'nothing'} -> "):
        open_location("nothing")
