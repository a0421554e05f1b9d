"""``parse_files(parallel=..., workers=..., progress=...)``: every mode gives what serial gives.

Real files (the session sample archives, local and over the loopback HTTP server); the pools are
small (2 workers) so the tests stay fast on 2 cores.
"""

from __future__ import annotations

import pytest

from vzskill.parallel import MIN_FILES, MIN_PROCESS_FILES, Choice, choose, map_ordered
from vzskill.parse import parse_files


def _files(data_dir):
    return (sorted(str(p) for p in (data_dir / "series").glob("temp_*.nc"))
            + sorted(str(p) for p in (data_dir / "variants").glob("*.nc"))
            + [str(data_dir / "bad" / "text.nc"), str(data_dir / "fits" / "image.fits")])


def _summary(parsed):
    from virtualizarr.manifests import ManifestArray

    out = []
    for p in parsed:
        ds = p.dataset
        virtual = {} if ds is None else {
            n: v.data.manifest.dict() for n, v in ds.variables.items() if isinstance(v.data, ManifestArray)}
        loaded = {} if ds is None else {
            n: v.values.tolist() for n, v in ds.variables.items() if not isinstance(v.data, ManifestArray)}
        out.append((p.url, p.kind, p.size, p.error, p.problem, virtual, loaded))
    return out


@pytest.fixture(scope="module")
def serial(data_dir):
    return _summary(parse_files(_files(data_dir)))


@pytest.mark.parametrize("mode", ["threads", "processes", "dask", "auto"])
def test_every_mode_gives_the_serial_result_in_order(data_dir, serial, mode):
    calls = []
    parsed = parse_files(_files(data_dir), parallel=mode, workers=2, progress=lambda d, n: calls.append((d, n)))
    assert _summary(parsed) == serial
    n = len(serial)
    assert calls and calls[-1] == (n, n) and all(0 < d <= n for d, _ in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_a_bad_file_is_an_error_in_every_mode(data_dir, serial):
    text = [row for row in serial if row[0].endswith("text.nc")]
    assert text and text[0][3] and "not a format vzskill reads" in text[0][3]
    assert sum(1 for row in serial if row[3] is None) == len(serial) - 1


def test_threads_over_http_match_serial(http_base_url):
    from vzskill.sources import Access

    urls = [f"{http_base_url}/series/temp_00{i}.nc" for i in range(3)] + [f"{http_base_url}/bad/text.nc"]
    access = Access(allow_http=True)
    assert _summary(parse_files(urls, access=access, parallel="threads", workers=3)) == \
        _summary(parse_files(urls, access=access))


def test_auto_rules():
    local = [f"/data/f{i}.nc" for i in range(MIN_PROCESS_FILES)]
    remote = [f"https://example.org/f{i}.nc" for i in range(MIN_FILES)]
    assert choose("auto", local[: MIN_FILES - 1]).mode == "serial"
    assert choose("auto", remote).mode == "threads"
    assert choose("auto", remote).workers == MIN_FILES
    assert choose("auto", remote[:1] + local).mode == "threads"
    assert choose("auto", local[: MIN_PROCESS_FILES - 1]).mode == "serial"
    assert choose(True, local).mode in ("processes", "serial")  # serial only on a one-core machine
    assert choose(None, remote) == Choice("serial", 1, "as asked")
    assert choose("threads", remote, workers=3).workers == 3


@pytest.mark.parametrize("bad", [{"parallel": "fast"}, {"parallel": "threads", "workers": 0}])
def test_bad_choices_are_one_line_errors(bad):
    with pytest.raises(ValueError, match="parallel=|workers="):
        choose(bad["parallel"], ["a.nc"], bad.get("workers"))


def test_map_ordered_keeps_order_and_reports_progress():
    calls = []
    out = map_ordered(lambda x: x * x, list(range(20)), Choice("threads", 4, ""), lambda d, n: calls.append(d))
    assert out == [x * x for x in range(20)]
    assert len(calls) == 20 and calls[-1] == 20


def _square_or_die(x: int) -> int:
    import os

    if str(os.getpid()) != os.environ.get("VZSKILL_TEST_PARENT_PID"):
        os._exit(3)  # a worker dies (as when the OOM killer takes it)
    return x * x


def test_a_broken_process_pool_falls_back_to_serial(monkeypatch):
    import os

    monkeypatch.setenv("VZSKILL_TEST_PARENT_PID", str(os.getpid()))
    calls = []
    out = map_ordered(_square_or_die, [1, 2, 3, 4], Choice("processes", 2, ""), lambda d, n: calls.append(d))
    assert out == [1, 4, 9, 16]
    assert calls[-1] == 4


@pytest.mark.timeout(120)
def test_dask_mode_runs_on_the_current_distributed_client(data_dir, serial):
    distributed = pytest.importorskip("distributed")

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None,
                                  protocol="tcp://", host="127.0.0.1") as cluster, \
            distributed.Client(cluster) as client, distributed.get_task_stream(client) as stream:
        parsed = parse_files(_files(data_dir), parallel="dask")
    assert _summary(parsed) == serial
    assert stream.data  # the batches ran as tasks on the cluster, not in dask.delayed


def test_a_fits_file_costs_one_request_parse_and_check(http_base_url, loopback_proxy, data_dir):
    """The tile-compression probe reads the headers from the parse's first block (it reopened the
    file before: a HEAD and a block GET more)."""
    from vzskill import check
    from vzskill.sources import Access

    proxy = loopback_proxy(http_base_url)
    parsed = parse_files([f"{proxy.url}/fits/image.fits"], access=Access(allow_http=True))
    assert parsed[0].ok and parsed[0].fits_tiles == {}, parsed[0].error
    report = check(parsed, access=Access(allow_http=True))
    assert report.exit_code in (0, 1), report.format_table()
    assert [r.method for r in proxy.log] == ["GET"], proxy.log
