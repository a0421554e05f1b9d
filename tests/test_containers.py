"""vzskill.containers: containers + authorization from the same prefixes; real local icechunk repos.

Round trips write with VirtualiZarr's own ``to_icechunk`` (not vzskill.write), so these tests pin the
containers module alone. DeprecationWarnings are errors here: icechunk 2.x deprecates ``None`` as an
authorization value, and vzskill must never pass it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import icechunk
import numpy as np
import pytest
import xarray as xr
from icechunk.credentials import HttpAccess, LocalFileSystemAccess

from vzskill.containers import (
    add_containers,
    authorizations,
    container_store,
    containers_for,
    create_repo,
    credential_for,
    declared_prefixes,
    open_repo,
    repository_config,
    source_prefixes,
)
from vzskill.registry import build_registry
from vzskill.sources import Access, SourceError, parse_source

pytestmark = pytest.mark.filterwarnings("error::DeprecationWarning")


def _write(repo: icechunk.Repository, files: list[Path], group: str | None = None, message: str = "write") -> str:
    """Virtualize ``files`` (concat along time) straight with VirtualiZarr and commit."""
    from virtualizarr import open_virtual_dataset
    from virtualizarr.parsers import HDFParser

    urls = [f.as_uri() for f in files]
    registry = build_registry(urls)
    vdss = [open_virtual_dataset(u, registry=registry, parser=HDFParser()) for u in urls]
    vds = xr.concat(vdss, dim="time", coords="minimal", compat="override", combine_attrs="override") if len(vdss) > 1 else vdss[0]
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store, group=group)
    return session.commit(message)


def _read(repo: icechunk.Repository, group: str | None = None) -> xr.Dataset:
    return xr.open_zarr(repo.readonly_session("main").store, group=group, consolidated=False, zarr_format=3, chunks=None)


def _direct(files: list[Path]) -> xr.Dataset:
    return xr.concat([xr.open_dataset(f, engine="h5netcdf").load() for f in files], dim="time")


def _assert_equal(stored: xr.Dataset, files: list[Path]) -> None:
    direct = _direct(files)
    for name in ("temperature", "precipitation", "time", "lat", "lon"):
        np.testing.assert_array_equal(stored[name].values, direct[name].values, err_msg=name)
    assert stored["lat"].dims == ("lat",)


@pytest.fixture
def two_dirs(tmp_path: Path, series_files: list[Path], data_dir: Path) -> tuple[list[Path], list[Path]]:
    """Copies: series in tmp/a, ensemble member 0 in tmp/b (writable, and outside the read-only data_dir)."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    first = [Path(shutil.copy(f, a / f.name)) for f in series_files]
    second = [Path(shutil.copy(f, b / f.name)) for f in sorted((data_dir / "ensemble" / "ens1").glob("*.nc"))]
    return first, second


# --------------------------------------------------------------------------- per-scheme stores and credentials


def test_container_store_per_scheme(tmp_path: Path) -> None:
    local = container_store(parse_source(tmp_path / "x.nc"))
    assert isinstance(local, icechunk.ObjectStoreConfig.LocalFileSystem)
    assert isinstance(container_store(parse_source("http://127.0.0.1:8080/x.nc")), icechunk.ObjectStoreConfig.Http)
    assert isinstance(container_store(parse_source("https://h:8443/x.nc")), icechunk.ObjectStoreConfig.Http)
    s3 = container_store(parse_source("s3://b/x.nc"), Access(endpoint="http://127.0.0.1:9000", anonymous=True, region="eu-west-1"))
    assert isinstance(s3, icechunk.ObjectStoreConfig.S3Compatible)
    text = repr(s3).lower().replace(" ", "").replace(":", "=")
    assert "127.0.0.1=9000" in text and 'region="eu-west-1"' in text
    assert "allow_http=true" in text and "anonymous=true" in text and "force_path_style=true" in text
    plain_s3 = container_store(parse_source("s3://b/x.nc"))
    assert isinstance(plain_s3, icechunk.ObjectStoreConfig.S3)
    assert isinstance(container_store(parse_source("gs://g/x.nc")), icechunk.ObjectStoreConfig.Gcs)
    az = container_store(parse_source("abfs://c@acct.dfs.core.windows.net/x.nc"))
    assert isinstance(az, icechunk.ObjectStoreConfig.Azure) and "acct" in repr(az)
    assert "acct2" in repr(container_store(parse_source("az://c/x.nc"), Access(azure_account="acct2")))


def test_azure_container_without_account_is_rejected() -> None:
    with pytest.raises(SourceError, match=r"^az://c/x\.nc: Azure containers need an account -> pass Access\(azure_account='\.\.\.'\)$"):
        containers_for(["az://c/x.nc"])


def test_credentials_are_explicit_sentinels_never_none() -> None:
    assert credential_for("file:///data/") is LocalFileSystemAccess
    assert credential_for("http://127.0.0.1:8080/") is HttpAccess
    assert credential_for("https://h:8443/") is HttpAccess
    assert type(credential_for("s3://b/", Access(anonymous=True))).__name__ == "Anonymous"
    assert type(credential_for("s3://b/", Access(access_key_id="A", secret_access_key="S"))).__name__ == "Static"
    assert type(credential_for("s3://b/")).__name__ == "FromEnv"
    assert type(credential_for("gs://g/")).__name__ == "FromEnv"
    assert type(credential_for("gs://g/", Access(anonymous=True))).__name__ == "Anonymous"
    assert type(credential_for("az://c/")).__name__ == "FromEnv"
    assert type(credential_for("abfs://c@a.dfs.core.windows.net/", Access(anonymous=True))).__name__ == "Anonymous"
    for prefix in ("file:///d/", "http://h/", "s3://b/", "gs://g/", "az://c/"):
        assert credential_for(prefix) is not None


def test_credential_for_unsupported_scheme() -> None:
    with pytest.raises(SourceError, match=r"^container 'ftp://h/': unsupported scheme 'ftp' -> containers are file://"):
        credential_for("ftp://h/")


def test_containers_and_authorization_share_prefixes(tmp_path: Path) -> None:
    urls = [
        tmp_path / "y" / "a.nc",
        tmp_path / "z" / "b.nc",
        "s3://bucket/x/c.nc",
        "s3://bucket/d.nc",
        "gs://g/e.nc",
        "http://127.0.0.1:8080/f.nc",
        "https://h.example.org:8443/g.nc",
    ]
    expected = [tmp_path.as_uri() + "/", "s3://bucket/", "gs://g/", "http://127.0.0.1:8080/", "https://h.example.org:8443/"]
    assert source_prefixes(urls) == expected
    assert [c.url_prefix for c in containers_for(urls)] == expected
    assert all(p.endswith("/") for p in expected)
    config = repository_config(urls)
    assert sorted(config.virtual_chunk_containers) == sorted(expected)
    auth = authorizations(expected)
    assert sorted(auth) == sorted(expected)
    assert all(v is not None for v in auth.values())


def test_authorizations_per_prefix_override() -> None:
    auth = authorizations(
        ["s3://public/", "s3://private/"],
        Access(access_key_id="A", secret_access_key="S"),
        access_by_prefix={"s3://public/": Access(anonymous=True)},
    )
    # containers_credentials wraps each value in Credentials.S3(...); the inner value is ``_0``
    assert type(auth["s3://public/"]._0).__name__ == "Anonymous"
    assert type(auth["s3://private/"]._0).__name__ == "Static"


def test_icechunk_rejects_a_container_prefix_without_slash() -> None:
    """The classic mistake vzskill's prefixes avoid: icechunk's own message, pinned."""
    config = icechunk.RepositoryConfig.default()
    with pytest.raises(ValueError, match="VirtualChunkContainer url_prefix must end in a / character"):
        config.set_virtual_chunk_container(icechunk.VirtualChunkContainer("s3://bucket", icechunk.s3_store(region="us-east-1")))
    config.set_virtual_chunk_container(containers_for(["s3://bucket/x.nc"])[0])  # vzskill's: fine


def test_repository_config_extends_a_base(tmp_path: Path) -> None:
    base = repository_config(["s3://one/x.nc"])
    config = repository_config([tmp_path / "x.nc"], base=base)
    assert sorted(config.virtual_chunk_containers) == sorted(["s3://one/", tmp_path.as_uri() + "/"])


# --------------------------------------------------------------------------- real repositories


def test_round_trip_create_and_open(tmp_path: Path, series_files: list[Path]) -> None:
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    assert declared_prefixes(storage) == []  # no repository yet
    repo = create_repo(storage, series_files)
    prefix = series_files[0].parent.as_uri() + "/"
    assert declared_prefixes(storage) == [prefix]
    _write(repo, series_files)
    _assert_equal(_read(repo), series_files)  # the writing Repository object can read too (authorized)

    reopened = open_repo(icechunk.local_filesystem_storage(str(tmp_path / "repo")))
    assert reopened.authorized_virtual_container_prefixes == {prefix} or list(reopened.authorized_virtual_container_prefixes) == [prefix]
    _assert_equal(_read(reopened), series_files)


def test_plain_icechunk_open_without_authorization_cannot_read(tmp_path: Path, series_files: list[Path]) -> None:
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    _write(create_repo(storage, series_files[:1]), series_files[:1])
    bare = icechunk.Repository.open(storage)
    with pytest.raises(Exception, match="authorize the virtual chunk container"):
        _read(bare)["temperature"].values


def test_create_repo_is_idempotent_and_can_refuse(tmp_path: Path, series_files: list[Path]) -> None:
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    create_repo(storage, series_files)
    again = create_repo(storage, series_files)  # exist_ok=True: opens
    assert declared_prefixes(storage) == [series_files[0].parent.as_uri() + "/"]
    assert again.list_branches() == {"main"}
    with pytest.raises(SourceError, match=r"^a repository already exists in this storage -> open it, or choose a new location$"):
        create_repo(storage, series_files, exist_ok=False)


def test_add_containers_for_a_second_directory(tmp_path: Path, two_dirs: tuple[list[Path], list[Path]]) -> None:
    first, second = two_dirs
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = create_repo(storage, first)
    _write(repo, first, group="a")
    assert declared_prefixes(storage) == [first[0].parent.as_uri() + "/"]

    repo = add_containers(storage, second)
    assert declared_prefixes(storage) == sorted([first[0].parent.as_uri() + "/", second[0].parent.as_uri() + "/"])
    _write(repo, second, group="b", message="second dir")

    fresh = open_repo(icechunk.local_filesystem_storage(str(tmp_path / "repo")))
    _assert_equal(_read(fresh, "a"), first)
    _assert_equal(_read(fresh, "b"), second)
    assert add_containers(storage, second) is not None  # nothing new: no change
    assert len(declared_prefixes(storage)) == 2


def test_create_repo_on_existing_adds_missing_containers(tmp_path: Path, two_dirs: tuple[list[Path], list[Path]]) -> None:
    first, second = two_dirs
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    create_repo(storage, first)
    create_repo(storage, second)
    assert len(declared_prefixes(storage)) == 2


def test_open_repo_allow_restricts_authorization(tmp_path: Path, two_dirs: tuple[list[Path], list[Path]]) -> None:
    first, second = two_dirs
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = create_repo(storage, [*first, *second])  # one common root: tmp_path
    assert declared_prefixes(storage) == [tmp_path.as_uri() + "/"]
    # two separate roots instead: a repo per directory
    storage2 = icechunk.local_filesystem_storage(str(tmp_path / "repo2"))
    repo2 = create_repo(storage2, first)
    _write(repo2, first, group="a")
    repo2 = add_containers(storage2, second)
    _write(repo2, second, group="b")
    a_prefix, b_prefix = first[0].parent.as_uri() + "/", second[0].parent.as_uri() + "/"

    only_a = open_repo(storage2, allow=[a_prefix])
    assert set(only_a.authorized_virtual_container_prefixes) == {a_prefix}
    _assert_equal(_read(only_a, "a"), first)
    with pytest.raises(Exception, match="authorize the virtual chunk container"):
        _read(only_a, "b")["temperature"].values

    # a plain directory path (no scheme, no trailing slash) is normalised to its prefix
    only_b = open_repo(storage2, allow=[str(second[0].parent)])
    assert set(only_b.authorized_virtual_container_prefixes) == {b_prefix}
    _assert_equal(_read(only_b, "b"), second)

    # an allowed prefix *above* the declared ones authorizes both
    both = open_repo(storage2, allow=[tmp_path.as_uri()])
    assert set(both.authorized_virtual_container_prefixes) == {a_prefix, b_prefix}
    del repo


def test_open_repo_allow_prefix_not_declared(tmp_path: Path, series_files: list[Path]) -> None:
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    create_repo(storage, series_files)
    declared = series_files[0].parent.as_uri() + "/"
    with pytest.raises(SourceError) as err:
        open_repo(storage, allow=["s3://other-bucket"])
    assert str(err.value) == (
        f"the repository declares no container for s3://other-bucket/ (declared: {declared}) -> fix the prefix, "
        "or add the container with vzskill.containers.add_containers"
    )


def test_open_repo_missing_repository(tmp_path: Path) -> None:
    storage = icechunk.local_filesystem_storage(str(tmp_path / "nothing"))
    with pytest.raises(icechunk.RepositoryNotFoundError):
        open_repo(storage)
    with pytest.raises(SourceError, match=r"declared: none"):
        open_repo(storage, allow=["s3://b/"])


# --------------------------------------------------------------------------- prefixes from the referenced chunk paths


def test_reference_prefixes_cover_inputs_and_referenced_roots(tmp_path: Path) -> None:
    from vzskill.containers import collapse, container_for, covered, reference_prefixes

    refs_dir, data_dir = tmp_path / "refs", tmp_path / "data"
    inputs = [str(refs_dir / "a.json")]
    # references in a sibling folder, a sub-folder of it, another bucket and a host
    referenced = [(data_dir / "x.nc").as_uri(), (data_dir / "sub" / "y.nc").as_uri(), "s3://other/k/z.nc",
                  "https://h.example.org/d/w.nc"]
    got = reference_prefixes(inputs, referenced)
    assert got == [refs_dir.as_uri() + "/", data_dir.as_uri() + "/", "s3://other/k/", "https://h.example.org/"]
    # HDF5 inputs reference themselves: one container, as before
    own = [str(data_dir / "x.nc"), str(data_dir / "sub" / "y.nc")]
    assert reference_prefixes(own, [(data_dir / "x.nc").as_uri(), (data_dir / "sub" / "y.nc").as_uri()]) == [data_dir.as_uri() + "/"]
    assert collapse(["s3://b/x/", "s3://b/", "s3://b/"]) == ["s3://b/"]
    assert covered("s3://b/x/", ["s3://b/"]) and not covered("s3://bb/", ["s3://b/"])
    assert container_for("file:///d/e").url_prefix == "file:///d/e/"
    assert isinstance(container_for("s3://other/").store, icechunk.ObjectStoreConfig.S3)


def test_local_references_sharing_only_root_get_one_container_per_directory(tmp_path: Path) -> None:
    from vzskill.containers import reference_prefixes

    got = reference_prefixes([str(tmp_path / "r.json")], ["file:///opt/one/a.nc", "file:///srv/two/b.nc"])
    assert got == [tmp_path.as_uri() + "/", "file:///opt/one/", "file:///srv/two/"]
