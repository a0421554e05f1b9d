"""Sources on a plain HTTP file server (THREDDS fileServer style) on 127.0.0.1:PORT.

Registry key = scheme + host + port; icechunk container ``http://127.0.0.1:PORT/`` with
``http_store()`` and the ``HttpAccess`` authorization sentinel. Values read back through
icechunk equal a direct read of the local copy.
"""

from __future__ import annotations

from pathlib import Path

import icechunk
import obstore
import pytest
import xarray as xr
from icechunk.credentials import HttpAccess
from obspec_utils.registry import ObjectStoreRegistry
from obstore.store import HTTPStore
from virtualizarr import open_virtual_dataset
from virtualizarr.parsers import HDFParser

import vzskill
import vzskill.registry
import vzskill.containers
from tests.plugins import servers
from tests.plugins.servers import assert_same_values, local_series

pytestmark = [pytest.mark.http, pytest.mark.timeout(60)]

NAMES = ["series/temp_000.nc", "series/temp_001.nc", "series/temp_002.nc"]


def virtual_series(urls: list[str], registry) -> xr.Dataset:
    parts = [open_virtual_dataset(u, registry=registry, parser=HDFParser()) for u in urls]
    return xr.concat(parts, dim="time", coords="minimal", compat="override", combine_attrs="override")


def http_repo(storage, base: str) -> icechunk.Repository:
    prefix = base.rstrip("/") + "/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, icechunk.http_store()))
    creds = icechunk.containers_credentials({prefix: HttpAccess})
    return icechunk.Repository.create(storage, config=config, authorize_virtual_chunk_access=creds)


def read_main(repo: icechunk.Repository) -> xr.Dataset:
    return xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3).load()


@pytest.fixture(scope="module")
def expected(series_files) -> xr.Dataset:
    return local_series(series_files)


@pytest.fixture(scope="module")
def werkzeug_base_url(data_dir: Path):
    """The fallback Range server, always exercised (the session server is nginx when installed)."""
    server, thread = servers._start_werkzeug(Path(data_dir).resolve())
    servers.wait_http(server.server_port)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def test_range_requests(http_base_url, series_files):
    store = HTTPStore.from_url(http_base_url, client_options={"allow_http": True})
    raw = series_files[2].read_bytes()
    assert bytes(obstore.get_range(store, NAMES[2], start=100, end=2000)) == raw[100:2000]
    assert bytes(obstore.get_range(store, NAMES[2], start=0, end=1)) == raw[:1]
    assert bytes(obstore.get(store, NAMES[2], options={"range": {"suffix": 16}}).bytes()) == raw[-16:]
    assert obstore.head(store, NAMES[2])["size"] == len(raw)


@pytest.mark.parametrize("server", ["session", "werkzeug"])
def test_roundtrip_plain_library(request, server, tmp_path, expected):
    base = request.getfixturevalue("http_base_url" if server == "session" else "werkzeug_base_url")
    store = HTTPStore.from_url(base, client_options={"allow_http": True})
    registry = ObjectStoreRegistry({base: store})  # key: scheme + host + port, no path
    urls = [f"{base}/{name}" for name in NAMES]
    vds = virtual_series(urls, registry)
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = http_repo(storage, base)
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("http refs")
    assert sorted(set(repo.readonly_session("main").all_virtual_chunk_locations())) == urls
    reopened = icechunk.Repository.open(
        storage, authorize_virtual_chunk_access=icechunk.containers_credentials({f"{base}/": HttpAccess})
    )
    assert_same_values(read_main(reopened), expected)


def test_registry_key_with_path(http_base_url, series_files):
    """A longer key (like .../thredds/fileServer) also matches; its path is stripped from the store."""
    key = f"{http_base_url}/series"
    registry = ObjectStoreRegistry({key: HTTPStore.from_url(key, client_options={"allow_http": True})})
    vds = open_virtual_dataset(f"{http_base_url}/{NAMES[0]}", registry=registry, parser=HDFParser())
    assert vds.sizes["time"] == 4
    manifest = vds["temperature"].data.manifest
    assert {entry["path"] for entry in manifest.values()} == {f"{http_base_url}/{NAMES[0]}"}


def test_roundtrip_vzskill_helpers(http_base_url, tmp_path, expected):
    urls = [f"{http_base_url}/{name}" for name in NAMES]
    assert [s.root for s in vzskill.parse_sources(urls)] == [http_base_url] * 3
    vds = virtual_series(urls, vzskill.registry.build_registry(urls))
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = vzskill.create_repo(storage, urls)
    assert vzskill.containers.declared_prefixes(storage) == [f"{http_base_url}/"]
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("http refs")
    assert_same_values(read_main(vzskill.open_repo(storage)), expected)


def test_repo_published_over_http(tmp_path, series_files, expected):
    """A repo written to disk, then served by a plain web server: readers open it with http_storage."""
    site = tmp_path / "site"
    data = site / "data"
    data.mkdir(parents=True)
    for path in series_files:
        (data / path.name).write_bytes(path.read_bytes())
    server, thread = servers._start_werkzeug(site)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        servers.wait_http(server.server_port)
        urls = [f"{base}/data/{p.name}" for p in series_files]
        vds = virtual_series(urls, vzskill.registry.build_registry(urls))
        repo = vzskill.create_repo(icechunk.local_filesystem_storage(str(site / "refs.icechunk")), urls)
        session = repo.writable_session("main")
        vds.vz.to_icechunk(session.store)
        session.commit("published")
        storage = icechunk.http_storage(f"{base}/refs.icechunk", opts={"allow_http": "true"})
        assert_same_values(read_main(vzskill.open_repo(storage)), expected)
    finally:
        server.shutdown()
        thread.join(10)


# --------------------------------------------------------------------------- errors quoted in troubleshooting.md


def test_error_httpstore_without_allow_http(http_base_url):
    store = HTTPStore.from_url(http_base_url)
    with pytest.raises(obstore.exceptions.GenericError, match=r"HTTP error: builder error"):
        obstore.get(store, NAMES[0]).bytes()


def test_error_server_without_range_support(data_dir):
    """Python's http.server ignores Range headers: obstore refuses it (use nginx, Apache, THREDDS...)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: ANN002
            pass

    handler = functools.partial(Quiet, directory=str(data_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = HTTPStore.from_url(f"http://127.0.0.1:{server.server_port}", client_options={"allow_http": True})
        with pytest.raises(
            obstore.exceptions.NotSupportedError,
            match=f"Operation not supported: Range request not supported by {NAMES[0]}",
        ):
            obstore.get_range(store, NAMES[0], start=0, end=10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_error_http_container_not_authorized(http_base_url, tmp_path):
    urls = [f"{http_base_url}/{NAMES[0]}"]
    vds = open_virtual_dataset(urls[0], registry=vzskill.registry.build_registry(urls), parser=HDFParser())
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = http_repo(storage, http_base_url)
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("refs")
    ds = xr.open_zarr(icechunk.Repository.open(storage).readonly_session("main").store, consolidated=False)
    with pytest.raises(
        icechunk.InvalidInputError,
        match=(
            f"a virtual chunk in this repository resolves to the url prefix {http_base_url}/, "
            "to be able to fetch the chunk you need to authorize the virtual chunk container"
        ),
    ):
        ds["temperature"].values


def test_error_http_source_server_down(data_dir, tmp_path):
    server, thread = servers._start_werkzeug(Path(data_dir).resolve())
    base = f"http://127.0.0.1:{server.server_port}"
    servers.wait_http(server.server_port)
    urls = [f"{base}/{NAMES[0]}"]
    vds = open_virtual_dataset(urls[0], registry=vzskill.registry.build_registry(urls), parser=HDFParser())
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = vzskill.create_repo(storage, urls)
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("refs")
    server.shutdown()
    server.server_close()
    thread.join(10)
    ds = xr.open_zarr(vzskill.open_repo(storage).readonly_session("main").store, consolidated=False)
    with pytest.raises(icechunk.StorageError, match=r"error fetching virtual reference: .*Connection refused"):
        ds["temperature"].values
