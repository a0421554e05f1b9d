"""vzskill.registry: one obstore store per root, keys that resolve every URL, every rejection message.

Stores are real obstore objects; constructing them does no I/O. Local stores are read for real.
"""

from __future__ import annotations

from pathlib import Path

import obstore
import pytest
from obspec_utils.registry import ObjectStoreRegistry
from obstore.store import AzureStore, GCSStore, HTTPStore, LocalStore, S3Store

from vzskill.registry import build_registry, check_registry, store_for
from vzskill.sources import Access, SourceError, parse_source


def test_local_store_reads_the_real_file(series_files: list[Path]) -> None:
    registry = build_registry(series_files)
    for f in series_files:
        store, path = registry.resolve(f.as_uri())
        assert isinstance(store, LocalStore)
        assert path == f.name
        assert bytes(obstore.get(store, path).bytes()) == f.read_bytes()


def test_local_files_in_sibling_dirs_share_one_store(data_dir: Path) -> None:
    a = data_dir / "series" / "temp_000.nc"
    b = data_dir / "variants" / "float64.nc"
    registry = build_registry([a, b])
    store_a, path_a = registry.resolve(a.as_uri())
    store_b, path_b = registry.resolve(b.as_uri())
    assert store_a is store_b
    assert (path_a, path_b) == ("series/temp_000.nc", "variants/float64.nc")
    assert bytes(obstore.get(store_b, path_b).bytes()) == b.read_bytes()


def test_relative_and_file_url_inputs_resolve(series_files: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(series_files[0].parent.parent)
    registry = build_registry([f"series/{series_files[0].name}", series_files[1].as_uri()])
    for f in series_files[:2]:
        store, path = registry.resolve(f.as_uri())
        assert bytes(obstore.get(store, path).bytes())[:4] == b"\x89HDF"


def test_missing_local_directory_is_one_line() -> None:
    with pytest.raises(SourceError) as err:
        build_registry(["/no/such/dir/x.nc"])
    assert str(err.value) == (
        "file:///no/such/dir/x.nc: directory /no/such/dir does not exist -> check the path (typo? moved? not mounted?)"
    )


def test_s3_store_default_env_credentials() -> None:
    store = store_for(parse_source("s3://bucket/a/x.nc"))
    assert isinstance(store, S3Store)
    assert store.config["bucket"] == "bucket"
    assert store.config["region"] == "us-east-1"  # from the test env (AWS_REGION)
    assert "skip_signature" not in store.config
    assert not store.client_options


def test_s3_store_endpoint_anonymous() -> None:
    store = store_for(parse_source("s3://bucket/x.nc"), Access(endpoint="http://127.0.0.1:9000", anonymous=True, region="eu-west-1"))
    assert store.config["endpoint"] == "http://127.0.0.1:9000"
    assert store.config["virtual_hosted_style_request"] == "false"  # path style for custom endpoints
    assert store.config["skip_signature"] == "true"
    assert store.config["region"] == "eu-west-1"
    assert store.client_options == {"allow_http": "true"}


def test_s3_store_static_keys() -> None:
    store = store_for(parse_source("s3://bucket/x.nc"), Access(access_key_id="AK", secret_access_key="SK", session_token="ST"))
    assert store.config["access_key_id"] == "AK"
    assert store.config["secret_access_key"] == "SK"
    assert "ST" in (store.config.get("token"), store.config.get("session_token"))


def test_s3_store_virtual_hosted_when_asked() -> None:
    store = store_for(parse_source("s3://bucket/x.nc"), Access(endpoint="https://s3.example.org", path_style=False))
    assert store.config["virtual_hosted_style_request"] == "true"
    assert not store.client_options


def test_gcs_store() -> None:
    anon = store_for(parse_source("gs://bucket/x.nc"), Access(anonymous=True))
    assert isinstance(anon, GCSStore)
    assert anon.config == {"bucket": "bucket", "skip_signature": "true"}
    assert store_for(parse_source("gs://bucket/x.nc")).config == {"bucket": "bucket"}


def test_azure_store_account_from_access_or_url() -> None:
    az = store_for(parse_source("az://container/x.nc"), Access(azure_account="acct", anonymous=True))
    assert isinstance(az, AzureStore)
    assert az.config["account_name"] == "acct" and az.config["container_name"] == "container"
    abfs = store_for(parse_source("abfs://c@myacct.dfs.core.windows.net/x.nc"))
    assert abfs.config["account_name"] == "myacct" and abfs.config["container_name"] == "c"


def test_azure_store_without_account_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT", raising=False)
    with pytest.raises(SourceError, match=r"^az://c/x\.nc: Azure containers need an account -> .*azure_account"):
        store_for(parse_source("az://c/x.nc"))


@pytest.mark.parametrize(
    "url, root, key, allow_http",
    [
        ("http://127.0.0.1/series/x.nc", "http://127.0.0.1/", "series/x.nc", True),
        ("http://127.0.0.1:8080/series/x.nc", "http://127.0.0.1:8080/", "series/x.nc", True),
        ("https://thredds.example.org/fileServer/x.nc", "https://thredds.example.org/", "fileServer/x.nc", False),
        ("https://thredds.example.org:8443/fileServer/x.nc", "https://thredds.example.org:8443/", "fileServer/x.nc", False),
    ],
)
def test_http_stores(url: str, root: str, key: str, allow_http: bool) -> None:
    registry = build_registry([url])
    store, path = registry.resolve(url)
    assert isinstance(store, HTTPStore)
    assert store.url == root
    assert path == key
    assert (store.client_options or {}).get("allow_http") == ("true" if allow_http else None)


def test_every_scheme_in_one_registry(tmp_path: Path) -> None:
    local = tmp_path / "x.nc"
    local.write_bytes(b"x")
    urls = [
        str(local),
        "s3://b1/a/x.nc",
        "s3://b2/x.nc",
        "gs://g/x.nc",
        "abfs://c@acct.dfs.core.windows.net/x.nc",
        "http://127.0.0.1:8080/x.nc",
        "https://h.example.org:8443/d/x.nc",
    ]
    registry = build_registry(urls)
    expected = [LocalStore, S3Store, S3Store, GCSStore, AzureStore, HTTPStore, HTTPStore]
    for url, cls in zip(urls, expected, strict=True):
        store, _ = registry.resolve(parse_source(url).url if "://" in url else local.as_uri())
        assert isinstance(store, cls), url
    assert registry.resolve("s3://b1/a/x.nc")[0] is not registry.resolve("s3://b2/x.nc")[0]


def test_access_by_root_overrides_per_bucket() -> None:
    registry = build_registry(
        ["s3://public/x.nc", "s3://private/y.nc"],
        Access(access_key_id="AK", secret_access_key="SK"),
        access_by_root={"s3://public": Access(anonymous=True)},
    )
    public, _ = registry.resolve("s3://public/x.nc")
    private, _ = registry.resolve("s3://private/y.nc")
    assert public.config.get("skip_signature") == "true" and "access_key_id" not in public.config
    assert private.config["access_key_id"] == "AK" and "skip_signature" not in private.config


def test_unknown_url_does_not_resolve() -> None:
    registry = build_registry(["https://h.example.org:8443/x.nc"])
    with pytest.raises(ValueError, match="Could not find an ObjectStore matching the url"):
        registry.resolve("https://h.example.org/x.nc")  # the port is part of the key


def test_build_registry_rejects_bad_urls() -> None:
    with pytest.raises(SourceError, match=r"^ftp://h/x\.nc: unsupported URL scheme 'ftp://'"):
        build_registry(["ftp://h/x.nc"])
    with pytest.raises(SourceError, match=r"^no source URLs given$"):
        build_registry([])


# --------------------------------------------------------------------------- check_registry


@pytest.mark.parametrize(
    "key",
    [r"https://thredds\.nci\.org\.au/.*", r"s3://my-bucket/.*\.nc", "file:///data/.*", "^s3://bucket"],
)
def test_check_registry_rejects_regex_keys(key: str) -> None:
    with pytest.raises(SourceError) as err:
        check_registry({key: object()}, ["s3://my-bucket/a.nc"])
    assert str(err.value) == (
        f"registry key {key!r} looks like a regular expression; ObjectStoreRegistry matches plain URL prefixes only "
        "-> use a key like 's3://bucket', 'https://host' or 'file:///data/dir'"
    )


def test_check_registry_names_the_right_key_for_a_mismatch() -> None:
    store = S3Store("wrong-bucket", region="us-east-1")
    with pytest.raises(SourceError) as err:
        check_registry({"s3://wrong-bucket": store}, ["s3://right-bucket/dir/x.nc"])
    assert str(err.value) == (
        "s3://right-bucket/dir/x.nc: no registry key matches (keys: s3://wrong-bucket) -> register the store under 's3://right-bucket'"
    )


def test_check_registry_mismatch_http_port_and_local(tmp_path: Path) -> None:
    http = HTTPStore.from_url("https://h.example.org")
    with pytest.raises(SourceError, match=r"-> register the store under 'https://h\.example\.org:8443'$"):
        check_registry({"https://h.example.org": http}, ["https://h.example.org:8443/x.nc"])
    with pytest.raises(SourceError, match=rf"-> register the store under '{tmp_path.as_uri()}'$"):
        check_registry({}, [(tmp_path / "x.nc").as_uri()])
    with pytest.raises(SourceError, match=r"\(keys: none\)"):
        check_registry({}, ["s3://b/x.nc"])


def test_check_registry_accepts_good_keys(tmp_path: Path) -> None:
    mapping = {
        "s3://bucket": S3Store("bucket", region="us-east-1"),
        "s3://bucket/": S3Store("bucket", region="us-east-1"),
        "https://h.example.org:8443": HTTPStore.from_url("https://h.example.org:8443"),
        tmp_path.as_uri(): LocalStore(prefix=str(tmp_path)),
    }
    check_registry(mapping, ["s3://bucket/a/b.nc", "https://h.example.org:8443/x.nc", (tmp_path / "d" / "x.nc").as_uri()])


def test_built_registry_passes_its_own_check(tmp_path: Path) -> None:
    urls = ["s3://bucket/a.nc", "https://h:8443/x.nc", (tmp_path / "a.nc").as_uri()]
    registry = build_registry(urls)
    assert isinstance(registry, ObjectStoreRegistry)
    for url in urls:
        registry.resolve(url)  # no ValueError


def test_build_registry_per_file_root_skips_bad_urls(tmp_path):
    """Lenient builder (inspect, per-file parsing): one store per file directory; bad URLs reported, not raised."""
    from vzskill.registry import build_registry_per_file_root

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    urls = [str(tmp_path / "a" / "x.nc"), str(tmp_path / "b" / "y.nc"), "ftp://host/z.nc"]
    registry, bad = build_registry_per_file_root(urls)
    assert registry.resolve(f"file://{tmp_path}/a/x.nc")[1] == "x.nc"
    assert registry.resolve(f"file://{tmp_path}/b/y.nc")[1] == "y.nc"
    assert list(bad) == ["ftp://host/z.nc"] and "unsupported URL scheme 'ftp://'" in bad["ftp://host/z.nc"]


# --------------------------------------------------------------------------- references outside their folder (C)


def _kerchunk_refs(src: list, refs_dir) -> list:
    import json

    import kerchunk.hdf

    refs_dir.mkdir()
    out = []
    for f in src:
        with open(f, "rb") as fh:
            refs = kerchunk.hdf.SingleHdf5ToZarr(fh, f.as_uri()).translate()
        out.append(refs_dir / (f.stem + ".json"))
        out[-1].write_text(json.dumps(refs))
    return out


def _vz_refs(src: list, refs_dir) -> list:
    from vzskill.parse import parse_files

    refs_dir.mkdir()
    out = []
    for p in parse_files(src, loadable_variables=[]):
        target = refs_dir / (p.name.rsplit(".", 1)[0] + ".json")
        p.dataset.vz.to_kerchunk(str(target), format="json")
        out.append(target)
    return out


@pytest.mark.parametrize("writer", [_kerchunk_refs, _vz_refs])
def test_kerchunk_refs_outside_their_folder(writer, series_files, tmp_path) -> None:
    import numpy as np

    from vzskill.fixtures import sample_dataset
    from vzskill.parse import parse_files, reference_urls
    from vzskill.registry import SourceRegistry

    src = [series_files[0], series_files[1]]
    refs = writer(src, tmp_path / "refs")
    parsed = parse_files(refs)
    assert all(p.ok for p in parsed), [p.error for p in parsed]
    assert reference_urls(parsed) == [f.as_uri() for f in src]
    expected = sample_dataset(0)
    assert np.array_equal(parsed[0].dataset["lat"].values, expected["lat"].values)
    # a registry covering only the references' folder says which root the data need ...
    strict = SourceRegistry.wrap(build_registry(refs))
    [p] = parse_files(refs[:1], strict, loadable_variables=["lat", "lon", "time"])
    root = series_files[0].parent.as_uri()
    if writer is _vz_refs:  # fully virtual refs: loading lat/lon/time reads the data files
        assert p.problem == "container" and p.error.endswith(f"-> register the store under {root!r}"), p.error
    # ... and a registry built from the references and their data covers both
    covering = build_registry([*refs, *reference_urls(parsed)])
    [q] = parse_files(refs[:1], covering, loadable_variables=["lat", "lon", "time"])
    assert q.ok, q.error
