"""Sources on S3 (moto on 127.0.0.1) -> virtual refs in an icechunk repo that itself lives on S3.

Each round trip reads the values back through icechunk's S3 virtual chunk container and compares
them with a direct read of the local copy. The error tests pin the exact texts quoted in
troubleshooting.md.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import icechunk
import obstore
import pytest
import xarray as xr
from obspec_utils.registry import ObjectStoreRegistry
from obstore.store import HTTPStore, S3Store
from virtualizarr import open_virtual_dataset
from virtualizarr.parsers import HDFParser

import vzskill
import vzskill.registry
import vzskill.containers
from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET
from tests.plugins.servers import REGION, assert_same_values, local_series, repo_storage

pytestmark = [pytest.mark.s3, pytest.mark.timeout(60)]

NAMES = ["series/temp_000.nc", "series/temp_001.nc", "series/temp_002.nc"]


def urls(bucket: str) -> list[str]:
    return [f"s3://{bucket}/{name}" for name in NAMES]


def virtual_series(urls_: list[str], registry) -> xr.Dataset:
    parts = [open_virtual_dataset(u, registry=registry, parser=HDFParser()) for u in urls_]
    return xr.concat(parts, dim="time", coords="minimal", compat="override", combine_attrs="override")


def read_main(repo: icechunk.Repository) -> xr.Dataset:
    return xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3).load()


def write_refs(repo: icechunk.Repository, vds: xr.Dataset, message: str = "virtual refs") -> str:
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    return session.commit(message)


def source_store(endpoint: str, bucket: str, **extra) -> S3Store:
    kwargs = dict(
        endpoint=endpoint,
        region=REGION,
        access_key_id=TEST_KEY_ID,
        secret_access_key=TEST_SECRET,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    kwargs.update(extra)
    return S3Store(bucket, **kwargs)


def s3_container(bucket: str, endpoint: str, anonymous: bool = False) -> icechunk.VirtualChunkContainer:
    return icechunk.VirtualChunkContainer(
        f"s3://{bucket}/",
        icechunk.s3_store(
            region=REGION,
            endpoint_url=endpoint,
            allow_http=True,
            anonymous=anonymous,
            s3_compatible=True,
            force_path_style=True,
        ),
    )


@pytest.fixture(scope="module")
def expected(series_files) -> xr.Dataset:
    return local_series(series_files)


@pytest.fixture(scope="module")
def private_repo(s3_endpoint, s3_data_bucket, make_bucket):
    """A repo on S3 whose virtual refs point into the private data bucket (plain library calls)."""
    registry = ObjectStoreRegistry({f"s3://{s3_data_bucket}": source_store(s3_endpoint, s3_data_bucket)})
    vds = virtual_series(urls(s3_data_bucket), registry)
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/private")
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(s3_container(s3_data_bucket, s3_endpoint))
    creds = icechunk.containers_credentials(
        {f"s3://{s3_data_bucket}/": icechunk.s3_credentials(access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)}
    )
    repo = icechunk.Repository.create(storage, config=config, authorize_virtual_chunk_access=creds)
    write_refs(repo, vds)
    return storage


# --------------------------------------------------------------------------- obstore


def test_obstore_explicit_endpoint_reads_bytes(s3_endpoint, s3_data_bucket, series_files):
    store = source_store(s3_endpoint, s3_data_bucket)
    listed = sorted(o["path"] for o in obstore.list(store, prefix="series").collect())
    assert listed == NAMES
    head = bytes(obstore.get_range(store, NAMES[1], start=0, end=64))
    assert head == series_files[1].read_bytes()[:64]


def test_obstore_from_env(monkeypatch, s3_endpoint, s3_data_bucket, series_files):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    store = S3Store(s3_data_bucket)  # endpoint, keys, region and allow_http all from AWS_* variables
    data = obstore.get(store, NAMES[0]).bytes()
    assert bytes(data) == series_files[0].read_bytes()


# --------------------------------------------------------------------------- round trips


def test_roundtrip_plain_library_repo_on_s3(s3_endpoint, s3_data_bucket, private_repo, expected):
    creds = icechunk.containers_credentials(
        {f"s3://{s3_data_bucket}/": icechunk.s3_credentials(access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)}
    )
    repo = icechunk.Repository.open(private_repo, authorize_virtual_chunk_access=creds)  # config persisted
    ds = read_main(repo)
    assert_same_values(ds, expected)
    locations = repo.readonly_session("main").all_virtual_chunk_locations()
    assert sorted(set(locations)) == [f"s3://{s3_data_bucket}/{name}" for name in NAMES]


def test_roundtrip_plain_library_from_env(monkeypatch, s3_endpoint, s3_data_bucket, make_bucket, expected):
    """Everything configured by AWS_* variables: no endpoint or keys in the code."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")  # obstore needs it; icechunk does not
    registry = ObjectStoreRegistry({f"s3://{s3_data_bucket}": S3Store(s3_data_bucket)})
    vds = virtual_series(urls(s3_data_bucket), registry)
    storage = icechunk.s3_storage(bucket=make_bucket(), prefix="repos/env", from_env=True, force_path_style=True)
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(
            f"s3://{s3_data_bucket}/", icechunk.s3_store(region=REGION, s3_compatible=True, force_path_style=True)
        )
    )
    creds = icechunk.containers_credentials({f"s3://{s3_data_bucket}/": icechunk.s3_from_env_credentials()})
    repo = icechunk.Repository.create(storage, config=config, authorize_virtual_chunk_access=creds)
    write_refs(repo, vds)
    ds = read_main(icechunk.Repository.open(storage, authorize_virtual_chunk_access=creds))
    assert_same_values(ds, expected)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["ip-endpoint", "hostname-endpoint"])
def test_roundtrip_vzskill_helpers(s3_endpoint, s3_data_bucket, make_bucket, expected, host):
    """vzskill.Access -> build_registry -> create_repo -> open_repo, with an S3-compatible endpoint.

    ``localhost`` is the case that needs path-style addressing everywhere (an IP endpoint gets it
    implicitly from the AWS SDK); Access(endpoint=...) implies it.
    """
    endpoint = s3_endpoint.replace("127.0.0.1", host)
    access = vzskill.Access(endpoint=endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    assert access.force_path_style and access.uses_http
    src = urls(s3_data_bucket)
    vds = virtual_series(src, vzskill.registry.build_registry(src, access))
    storage = repo_storage(s3_endpoint, make_bucket(), f"repos/helpers-{host}")
    repo = vzskill.create_repo(storage, src, access)
    assert vzskill.containers.declared_prefixes(storage) == [f"s3://{s3_data_bucket}/series/"]
    write_refs(repo, vds)
    assert_same_values(read_main(vzskill.open_repo(storage, access)), expected)


def test_roundtrip_vzskill_mixed_s3_and_http(s3_endpoint, s3_data_bucket, http_base_url, make_bucket, expected):
    """One repo, two containers (s3://bucket/ and http://127.0.0.1:PORT/), one Access for both."""
    access = vzskill.Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    src = [f"s3://{s3_data_bucket}/{NAMES[0]}", f"{http_base_url}/{NAMES[1]}", f"s3://{s3_data_bucket}/{NAMES[2]}"]
    vds = virtual_series(src, vzskill.registry.build_registry(src, access))
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/mixed")
    repo = vzskill.create_repo(storage, src, access)
    assert vzskill.containers.declared_prefixes(storage) == sorted([f"s3://{s3_data_bucket}/series/", f"{http_base_url}/"])
    write_refs(repo, vds)
    assert_same_values(read_main(vzskill.open_repo(storage, access)), expected)


# --------------------------------------------------------------------------- anonymous (public bucket)


def test_anonymous_public_bucket_plain_library(s3_endpoint, s3_public_bucket, make_bucket, expected):
    store = S3Store(
        s3_public_bucket, endpoint=s3_endpoint, region=REGION, skip_signature=True, client_options={"allow_http": True}
    )
    vds = virtual_series(urls(s3_public_bucket), ObjectStoreRegistry({f"s3://{s3_public_bucket}": store}))
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/public")
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(s3_container(s3_public_bucket, s3_endpoint, anonymous=True))
    creds = icechunk.containers_credentials({f"s3://{s3_public_bucket}/": icechunk.s3_anonymous_credentials()})
    repo = icechunk.Repository.create(storage, config=config, authorize_virtual_chunk_access=creds)
    write_refs(repo, vds)
    assert_same_values(read_main(icechunk.Repository.open(storage, authorize_virtual_chunk_access=creds)), expected)


def test_anonymous_public_bucket_vzskill(s3_endpoint, s3_public_bucket, make_bucket, expected):
    access = vzskill.Access(anonymous=True, endpoint=s3_endpoint)
    src = urls(s3_public_bucket)
    vds = virtual_series(src, vzskill.registry.build_registry(src, access))
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/public-vz")
    write_refs(vzskill.create_repo(storage, src, access), vds)
    assert_same_values(read_main(vzskill.open_repo(storage, access)), expected)


def test_anonymous_read_of_private_bucket_is_denied_by_obstore(s3_endpoint, s3_data_bucket):
    store = S3Store(
        s3_data_bucket, endpoint=s3_endpoint, region=REGION, skip_signature=True, client_options={"allow_http": True}
    )
    with pytest.raises(obstore.exceptions.PermissionDeniedError, match="403 Forbidden"):
        obstore.get(store, NAMES[0]).bytes()
    # the same through the vzskill registry
    access = vzskill.Access(anonymous=True, endpoint=s3_endpoint)
    registry = vzskill.registry.build_registry(urls(s3_data_bucket), access)
    # asserted on the registry's store: through h5py's file-object callbacks the same 403 surfaced once
    # in ~4 full runs as a spurious "AttributeError: 'S3Store' object has no attribute 'head'"
    store, path = registry.resolve(urls(s3_data_bucket)[0])
    with pytest.raises(obstore.exceptions.PermissionDeniedError, match="lacked the necessary privileges"):
        obstore.head(store, path)


def test_anonymous_read_of_private_refs_fails_in_icechunk(s3_endpoint, s3_data_bucket, private_repo):
    """Refs into a private bucket, read with anonymous credentials: the chunk fetch is refused (403)."""
    repo = icechunk.Repository.open(
        private_repo,
        config=_config_with(s3_container(s3_data_bucket, s3_endpoint, anonymous=True)),
        authorize_virtual_chunk_access=icechunk.containers_credentials(
            {f"s3://{s3_data_bucket}/": icechunk.s3_anonymous_credentials()}
        ),
    )
    ds = xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3)
    with pytest.raises(icechunk.StorageError, match="error fetching virtual reference: service error"):
        ds["temperature"].values


def _config_with(container: icechunk.VirtualChunkContainer) -> icechunk.RepositoryConfig:
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(container)
    return config


# --------------------------------------------------------------------------- errors quoted in troubleshooting.md


def test_error_missing_region(monkeypatch, s3_endpoint, make_bucket):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    storage = icechunk.s3_storage(bucket=make_bucket(), prefix="repos/noregion", from_env=True)
    with pytest.raises(icechunk.StorageError, match="A region must be set when sending requests to S3."):
        icechunk.Repository.create(storage)
    monkeypatch.setenv("AWS_REGION", REGION)  # the fix
    icechunk.Repository.create(icechunk.s3_storage(bucket=make_bucket(), prefix="repos/region", from_env=True))


def test_error_missing_allow_http(s3_endpoint, s3_data_bucket):
    store = S3Store(
        s3_data_bucket, endpoint=s3_endpoint, region=REGION, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET
    )
    with pytest.raises(obstore.exceptions.GenericError, match=r"HTTP error: builder error"):
        obstore.get(store, NAMES[0]).bytes()


def test_error_missing_allow_http_from_env(monkeypatch, s3_endpoint, s3_data_bucket):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.delenv("AWS_ALLOW_HTTP", raising=False)
    with pytest.raises(obstore.exceptions.GenericError, match=r"builder error"):
        obstore.get(S3Store(s3_data_bucket), NAMES[0]).bytes()


def test_error_virtual_hosted_style_on_custom_endpoint(s3_endpoint, s3_data_bucket):
    """obstore with virtual-hosted-style requests treats the endpoint as the bucket URL: wrong bucket."""
    store = source_store(s3_endpoint, s3_data_bucket, virtual_hosted_style_request=True)
    with pytest.raises(FileNotFoundError, match="NoSuchBucket"):
        obstore.get(store, NAMES[0]).bytes()


def test_error_wrong_bucket_in_registry(s3_endpoint, s3_data_bucket):
    registry = ObjectStoreRegistry({"s3://other-bucket": source_store(s3_endpoint, s3_data_bucket)})
    url = urls(s3_data_bucket)[0]
    with pytest.raises(ValueError, match=f"Could not find an ObjectStore matching the url `{url}`"):
        open_virtual_dataset(url, registry=registry, parser=HDFParser())
    # vzskill names the key that would work
    with pytest.raises(vzskill.SourceError, match=f"register the store under 's3://{s3_data_bucket}'"):
        vzskill.registry.check_registry({"s3://other-bucket": None}, [url])


def test_error_unauthorized_container(s3_data_bucket, private_repo):
    repo = icechunk.Repository.open(private_repo)  # no authorize_virtual_chunk_access
    ds = xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3)
    with pytest.raises(
        icechunk.InvalidInputError,
        match=(
            f"a virtual chunk in this repository resolves to the url prefix s3://{s3_data_bucket}/, "
            "to be able to fetch the chunk you need to authorize the virtual chunk container"
        ),
    ):
        ds["temperature"].values


def test_error_container_for_other_bucket(s3_endpoint, s3_data_bucket, make_bucket):
    registry = ObjectStoreRegistry({f"s3://{s3_data_bucket}": source_store(s3_endpoint, s3_data_bucket)})
    vds = open_virtual_dataset(urls(s3_data_bucket)[0], registry=registry, parser=HDFParser())
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/othercontainer")
    repo = icechunk.Repository.create(storage, config=_config_with(s3_container("other-bucket", s3_endpoint)))
    session = repo.writable_session("main")
    with pytest.raises(ValueError, match=f"No Virtual Chunk Container set which supports prefix of path s3://{s3_data_bucket}/"):
        vds.vz.to_icechunk(session.store)


# --------------------------------------------------------------------------- troubleshooting.md stays true

TROUBLESHOOTING = Path(__file__).resolve().parents[1] / "references" / "troubleshooting-remote.md"
REMOTE_HEADING = "## Remote sources (S3, HTTP)"


def documented_remote_messages() -> list[str]:
    """Every line of the ```text blocks in the Remote sources section of references/troubleshooting-remote.md."""
    section = TROUBLESHOOTING.read_text(encoding="utf-8").split(REMOTE_HEADING, 1)[1]
    lines = []
    for body in re.findall(r"^```text\n(.*?)^```", section, re.M | re.S):
        lines += [line for line in body.splitlines() if line.strip()]
    return lines


def message_pattern(line: str) -> re.Pattern[str]:
    """``<...>`` = a run-specific value, ``…`` = an elision; the real message may continue after the line."""
    parts = re.split(r"(<[^<>]*>|…)", line)
    regex = "".join(".*?" if p.startswith("<") and p.endswith(">") and len(p) > 2 else ".*" if p == "…" else re.escape(p) for p in parts)
    return re.compile(regex, re.S)


def describe(exc: BaseException) -> str:
    module = type(exc).__module__
    name = type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"
    return f"{name}: {exc}"


def raised(func) -> str:
    try:
        func()
    except Exception as exc:  # noqa: BLE001
        return describe(exc)
    raise AssertionError(f"{func} raised nothing")


@pytest.mark.http
def test_troubleshooting_remote_messages_are_real(
    s3_endpoint, s3_data_bucket, s3_client, make_bucket, http_base_url, private_repo, series_files, data_dir
):
    """Re-trigger every error quoted in troubleshooting.md's Remote sources section and match the text."""
    from unittest import mock

    key = NAMES[0]
    url = f"s3://{s3_data_bucket}/{key}"
    actual: list[str] = []
    # allow_http missing (S3 and HTTP)
    actual.append(raised(lambda: obstore.get(S3Store(s3_data_bucket, endpoint=s3_endpoint, region=REGION,
                                                         access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET), key)))
    actual.append(raised(lambda: obstore.get(HTTPStore.from_url(http_base_url), key)))
    # no region
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    with mock.patch.dict(os.environ, {**env, "AWS_ENDPOINT_URL": s3_endpoint}, clear=True):
        actual.append(raised(lambda: icechunk.Repository.create(
            icechunk.s3_storage(bucket=make_bucket(), prefix="r", from_env=True))))
    # registry keyed by the endpoint URL
    registry = ObjectStoreRegistry({f"{s3_endpoint}/{s3_data_bucket}": source_store(s3_endpoint, s3_data_bucket)})
    actual.append(raised(lambda: open_virtual_dataset(url, registry=registry, parser=HDFParser())))
    # virtual-hosted style
    vhost = source_store(s3_endpoint, s3_data_bucket, virtual_hosted_style_request=True)
    actual.append(raised(lambda: obstore.get(vhost, key).bytes()))
    # anonymous on a private bucket: obstore, icechunk
    anon = S3Store(s3_data_bucket, endpoint=s3_endpoint, region=REGION, skip_signature=True, client_options={"allow_http": True})
    actual.append(raised(lambda: obstore.get(anon, key).bytes()))
    anon_repo = icechunk.Repository.open(
        private_repo,
        config=_config_with(s3_container(s3_data_bucket, s3_endpoint, anonymous=True)),
        authorize_virtual_chunk_access=icechunk.containers_credentials(
            {f"s3://{s3_data_bucket}/": icechunk.s3_anonymous_credentials()}),
    )
    actual.append(raised(lambda: read_main(anon_repo)))
    # HTTP server without Range
    actual.append(raised_without_range(data_dir))
    # S3 source overwritten, then deleted
    bucket = make_bucket()
    s3_client.upload_file(str(series_files[0]), bucket, key)
    access = vzskill.Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    src = [f"s3://{bucket}/{key}"]
    vds = open_virtual_dataset(src[0], registry=vzskill.registry.build_registry(src, access), parser=HDFParser())
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/ts")
    session = vzskill.create_repo(storage, src, access).writable_session("main")
    vds.vz.to_icechunk(session.store, last_updated_at=datetime.now(timezone.utc))
    session.commit("refs")
    time.sleep(1.05 - time.time() % 1)
    s3_client.upload_file(str(series_files[1]), bucket, key)
    actual.append(raised(lambda: read_main(vzskill.open_repo(storage, access))))
    s3_client.delete_object(Bucket=bucket, Key=key)
    actual.append(raised(lambda: read_main(vzskill.open_repo(storage, access))))
    # parallel writers creating groups in a repo without root group
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/ts-groups")
    vzskill.create_repo(storage, src, access)
    a = vzskill.open_repo(storage, access).writable_session("main")
    b = vzskill.open_repo(storage, access).writable_session("main")
    vds.vz.to_icechunk(a.store, group="a")
    vds.vz.to_icechunk(b.store, group="b")
    a.commit("a")
    actual.append(raised(lambda: b.commit("b", rebase_with=icechunk.ConflictDetector())))

    documented = documented_remote_messages()
    assert len(documented) >= 10
    for line in documented:
        pattern = message_pattern(line)
        assert any(pattern.match(text) for text in actual), f"documented message not raised:\n{line}\n\nraised:\n" + "\n".join(
            t.splitlines()[0] for t in actual
        )
    for text in actual:  # and nothing triggered here is undocumented
        assert any(message_pattern(line).match(text) for line in documented), f"undocumented: {text.splitlines()[0]}"


def raised_without_range(data_dir) -> str:
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(data_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = HTTPStore.from_url(f"http://127.0.0.1:{server.server_port}", client_options={"allow_http": True})
        return raised(lambda: obstore.get_range(store, NAMES[0], start=0, end=10))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
