"""Faults on loopback: whatever breaks, main is the old snapshot or the complete new one, and a rerun succeeds.

* a source deleted (or replaced) between the parse/check and the commit -> nothing committed;
* ``kill -9`` of ``vzskill virtualize`` / ``--append`` at seeded random moments -> main is old or
  complete (values equal the files, verify ok), and the rerun lands (or says the file is stored);
* the S3 server (moto) stopped in the middle of a write -> one-line error, nothing committed, rerun ok;
* an HTTP source failing a fraction of requests (5xx, resets) through a proxy -> retried, or one line.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import icechunk
import numpy as np
import pytest
import xarray as xr

from tests.plugins import latency
from vzskill import fixtures
from vzskill.containers import open_repo
from vzskill.repo import storage_for
from vzskill.write import VirtualizeError, virtualize

VARS = ("temperature", "precipitation")

loopback_proxy = latency.loopback_proxy  # the fixture, used by this module's tests


def _tip(repo: Path) -> str | None:
    try:
        return icechunk.Repository.open(storage_for(repo)).lookup_branch("main")
    except Exception:  # noqa: BLE001 - no repository (yet)
        return None


def _stored(location) -> xr.Dataset | None:
    storage = location if isinstance(location, icechunk.Storage) else storage_for(location)
    try:
        session = open_repo(storage).readonly_session("main")
        return xr.open_zarr(session.store, consolidated=False, zarr_format=3, chunks=None).load()
    except Exception:  # noqa: BLE001 - no repository / no arrays yet
        return None


def _assert_holds(stored: xr.Dataset, files: list[Path]) -> None:
    direct = xr.concat([xr.open_dataset(f, engine="h5netcdf").load() for f in files], dim="time")
    assert stored.sizes["time"] == direct.sizes["time"]
    for name in (*VARS, "time"):
        np.testing.assert_array_equal(stored[name].values, direct[name].values, err_msg=name)


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return fixtures.make_series(tmp_path_factory.mktemp("faults"), 12)


# --------------------------------------------------------------------------- a source deleted before the commit


@pytest.mark.parametrize("append", [False, True], ids=["write", "append"])
def test_source_deleted_between_check_and_commit_commits_nothing(tmp_path: Path, series: list[Path], append: bool) -> None:
    files = []
    for f in series[:3]:
        files.append(tmp_path / f.name)
        files[-1].write_bytes(f.read_bytes())
    repo = tmp_path / "repo"
    if append:
        virtualize(files[:1], repo)
    tip = _tip(repo)
    victim = files[2]

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 0 and victim.exists():  # parsed, checked, combined; refs being written
            victim.unlink()

    with pytest.raises(VirtualizeError, match=r"^temp_002\.nc: the source disappeared while writing, nothing committed -> "):
        virtualize(files[1:] if append else files, repo, append=append, progress=progress)
    if append:
        assert _tip(repo) == tip
    else:  # the repository was created (containers declared), no data committed
        assert _stored(repo) is None
    victim.write_bytes(series[2].read_bytes())
    virtualize(files[1:] if append else files, repo, append=append)  # the rerun lands
    _assert_holds(_stored(repo), files)


def test_source_replaced_by_a_shorter_file_commits_nothing(tmp_path: Path, series: list[Path]) -> None:
    files = [tmp_path / f.name for f in series[:2]]
    for src, dst in zip(series, files, strict=False):
        dst.write_bytes(src.read_bytes())

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 0:
            files[1].write_bytes(files[1].read_bytes()[:-100])

    with pytest.raises(VirtualizeError, match=r"^temp_001\.nc: the source changed size \(\d+ -> \d+ bytes\) while writing"):
        virtualize(files, tmp_path / "repo", progress=progress)
    assert _stored(tmp_path / "repo") is None


# --------------------------------------------------------------------------- kill -9


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_9_at_random_moments_leaves_old_or_complete(tmp_path: Path, series: list[Path]) -> None:
    """10 seeded trials: CLI appends killed (SIGKILL) after a random share (30-100 %) of a full run's time
    (and one first write, killed after 50-100 %).

    The first write (trial 0) runs to the end and times a full run on this machine. After every kill
    main holds exactly the files that landed before (old) or those plus the new one (complete); the
    in-process rerun lands the file, or says it is stored already.
    """
    from vzskill import verify

    rng = random.Random(20261202)
    repo = tmp_path / "repo"
    cli = [sys.executable, "-m", "vzskill", "virtualize", "--repo", str(repo)]
    started = time.monotonic()
    subprocess.run([*cli, str(series[0])], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    full = time.monotonic() - started
    outcomes = []
    for trial in range(1, 11):
        target = series[trial]
        proc = subprocess.Popen([*cli, str(target), "--append"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(rng.uniform(0.3, 1.0) * full)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        stored = _stored(repo)
        assert stored is not None
        n = stored.sizes["time"] // fixtures.N_TIME
        assert n in (trial, trial + 1), (trial, n)
        _assert_holds(stored, series[:n])  # old or complete, never a half state
        outcomes.append(("killed" if proc.returncode == -signal.SIGKILL else "finished", n > trial))
        result = virtualize([target], repo, append=True)  # the rerun
        assert result.skipped == ([target.as_uri()] if n > trial else [])
    # a first write (plain virtualize) killed too: no data or all of it; the rerun writes or finds it complete
    fresh = tmp_path / "fresh"
    proc = subprocess.Popen([*cli[:-1], str(fresh), *map(str, series[:2])], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        proc.wait(rng.uniform(0.5, 1.0) * full)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    stored = _stored(fresh)
    if stored is None:
        virtualize(series[:2], fresh)
    else:
        _assert_holds(stored, series[:2])
        assert virtualize(series[:2], fresh, append=True).skipped == [f.as_uri() for f in series[:2]]
    _assert_holds(_stored(fresh), series[:2])
    _assert_holds(_stored(repo), series[:11])
    report = verify(repo)
    assert report.ok, report.format_table()
    assert sum(1 for how, _ in outcomes if how == "killed") >= 3, outcomes  # the seeds do kill mid-run


# --------------------------------------------------------------------------- the S3 server stopped mid-write


@pytest.mark.s3
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_s3_server_stopped_mid_write_commits_nothing(tmp_path: Path, series: list[Path]) -> None:
    from moto.server import ThreadedMotoServer

    from tests.plugins.servers import boto_client, free_port, repo_storage, wait_http

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_http(port, "/moto-api/")
    endpoint = f"http://127.0.0.1:{port}"
    bucket = f"vz-stop-{random.Random(1).randrange(10**8)}"
    boto_client(endpoint).create_bucket(Bucket=bucket)
    storage = repo_storage(endpoint, bucket, "repo")
    virtualize(series[:1], storage)
    tip = icechunk.Repository.open(storage).lookup_branch("main")
    state = {"stopped": False}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 0 and not state["stopped"]:
            server.stop()
            state["stopped"] = True

    started = time.monotonic()
    try:
        with pytest.raises(VirtualizeError) as info:
            virtualize(series[1:2], storage, append=True, progress=progress)
        assert time.monotonic() - started < 120  # icechunk's own retries (about 20 s), then one line
        message = str(info.value)
        assert "\n" not in message and message.startswith("write failed, nothing committed: "), message
        assert message.endswith("-> the repository storage could not be reached; the branch tip is unchanged: rerun when it is up")
    finally:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)  # same state (in-process)
        server.start()
        wait_http(port, "/moto-api/")
    try:
        assert icechunk.Repository.open(storage).lookup_branch("main") == tip  # nothing committed
        virtualize(series[1:2], storage, append=True)  # the rerun lands
        _assert_holds(_stored(storage), series[:2])
    finally:
        server.stop()


# --------------------------------------------------------------------------- a flaky HTTP source


@pytest.mark.http
@pytest.mark.parametrize("seed", [3, 5])
def test_http_source_failing_some_requests_is_retried(tmp_path: Path, http_base_url: str, loopback_proxy,
                                                     data_dir: Path, seed: int) -> None:
    """the first request and 40 % of the others answered 503, 20 % reset: obstore's retries carry the write; values equal the files."""
    proxy = loopback_proxy(http_base_url, fail_rate=0.4, reset_rate=0.2, seed=seed, fail_first=1)
    urls = [f"{proxy.url}/series/temp_00{i}.nc" for i in range(3)]
    result = virtualize(urls, tmp_path / "repo")
    assert result.n_files == 3
    outcomes = {r.outcome for r in proxy.log}
    assert "failed" in outcomes, proxy.log  # faults were injected (and survived)
    proxy.fail_rate = proxy.reset_rate = 0.0  # read back through the same proxy, now healthy
    _assert_holds(_stored(tmp_path / "repo"), sorted((data_dir / "series").glob("temp_00[0-2].nc")))


@pytest.mark.http
def test_http_source_failing_every_request_is_one_line(tmp_path: Path, http_base_url: str, loopback_proxy) -> None:
    proxy = loopback_proxy(http_base_url, fail_rate=1.0, seed=1)
    with pytest.raises(VirtualizeError) as info:
        virtualize([f"{proxy.url}/series/temp_000.nc"], tmp_path / "repo")
    message = str(info.value)
    assert "\n" not in message and "temp_000.nc" in message and " -> " in message, message
    assert _stored(tmp_path / "repo") is None


@pytest.mark.http
def test_http_server_refusing_head_still_writes_and_guards(tmp_path: Path, series: list[Path]) -> None:
    """A server answering HEAD with 405: the pre-commit confirmation falls back to a 1-byte GET (no false alarm),
    and a file deleted before the commit is still caught."""
    import threading

    from werkzeug.serving import make_server
    from werkzeug.utils import send_from_directory
    from werkzeug.wrappers import Request, Response

    root = tmp_path / "www"
    root.mkdir()
    for f in series[:2]:
        (root / f.name).write_bytes(f.read_bytes())

    def app(environ, start_response):
        request = Request(environ)
        if request.method == "HEAD":
            return Response("no HEAD here", status=405)(environ, start_response)
        try:
            response = send_from_directory(root, request.path.lstrip("/"), environ, conditional=True)
        except Exception:  # noqa: BLE001 - werkzeug's NotFound
            response = Response("not found", status=404)
        return response(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        urls = [f"{base}/{f.name}" for f in series[:2]]
        virtualize(urls[:1], tmp_path / "repo")

        def progress(stage: str, done: int, total: int) -> None:
            if stage == "write" and done == 0:
                (root / series[1].name).unlink()

        with pytest.raises(VirtualizeError, match=r"^temp_001\.nc: the source disappeared while writing, nothing committed"):
            virtualize(urls[1:], tmp_path / "repo", append=True, progress=progress)
        _assert_holds(_stored(tmp_path / "repo"), series[:1])  # the first write (HEAD refused) landed; nothing since
    finally:
        server.shutdown()
        thread.join(10)
