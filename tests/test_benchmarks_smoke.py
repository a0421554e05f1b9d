"""Smoke test: the benchmark scripts still run and print their ratios (no timing asserted).

Runs ``benchmarks/run.py --quick --only read --reps 1`` in a subprocess, with its data cache in
tmp_path. The real measurements are run by hand: see benchmarks/README.md.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_run_quick_read_prints_ratios(tmp_path):
    env = dict(os.environ, VZSKILL_BENCH_DATA=str(tmp_path), ICECHUNK_LOG="error")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "read", "--reps", "1"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    read = report["benchmarks"]["read"]
    assert "error" not in read, read.get("traceback")
    assert set(read["results"]) == {"h5netcdf", "icechunk", "manifeststore"}
    for path in ("icechunk", "manifeststore"):
        for op in ("whole", "slice", "series"):
            ratio = read["ratios"][f"{path}_{op}_speed_vs_h5netcdf(open+read)"]
            assert ratio > 0 and ratio == ratio  # a number, not NaN
    assert {t["target"] for t in read["targets"].values()} == {">= 1.0"}
    assert "target icechunk whole read" in proc.stderr  # the human table
    assert report["machine"]["packages"]["icechunk"]


# --------------------------------------------------------------------------- the loopback proxy

# fixture loopback_proxy: tests/plugins/latency.py (loaded by the root conftest)


def _http_store(base: str):
    from obstore.store import HTTPStore

    return HTTPStore.from_url(base, client_options={"allow_http": True})


def test_proxy_counts_keepalive_requests_and_adds_delay(loopback_proxy, http_base_url):
    import time

    import obstore

    proxy = loopback_proxy(http_base_url, delay_s=0.05, connect_delay_s=0.0)
    store = _http_store(proxy.url)
    t0 = time.perf_counter()
    for i in range(3):
        assert len(obstore.get_range(store, f"series/temp_00{i}.nc", start=0, length=64)) == 64
    elapsed = time.perf_counter() - t0
    assert proxy.requests == 3 and proxy.methods["GET"] == 3
    assert proxy.connections < proxy.requests  # one keep-alive connection carried several requests
    assert [r.range for r in proxy.log] == ["bytes=0-63"] * 3
    assert elapsed >= 3 * 0.05


def test_proxy_injects_503_then_forwards(loopback_proxy, http_base_url):
    import obstore

    proxy = loopback_proxy(http_base_url, fail_first=2)
    data = obstore.get_range(_http_store(proxy.url), "series/temp_000.nc", start=0, length=8)
    assert bytes(data)[:4] == b"\x89HDF"
    assert [r.outcome for r in proxy.log] == ["failed", "failed", "forwarded"]


def test_proxy_resets_are_seeded(loopback_proxy, http_base_url):
    import obstore

    outcomes = []
    for _ in range(2):
        proxy = loopback_proxy(http_base_url, reset_rate=0.5, seed=7)
        store = _http_store(proxy.url)
        for _i in range(3):
            obstore.get_range(store, "series/temp_000.nc", start=0, length=8)  # retried after each reset
        outcomes.append([r.outcome for r in proxy.log])
        assert "reset" in outcomes[-1] and proxy.connections > 1
    assert outcomes[0] == outcomes[1]


def test_proxy_passes_s3_puts_and_gets(loopback_proxy, s3_endpoint, make_bucket):
    import obstore
    from obstore.store import S3Store

    from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET

    proxy = loopback_proxy(s3_endpoint, delay_s=0.01)
    store = S3Store(make_bucket(), endpoint=proxy.url, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET,
                    region="us-east-1", client_options={"allow_http": True})
    obstore.put(store, "a/b.bin", b"y" * 200_000)
    assert bytes(obstore.get_range(store, "a/b.bin", start=199_990, length=10)) == b"y" * 10
    assert proxy.methods == {"PUT": 1, "GET": 1}


# --------------------------------------------------------------------------- requests per file


def _manifests(ds):
    from virtualizarr.manifests import ManifestArray

    return {name: var.data.manifest.dict() for name, var in ds.variables.items() if isinstance(var.data, ManifestArray)}


def test_parse_files_reads_a_small_file_in_one_request(loopback_proxy, http_base_url):
    """One ranged GET per small NetCDF4 file (no HEAD, no sniff, coordinates from the same bytes),
    and the same virtual dataset as plain VirtualiZarr (7 requests a file)."""
    import xarray as xr
    from obspec_utils.registry import ObjectStoreRegistry
    from virtualizarr import open_virtual_dataset
    from virtualizarr.parsers import HDFParser

    from vzskill.parse import parse_files
    from vzskill.sources import Access

    proxy = loopback_proxy(http_base_url)
    urls = [f"{proxy.url}/series/temp_00{i}.nc" for i in range(3)]
    parsed = parse_files(urls, access=Access(allow_http=True))
    assert all(p.ok for p in parsed), [p.error for p in parsed]
    assert proxy.requests == 3 and proxy.methods == {"GET": 3}
    assert all(p.size and p.size > 1000 for p in parsed)

    proxy.reset_counts()
    registry = ObjectStoreRegistry({proxy.url: _http_store(proxy.url)})
    for url, mine in zip(urls, parsed, strict=True):
        plain = open_virtual_dataset(url, registry=registry, parser=HDFParser())
        xr.testing.assert_identical(mine.dataset.drop_vars(list(_manifests(plain))),
                                    plain.drop_vars(list(_manifests(plain))))
        assert _manifests(mine.dataset) == _manifests(plain)
    assert proxy.requests > 3 * 3  # what plain costs


def test_prefetch_serves_reads_inside_the_block_only(tmp_path):
    from vzskill.reading import prefetch
    from vzskill.registry import build_registry

    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 40)  # 10240 bytes
    registry = build_registry([str(path)])
    pre = prefetch(path.as_uri(), registry, block=4096)
    assert pre.size == 10240 and len(pre.data) == 4096
    store, key = pre.registry.resolve(path.as_uri())
    assert bytes(store.get_range(key, start=10, end=20)) == bytes(range(10, 20))
    assert store.head(key)["size"] == 10240
    assert pre.served == 1
    assert bytes(store.get_range(key, start=4000, length=200)) == (bytes(range(256)) * 40)[4000:4200]  # past the block
    assert pre.served == 1
    assert [bytes(b) for b in store.get_ranges(key, starts=[0, 100], lengths=[4, 4])] == [bytes(range(4)), bytes(range(100, 104))]
    pre.release()
    assert bytes(store.get_range(key, start=10, end=20)) == bytes(range(10, 20)) and pre.served == 3
    assert store.prefix == registry.resolve(path.as_uri())[0].prefix  # attributes of the wrapped store


@pytest.mark.timeout(180)
def test_run_quick_remote_prints_requests_and_ratios(tmp_path):
    env = dict(os.environ, VZSKILL_BENCH_DATA=str(tmp_path), ICECHUNK_LOG="error")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "remote", "--reps", "1"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=170,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    remote = json.loads(proc.stdout)["benchmarks"]["remote"]
    assert "error" not in remote, remote.get("traceback")
    ratios = remote["ratios"]
    for backend in ("http_20ms", "s3_20ms"):
        assert ratios[f"requests_per_file.{backend}.vzskill_auto"] <= 2  # counted by the proxy, not timed
        assert ratios[f"requests_per_file.{backend}.plain_serial"] > ratios[f"requests_per_file.{backend}.vzskill_auto"]
        for name in ("remote_speedup_vs_plain_serial", "speed_vs_kerchunk"):
            assert ratios[f"{name}.{backend}"] > 0
    assert ratios["speed_vs_kerchunk.local"] > 0
    assert "ratio requests_per_file.http_20ms.vzskill_auto" in proc.stderr


def test_process_proxy_counts_over_its_control_path(http_base_url):
    import obstore

    from benchmarks.proxy_process import ProcessProxy
    from tests.plugins.latency import proxy_for

    target = proxy_for(http_base_url)  # (host, port) parsing shared with the fixture
    target.close()
    with ProcessProxy(target.target_host, target.target_port, delay_s=0.01) as proxy:
        store = _http_store(proxy.url)
        for _ in range(2):
            assert bytes(obstore.get_range(store, "series/temp_000.nc", start=0, length=4)) == b"\x89HDF"
        assert proxy.requests == 2 and proxy.methods == {"GET": 2}  # the control requests are not counted
        assert proxy.log[0].range == "bytes=0-3"
        proxy.reset_counts()
        assert proxy.requests == 0


@pytest.mark.parametrize("rel, parser", [("variants/netcdf3.nc", "NetCDF3Parser"), ("fits/image.fits", "FITSParser"),
                                         ("bounds/with_bounds.nc", "HDFParser")])
def test_prefetched_parse_equals_the_plain_parser(data_dir, rel, parser):
    """The one-request parse returns what VirtualiZarr's own parser returns on the same file."""
    import xarray as xr
    from virtualizarr import open_virtual_dataset
    from virtualizarr import parsers as P

    from vzskill.parse import parse_files
    from vzskill.registry import build_registry

    path = data_dir / rel
    mine = parse_files([str(path)])[0]
    assert mine.ok, mine.error
    plain = open_virtual_dataset(path.as_uri(), registry=build_registry([str(path)]), parser=getattr(P, parser)())
    virtual = list(_manifests(plain))
    assert _manifests(mine.dataset) == _manifests(plain)
    xr.testing.assert_identical(mine.dataset.drop_vars(virtual), plain.drop_vars(virtual))
