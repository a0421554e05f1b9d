"""6. Remote sources behind a latency proxy: requests per file and wall time, three tools.

Servers on 127.0.0.1: nginx (Range; werkzeug when nginx is missing) serving the files, and moto
S3 (its own process) with the same files uploaded. Each sits behind :class:`benchmarks.proxy_process.ProcessProxy` (the
latency proxy in its own process, so it does not wait for the measured client's GIL), which
adds ``delay`` seconds to EVERY request (20 and 50 ms; new connections are not delayed, so moto's
one-connection-per-request does not count twice). Per backend and delay, interleaved:

* ``plain_serial`` - ``open_virtual_mfdataset(parser=HDFParser())`` -> ``to_icechunk`` -> commit
  (what the VirtualiZarr docs show; serial);
* ``vzskill_serial`` - ``vzskill.write.virtualize(parallel="serial")`` (parse once, check, write,
  commit): the request savings alone;
* ``vzskill_auto`` - ``virtualize(parallel="auto")`` (what ``vzskill virtualize`` does);
* ``kerchunk`` - ``SingleHdf5ToZarr`` per file (fsspec HTTP) + ``MultiZarrToZarr`` + JSON written;
  on S3 through the objects' path-style HTTP URLs (anonymous GETs on a public-read bucket: the
  installed s3fs is too old for this fsspec).

Repositories are created outside the timed part. The proxy counts every request (HEAD and GET
alike), reported per file. The same tools also run on local files (500 in full mode:
``--parallel auto`` picks forkserver processes there). ``VZSKILL_BENCH_REMOTE_FILES=N`` sets the
number of remote files (default 100), ``VZSKILL_BENCH_LOCAL_FILES=N`` the local ones (0: no local part).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from benchmarks.proxy_process import ProcessProxy  # noqa: E402

NAME = "remote"
KEY_ID, SECRET = "testing", "testing"  # moto's fake credentials (never real ones)


# ------------------------------------------------------------------------------ servers


def _http_server(root: Path, stack: ExitStack) -> tuple[str, int]:
    """nginx (or werkzeug) serving ``root``: (kind, port)."""
    from tests.plugins import servers

    binary = servers.nginx_binary()
    if binary:
        tmp = Path(tempfile.mkdtemp(prefix="nginx-", dir=common.scratch_dir()))
        proc, port = servers._start_nginx(binary, root, tmp)
        stack.callback(lambda: (proc.terminate(), proc.wait(10)))
        return "nginx", port
    server, thread = servers._start_werkzeug(root)
    stack.callback(lambda: (server.shutdown(), thread.join(10)))
    return "werkzeug", server.server_port


def _s3_server(paths: list[Path], stack: ExitStack) -> tuple[int, str]:
    """moto in its own process (its Python must not share the GIL with the measured client), the
    files in a public-read bucket: (port, bucket)."""
    import subprocess

    import boto3

    from tests.plugins import servers

    port = servers.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.callback(lambda: (proc.terminate(), proc.wait(10)))
    servers.wait_http(port, "/moto-api/", alive=lambda: proc.poll() is None)
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    bucket = "bench-remote"
    client.create_bucket(Bucket=bucket)
    for p in paths:
        client.upload_file(str(p), bucket, f"{p.parent.name}/{p.name}", ExtraArgs={"ACL": "public-read"})
    return port, bucket


# ------------------------------------------------------------------------------ the three tools


class Backend:
    """URLs, a plain registry, vzskill Access and kerchunk URLs for one proxied server."""

    def __init__(self, name: str, proxy: ProcessProxy, names: list[str], bucket: str | None = None) -> None:
        from obspec_utils.registry import ObjectStoreRegistry
        from obstore.store import HTTPStore, S3Store

        from vzskill.sources import Access

        self.name, self.proxy = name, proxy
        if bucket is None:
            self.urls = [f"{proxy.url}/{n}" for n in names]
            self.kerchunk_urls = self.urls
            self.access = Access(allow_http=True)
            self.registry = ObjectStoreRegistry({proxy.url: HTTPStore.from_url(proxy.url, client_options={"allow_http": True})})
        else:
            self.urls = [f"s3://{bucket}/{n}" for n in names]
            self.kerchunk_urls = [f"{proxy.url}/{bucket}/{n}" for n in names]
            self.access = Access(endpoint=proxy.url, region="us-east-1", access_key_id=KEY_ID, secret_access_key=SECRET)
            store = S3Store(bucket, endpoint=proxy.url, region="us-east-1", access_key_id=KEY_ID,
                            secret_access_key=SECRET, client_options={"allow_http": True}, virtual_hosted_style_request=False)
            self.registry = ObjectStoreRegistry({f"s3://{bucket}": store})


def _fresh_repo(urls: list[str], access: Any, tag: str) -> Any:
    """A new, empty local repository whose containers cover ``urls`` (outside the timed part)."""
    import icechunk

    from vzskill.containers import create_repo

    where = Path(tempfile.mkdtemp(prefix=f"remote-{tag}-", dir=common.scratch_dir()))
    storage = icechunk.local_filesystem_storage(str(where))
    return create_repo(storage, urls, access), storage, where


def plain(urls: list[str], registry: Any, repo: Any) -> None:
    import virtualizarr as vz
    from virtualizarr.parsers import HDFParser

    vds = vz.open_virtual_mfdataset(urls, registry=registry, parser=HDFParser(), combine="nested",
                                    concat_dim="time", coords="minimal", compat="override")
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("plain")


def vzskill_write(urls: list[str], storage: Any, access: Any, parallel: str) -> None:
    from vzskill.write import virtualize

    virtualize(urls, storage, concat_dim="time", access=access, parallel=parallel, message="vzskill")


def kerchunk(urls: list[str], out: Path, storage_options: dict[str, Any] | None = None) -> None:
    import fsspec
    from kerchunk.combine import MultiZarrToZarr
    from kerchunk.hdf import SingleHdf5ToZarr

    refs = []
    for url in urls:
        with fsspec.open(url, "rb", **(storage_options or {})) as f:
            refs.append(SingleHdf5ToZarr(f, url).translate())
    combined = MultiZarrToZarr(refs, concat_dims=["time"], identical_dims=["lat", "lon"],
                               remote_protocol=None if "://" not in urls[0] else urls[0].split("://")[0]).translate()
    out.write_text(json.dumps(combined))


# ------------------------------------------------------------------------------ measurement


def _cases(backend: Backend, n: int, counts: dict[str, list[float]], tmp: Path) -> dict[str, Callable[[], float]]:
    def counted(name: str, prepare: Callable[[], Callable[[], None]]) -> Callable[[], float]:
        def case() -> float:
            job = prepare()  # repository creation etc.: not timed, not counted
            backend.proxy.reset_counts()
            t0 = time.perf_counter()
            job()
            dt = time.perf_counter() - t0
            counts.setdefault(name, []).append(backend.proxy.requests / n)
            return dt

        return case

    def plain_job() -> Callable[[], None]:
        repo, _storage, _ = _fresh_repo(backend.urls, backend.access, "plain")
        return lambda: plain(backend.urls, backend.registry, repo)

    def vz_job(parallel: str) -> Callable[[], Callable[[], None]]:
        def prepare() -> Callable[[], None]:
            _repo, storage, _ = _fresh_repo(backend.urls, backend.access, "vz")
            return lambda: vzskill_write(backend.urls, storage, backend.access, parallel)

        return prepare

    def kerchunk_job() -> Callable[[], None]:
        return lambda: kerchunk(backend.kerchunk_urls, tmp / "combined.json")

    return {
        "plain_serial": counted("plain_serial", plain_job),
        "vzskill_serial": counted("vzskill_serial", vz_job("serial")),
        "vzskill_auto": counted("vzskill_auto", vz_job("auto")),
        "kerchunk": counted("kerchunk", kerchunk_job),
    }


def _local_cases(paths: list[Path], tmp: Path) -> dict[str, Callable[[], float]]:
    urls = common.urls_for(paths)
    registry = common.registry_for(paths)

    def timed(prepare: Callable[[], Callable[[], None]]) -> Callable[[], float]:
        def case() -> float:
            job = prepare()
            t0 = time.perf_counter()
            job()
            return time.perf_counter() - t0

        return case

    def plain_job() -> Callable[[], None]:
        repo, _s, _ = _fresh_repo(urls, None, "lplain")
        return lambda: plain(urls, registry, repo)

    def vz_job(parallel: str) -> Callable[[], Callable[[], None]]:
        def prepare() -> Callable[[], None]:
            _r, storage, _ = _fresh_repo(urls, None, "lvz")
            return lambda: vzskill_write(urls, storage, None, parallel)

        return prepare

    return {
        "plain_serial": timed(plain_job),
        "vzskill_serial": timed(vz_job("serial")),
        "vzskill_auto": timed(vz_job("auto")),
        "kerchunk": timed(lambda: (lambda: kerchunk([str(p) for p in paths], tmp / "local.json"))),
    }


def _record(res: dict[str, Any], key: str, samples: dict[str, list[Any]], counts: dict[str, list[float]] | None) -> None:
    res["results"].update({f"{key}:{k}": v for k, v in common.summarize(samples).items()})
    r = res["ratios"]
    r[f"remote_speedup_vs_plain_serial.{key}"] = common.paired_ratio(samples, "plain_serial", "vzskill_auto")
    r[f"serial_speedup_vs_plain_serial.{key}"] = common.paired_ratio(samples, "plain_serial", "vzskill_serial")
    r[f"speed_vs_kerchunk.{key}"] = common.paired_ratio(samples, "kerchunk", "vzskill_auto")
    r[f"plain_serial_vs_kerchunk.{key}"] = common.paired_ratio(samples, "kerchunk", "plain_serial")
    if counts:
        for case, per_file in counts.items():
            r[f"requests_per_file.{key}.{case}"] = max(per_file)


def run(quick: bool = False, n_files: int | None = None, reps: int | None = None,
        delays: tuple[float, ...] | None = None, local_files: int | None = None) -> dict:
    common.quiet_warnings()
    n = n_files or int(os.environ.get("VZSKILL_BENCH_REMOTE_FILES", 0)) or (8 if quick else 100)
    n_local = local_files if local_files is not None else int(os.environ.get("VZSKILL_BENCH_LOCAL_FILES", 8 if quick else 500))
    reps = reps or (1 if quick else 2)
    delays = delays or ((0.02,) if quick else (0.02, 0.05))
    t0 = time.perf_counter()
    paths = common.series_files(n)
    gen = time.perf_counter() - t0
    names = [f"{p.parent.name}/{p.name}" for p in paths]  # relative to the HTTP root
    tmp = Path(tempfile.mkdtemp(prefix="remote-", dir=common.scratch_dir()))
    res: dict[str, Any] = {"name": NAME, "params": {"n_files": n, "reps": reps, "delays_ms": [d * 1000 for d in delays],
                                                  "file_kb": round(paths[0].stat().st_size / 1024, 1)},
                           "results": {}, "ratios": {}, "targets": {}, "generation_s": gen}
    import kerchunk.hdf  # noqa: F401 - imports outside the timed part
    import virtualizarr  # noqa: F401

    import vzskill.write  # noqa: F401

    with ExitStack() as stack:
        kind, http_port = _http_server(paths[0].parent.parent, stack)
        s3_port, bucket = _s3_server(paths, stack)
        res["params"]["http_server"] = kind
        for delay in delays:
            for backend_name, port, bkt in (("http", http_port, None), ("s3", s3_port, bucket)):
                proxy = stack.enter_context(ProcessProxy("127.0.0.1", port, delay_s=delay, connect_delay_s=0.0))
                backend = Backend(backend_name, proxy, names, bkt)
                key = f"{backend_name}_{int(delay * 1000)}ms"
                common.log(f"  [{NAME}] {key}: {n} files, {reps} rep(s)")
                counts: dict[str, list[float]] = {}
                samples = common.interleaved(_cases(backend, n, counts, tmp), reps, warmup=False, log=common.log)
                _record(res, key, samples, counts)
        _large_requests(res, stack, quick)
        res["params"]["local_files"] = n_local
        if n_local:
            _run_local(res, common.series_files(n_local), tmp, reps, quick)
    shutil.rmtree(tmp, ignore_errors=True)
    _targets(res, delays)
    return res


def _large_requests(res: dict[str, Any], stack: ExitStack, quick: bool) -> None:
    """Requests per file (no timing) for files bigger than the first block: ``read_files`` with 64
    time steps (~5 MB, 256 chunks of ``tas``), over HTTP, plain VirtualiZarr vs vzskill parse."""
    from vzskill.parse import parse_files

    paths = common.read_files(2 if quick else 4, nt=64)
    _kind, port = _http_server(paths[0].parent.parent, stack)
    proxy = stack.enter_context(ProcessProxy("127.0.0.1", port))
    backend = Backend("http", proxy, [f"{p.parent.name}/{p.name}" for p in paths])
    key = f"large_{paths[0].stat().st_size / 1e6:.1f}MB"
    res["params"]["large_file_mb"] = round(paths[0].stat().st_size / 1e6, 2)
    import virtualizarr as vz
    from virtualizarr.parsers import HDFParser

    proxy.reset_counts()
    for url in backend.urls:
        vz.open_virtual_dataset(url, registry=backend.registry, parser=HDFParser())
    res["ratios"][f"requests_per_file.{key}.plain_parse"] = proxy.requests / len(paths)
    proxy.reset_counts()
    parsed = parse_files(backend.urls, access=backend.access)
    assert all(p.ok for p in parsed), [p.error for p in parsed]
    res["ratios"][f"requests_per_file.{key}.vzskill_parse"] = proxy.requests / len(paths)


def _run_local(res: dict[str, Any], local: list[Path], tmp: Path, reps: int, quick: bool) -> None:
    common.log(f"  [{NAME}] local: {len(local)} files")
    samples = common.interleaved(_local_cases(local, tmp), reps, warmup=not quick, log=common.log)
    _record(res, "local", samples, None)
    r = res["ratios"]
    r.pop("remote_speedup_vs_plain_serial.local", None)
    r["local_speedup_vs_plain_serial"] = common.paired_ratio(samples, "plain_serial", "vzskill_auto")
    r["local_auto_vs_serial"] = common.paired_ratio(samples, "vzskill_serial", "vzskill_auto")
    res["targets"]["local --parallel auto vs serial (vzskill virtualize)"] = {
        "value": r["local_auto_vs_serial"], "target": ">= 1.8 (500 files)", "met": r["local_auto_vs_serial"] >= 1.8}


def _targets(res: dict[str, Any], delays: tuple[float, ...]) -> None:
    r, t = res["ratios"], res["targets"]
    for backend in ("http", "s3"):
        for delay in delays:
            key = f"{backend}_{int(delay * 1000)}ms"
            t[f"{key} vzskill virtualize speed vs plain serial"] = {
                "value": r[f"remote_speedup_vs_plain_serial.{key}"], "target": ">= 10", "met": r[f"remote_speedup_vs_plain_serial.{key}"] >= 10}
            t[f"{key} requests per small file"] = {
                "value": r[f"requests_per_file.{key}.vzskill_auto"], "target": "<= 2", "met": r[f"requests_per_file.{key}.vzskill_auto"] <= 2}
            t[f"{key} speed vs kerchunk"] = {
                "value": r[f"speed_vs_kerchunk.{key}"], "target": ">= 1.0", "met": r[f"speed_vs_kerchunk.{key}"] >= 1.0}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1, default=str))
