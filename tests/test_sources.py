"""vzskill.sources: every scheme, every rejection message (pure functions, no I/O but the local paths)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vzskill.sources import (
    SUPPORTED_SCHEMES,
    Access,
    Source,
    SourceError,
    azure_location,
    local_path,
    looks_like_regex,
    normalize_url,
    parse_source,
    parse_sources,
    roots,
    suggest_root,
)

# --------------------------------------------------------------------------- normalize_url


def test_plain_absolute_path_becomes_file_url(tmp_path: Path) -> None:
    path = tmp_path / "a" / "x.nc"
    assert normalize_url(path) == path.as_uri()
    assert normalize_url(str(path)) == f"file://{path}"


def test_relative_path_is_resolved_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert normalize_url("data/x.nc") == (tmp_path / "data" / "x.nc").as_uri()
    assert normalize_url("./data/../x.nc") == (tmp_path / "x.nc").as_uri()


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert normalize_url("~/x.nc") == (tmp_path / "x.nc").as_uri()


@pytest.mark.parametrize(
    "url, expected",
    [
        ("file:///data/dir/x.nc", "file:///data/dir/x.nc"),
        ("file://localhost/data/dir/x.nc", "file:///data/dir/x.nc"),
        ("file:///data/dir/../other/x.nc", "file:///data/other/x.nc"),
        ("s3://bucket/path/x.nc", "s3://bucket/path/x.nc"),
        ("S3://bucket/x.nc", "s3://bucket/x.nc"),
        ("s3a://bucket/x.nc", "s3://bucket/x.nc"),
        ("gs://bucket/x.nc", "gs://bucket/x.nc"),
        ("gcs://bucket/x.nc", "gs://bucket/x.nc"),
        ("az://container/x.nc", "az://container/x.nc"),
        ("azure://container/x.nc", "az://container/x.nc"),
        ("abfs://c@acct.dfs.core.windows.net/x.nc", "abfs://c@acct.dfs.core.windows.net/x.nc"),
        ("abfss://c@acct.dfs.core.windows.net/x.nc", "abfs://c@acct.dfs.core.windows.net/x.nc"),
        ("http://host/x.nc", "http://host/x.nc"),
        ("https://host:8443/thredds/x.nc", "https://host:8443/thredds/x.nc"),
    ],
)
def test_normalize_every_scheme(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url, scheme", [("ftp://host/x.nc", "ftp"), ("hdfs://nn/x.nc", "hdfs"), ("zip://x.zip", "zip")])
def test_unsupported_scheme_is_rejected_with_the_supported_list(url: str, scheme: str) -> None:
    with pytest.raises(SourceError) as err:
        normalize_url(url)
    msg = str(err.value)
    assert msg.startswith(f"{url}: unsupported URL scheme '{scheme}://' -> use one of ")
    for s in SUPPORTED_SCHEMES:
        assert f"{s}://" in msg
    assert msg.endswith("or a plain local path")
    assert "\n" not in msg


def test_file_url_with_host_is_rejected() -> None:
    with pytest.raises(SourceError, match=r"^file://server/share/x\.nc: file URLs must be absolute \(file:///abs/path\), got host 'server'$"):
        normalize_url("file://server/share/x.nc")


@pytest.mark.parametrize("url, scheme", [("s3:///x.nc", "s3"), ("https:///x.nc", "https"), ("gs://", "gs")])
def test_missing_bucket_or_host_is_rejected(url: str, scheme: str) -> None:
    with pytest.raises(SourceError, match=rf"missing bucket/host after '{scheme}://'"):
        normalize_url(url)


def test_source_error_is_a_value_error() -> None:
    assert issubclass(SourceError, ValueError)


# --------------------------------------------------------------------------- parse_source


@pytest.mark.parametrize(
    "url, scheme, root, path, bucket",
    [
        ("s3://bucket/dir/x.nc", "s3", "s3://bucket", "dir/x.nc", "bucket"),
        ("s3a://bucket/x.nc", "s3", "s3://bucket", "x.nc", "bucket"),
        ("gs://bucket/a/b/x.nc", "gs", "gs://bucket", "a/b/x.nc", "bucket"),
        ("az://container/x.nc", "az", "az://container", "x.nc", "container"),
        ("abfs://c@acct.dfs.core.windows.net/d/x.nc", "abfs", "abfs://c@acct.dfs.core.windows.net", "d/x.nc",
         "c@acct.dfs.core.windows.net"),
        ("http://127.0.0.1/series/x.nc", "http", "http://127.0.0.1", "series/x.nc", "127.0.0.1"),
        ("https://thredds.example.org:8443/thredds/fileServer/x.nc", "https", "https://thredds.example.org:8443",
         "thredds/fileServer/x.nc", "thredds.example.org:8443"),
    ],
)
def test_parse_remote_source(url: str, scheme: str, root: str, path: str, bucket: str) -> None:
    s = parse_source(url)
    assert (s.scheme, s.root, s.path, s.bucket) == (scheme, root, path, bucket)
    assert s.url == normalize_url(url)
    assert s.url == root + "/" + s.path
    folder = url.split("://", 1)[1].rsplit("/", 1)[0] if scheme in ("s3", "gs", "az", "abfs") else ""
    # object stores: the container prefix is the file's folder; HTTP: the host
    assert s.prefix == (f"{scheme}://{folder}/" if folder else root + "/") and s.url.startswith(s.prefix)


def test_object_store_sources_share_their_common_folder() -> None:
    sources = parse_sources(["s3://b/series/2024/a.nc", "s3://b/series/2025/b.nc", "gs://g/x/c.nc", "s3://top/d.nc"])
    assert [s.prefix for s in sources] == ["s3://b/series/", "s3://b/series/", "gs://g/x/", "s3://top/"]
    assert [s.root for s in sources] == ["s3://b", "s3://b", "gs://g", "s3://top"]  # registry keys: the bucket
    assert [s.prefix for s in parse_sources(["s3://b/series/a.nc", "s3://b/other/b.nc"])] == ["s3://b/", "s3://b/"]
    assert parse_sources(["s3://b/seriesA/a.nc", "s3://b/seriesB/b.nc"])[0].prefix == "s3://b/"  # folders, not text


def test_parse_local_source_root_is_its_directory(tmp_path: Path) -> None:
    f = tmp_path / "d" / "x.nc"
    s = parse_source(f)
    assert s.scheme == "file"
    assert s.root == (tmp_path / "d").as_uri()
    assert s.prefix == (tmp_path / "d").as_uri() + "/"
    assert s.path == "x.nc"
    assert s.bucket == str(tmp_path / "d")
    assert s.url == s.prefix + s.path


def test_parse_local_source_with_explicit_root(tmp_path: Path) -> None:
    s = parse_source(tmp_path / "a" / "b" / "x.nc", local_root=str(tmp_path))
    assert s.root == tmp_path.as_uri()
    assert s.path == "a/b/x.nc"


def test_parse_local_source_outside_root_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"x\.nc: not below the local root /elsewhere$"):
        parse_source(tmp_path / "x.nc", local_root="/elsewhere")


def test_file_at_filesystem_root_is_rejected() -> None:
    with pytest.raises(SourceError) as err:
        parse_source("/x.nc")
    assert str(err.value) == (
        "file:///x.nc: local sources share no directory but '/'; icechunk needs a path in file:// container "
        "prefixes -> keep the files under one data directory"
    )


def test_source_is_hashable_and_frozen(tmp_path: Path) -> None:
    s = parse_source("s3://b/x.nc")
    assert s == Source(url="s3://b/x.nc", scheme="s3", root="s3://b", path="x.nc")
    with pytest.raises(AttributeError):
        s.root = "s3://other"  # type: ignore[misc]
    assert len({s, parse_source("s3://b/x.nc")}) == 1


def test_local_path() -> None:
    assert local_path("file:///a/b/c.nc") == "/a/b/c.nc"


# --------------------------------------------------------------------------- parse_sources / roots


def test_local_files_share_their_common_parent(tmp_path: Path) -> None:
    a, b = tmp_path / "2024" / "x.nc", tmp_path / "2025" / "deep" / "y.nc"
    sources = parse_sources([a, str(b)])
    assert {s.root for s in sources} == {tmp_path.as_uri()}
    assert [s.path for s in sources] == ["2024/x.nc", "2025/deep/y.nc"]


def test_local_files_in_one_directory(tmp_path: Path) -> None:
    sources = parse_sources([tmp_path / "x.nc", tmp_path / "y.nc"])
    assert [s.root for s in sources] == [tmp_path.as_uri()] * 2


def test_mixed_schemes_one_root_each(tmp_path: Path) -> None:
    urls = [
        tmp_path / "x.nc",
        "s3://b1/a.nc",
        "s3://b1/deeper/b.nc",
        "s3://b2/c.nc",
        "gs://g/d.nc",
        "az://c/e.nc",
        "http://127.0.0.1:8080/f.nc",
        "https://h.example.org/g.nc",
        "https://h.example.org:8443/h.nc",
    ]
    rs = roots(parse_sources(urls))
    assert list(rs) == [
        tmp_path.as_uri(),
        "s3://b1",
        "s3://b2",
        "gs://g",
        "az://c",
        "http://127.0.0.1:8080",
        "https://h.example.org",
        "https://h.example.org:8443",
    ]
    assert rs["s3://b1"].path == "a.nc"  # first seen wins


def test_local_files_sharing_only_root_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"local sources share no directory but '/'.*-> keep the files under one data directory"):
        parse_sources([tmp_path / "x.nc", "/other_top_level_dir/y.nc"])


def test_no_urls_is_rejected() -> None:
    with pytest.raises(SourceError, match=r"^no source URLs given$"):
        parse_sources([])


def test_unsupported_scheme_in_a_list_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^ftp://h/x\.nc: unsupported URL scheme"):
        parse_sources([tmp_path / "a.nc", "ftp://h/x.nc"])


# --------------------------------------------------------------------------- regex keys, suggestions


@pytest.mark.parametrize(
    "key",
    [
        r"https://thredds\.nci\.org\.au/.*",
        r"s3://my-bucket/.*\.nc",
        "file:///data/.*",
        "s3://bucket/*",
        "https://host/(a|b)",
        "https://host/files[0-9]",
        "^s3://bucket",
        "s3://bucket/x.nc$",
        "https://host/a+",
    ],
)
def test_regex_like_keys(key: str) -> None:
    assert looks_like_regex(key)


@pytest.mark.parametrize(
    "key",
    [
        "s3://bucket",
        "s3://bucket/",
        "s3://my-bucket.with.dots/path_1/x-y.nc",
        "https://thredds.nci.org.au",
        "https://host:8443/thredds/",
        "file:///data/dir",
        "gs://b/a.b.c",
        "abfs://c@acct.dfs.core.windows.net",
    ],
)
def test_plain_keys_are_not_regex(key: str) -> None:
    assert not looks_like_regex(key)


def test_suggest_root(tmp_path: Path) -> None:
    assert suggest_root("s3://bucket/a/b.nc") == "s3://bucket"
    assert suggest_root("https://h:8443/a/b.nc") == "https://h:8443"
    assert suggest_root(str(tmp_path / "x.nc")) == tmp_path.as_uri()
    assert suggest_root("ftp://h/x.nc") == "<scheme>://<bucket-or-host>"


# --------------------------------------------------------------------------- Access


def test_access_repr_hides_secrets() -> None:
    a = Access(access_key_id="AKIDSECRET", secret_access_key="s3cr3t", session_token="tok3n", region="eu-west-1")
    text = repr(a)
    for secret in ("AKIDSECRET", "s3cr3t", "tok3n"):
        assert secret not in text
    assert "eu-west-1" in text
    assert a.has_static_keys
    assert not Access(access_key_id="x").has_static_keys


def test_access_endpoint_derivations() -> None:
    plain = Access()
    assert not plain.uses_http and not plain.force_path_style
    local = Access(endpoint="http://127.0.0.1:9000")
    assert local.uses_http and local.force_path_style
    tls = Access(endpoint="https://s3.pawsey.example", path_style=False)
    assert not tls.uses_http and not tls.force_path_style
    assert Access(allow_http=True).uses_http


def test_access_region_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Access(region="ap-southeast-2").s3_region == "ap-southeast-2"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert Access().s3_region == "eu-central-1"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert Access().s3_region == "us-west-2"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert Access().s3_region == "us-east-1"


def test_access_with_returns_a_copy() -> None:
    a = Access(region="r")
    b = a.with_(anonymous=True)
    assert b.anonymous and b.region == "r" and not a.anonymous


def test_normalize_accepts_pathlike(tmp_path: Path) -> None:
    class P(os.PathLike):
        def __fspath__(self) -> str:
            return str(tmp_path / "z.nc")

    assert normalize_url(P()) == (tmp_path / "z.nc").as_uri()


# --------------------------------------------------------------------------- Azure account: one parser for every user


@pytest.mark.parametrize(
    ("netloc", "expected"),
    [
        ("container", ("container", None)),
        ("c@acct.dfs.core.windows.net", ("c", "acct")),
        ("c@acct.blob.core.windows.net", ("c", "acct")),
        ("c@acct", ("c", "acct")),
        ("c@", ("c", None)),
    ],
)
def test_azure_location(netloc: str, expected: tuple[str, str | None]) -> None:
    assert azure_location(netloc) == expected


def test_azure_account_from_access_wins_over_the_url() -> None:
    assert Access().azure_account_for("c@acct.dfs.core.windows.net") == "acct"
    assert Access(azure_account="mine").azure_account_for("c@acct.dfs.core.windows.net") == "mine"
    assert Access(azure_account="mine").azure_account_for("c") == "mine"
    assert Access().azure_account_for("c") is None


@pytest.mark.parametrize(
    ("url", "access", "account"),
    [
        ("abfs://c@acct.dfs.core.windows.net/d/x.nc", Access(), "acct"),
        ("az://c/d/x.nc", Access(azure_account="other"), "other"),
        ("abfs://c@acct.dfs.core.windows.net/d/x.nc", Access(azure_account="other"), "other"),
    ],
)
def test_registry_containers_and_repository_agree_on_the_account(url: str, access: Access, account: str) -> None:
    """The obstore store (reads), the icechunk container (virtual chunks) and a repository there: same account."""
    from vzskill.containers import container_store
    from vzskill.registry import store_for
    from vzskill.repo import storage_for

    source = parse_source(url)
    assert store_for(source, access).config["account_name"] == account
    assert f"account: {account}" in repr(storage_for(source.root + "/repo", access))
    assert account in repr(container_store(source, access))


def test_parsed_sources_pass_through_unchanged(tmp_path: Path) -> None:
    """Parse once, hand the same Source objects on: the registry and the containers get the same roots."""
    from vzskill.containers import source_prefixes
    from vzskill.registry import build_registry

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    urls = [str(tmp_path / "a" / "x.nc"), str(tmp_path / "b" / "y.nc")]
    sources = parse_sources(urls)
    assert parse_sources(sources) == sources
    assert parse_sources(sources[:1]) == sources[:1]  # keeps the shared root (re-parsing one file would narrow it)
    assert parse_sources(urls[:1])[0].root == (tmp_path / "a").as_uri()
    assert source_prefixes(sources) == source_prefixes(urls) == [tmp_path.as_uri() + "/"]
    assert build_registry(sources).resolve(sources[1].url)[1] == "b/y.nc"
    with pytest.raises(SourceError, match="no source URLs given"):
        parse_sources([])
