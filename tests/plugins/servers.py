"""Loopback servers for the remote-source tests and the doc tests (session scope).

Fixtures (names are a contract; doc tests use them by name)::

    s3_endpoint       "http://127.0.0.1:PORT"  moto ThreadedMotoServer (conditional writes enforced)
    s3_data_bucket    bucket name; series files uploaded as series/temp_000.nc ... (private)
    s3_public_bucket  bucket name; same files, anonymous read allowed by a bucket policy
    make_bucket       callable -> a new, empty bucket name on every call
    http_base_url     "http://127.0.0.1:PORT"  Range-capable server, document root = data_dir
    s3_client         boto3 S3 client for the moto server (test credentials, path-style)

HTTP server: nginx (``apt-get install -y --no-install-recommends nginx-light``) run as a
subprocess with a generated config; falls back to a werkzeug ``send_from_directory(...,
conditional=True)`` server when nginx is missing (or when ``VZSKILL_HTTP_SERVER=werkzeug``).
Python's ``http.server`` is never used: it has no Range support.

Everything listens on 127.0.0.1 only. A socket audit hook makes any Python-level connection
to a non-loopback address fail loudly (Rust clients - obstore, icechunk - are not covered by
it; for a hard guarantee run the suite in a network namespace with only ``lo``:
``unshare -n sh -c 'ip link set lo up && .venv/bin/pytest'``).
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET

REGION = "us-east-1"
READY_TIMEOUT = 15.0  # seconds; servers here start in well under 1 s


# --------------------------------------------------------------------------- loopback guard


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a hostname other than localhost: it would need DNS, i.e. the network


def _audit(event: str, args: tuple) -> None:
    if event != "socket.connect":
        return
    sock, address = args[0], args[1]
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    if isinstance(address, tuple) and address and not _is_loopback(address[0]):
        raise ConnectionRefusedError(
            f"test run tried to connect to {address[0]}:{address[1] if len(address) > 1 else ''}; "
            "only 127.0.0.0/8 is allowed -> pass the loopback endpoint (s3_endpoint / http_base_url) explicitly"
        )


if not getattr(sys, "_vzskill_loopback_guard", False):
    sys.addaudithook(_audit)
    sys._vzskill_loopback_guard = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str = "/", timeout: float = READY_TIMEOUT, alive: Callable[[], bool] | None = None) -> None:
    """Wait until ``GET path`` on 127.0.0.1:port answers (any status), bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"server on 127.0.0.1:{port} exited during startup")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError as exc:
            last = exc
            time.sleep(0.02)
    raise TimeoutError(f"server on 127.0.0.1:{port} not ready after {timeout:.0f} s: {last}")


def boto_client(endpoint: str):
    """boto3 S3 client for a loopback endpoint: explicit test credentials, path-style."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=TEST_KEY_ID,
        aws_secret_access_key=TEST_SECRET,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def upload_dir(client, bucket: str, root: Path, sub: str, acl: str | None = None) -> list[str]:
    """Upload ``root/sub/*`` as ``sub/<name>``; returns the keys."""
    keys = []
    extra = {"ACL": acl} if acl else None
    for path in sorted((root / sub).iterdir()):
        if path.is_file():
            key = f"{sub}/{path.name}"
            client.upload_file(str(path), bucket, key, ExtraArgs=extra)
            keys.append(key)
    return keys


def public_read_policy(bucket: str) -> str:
    import json

    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
                {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
            ],
        }
    )


# --------------------------------------------------------------------------- S3 (moto)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        wait_http(port, "/moto-api/")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str):
    return boto_client(s3_endpoint)


@pytest.fixture(scope="session")
def make_bucket(s3_client) -> Callable[[], str]:
    def _make(prefix: str = "vz") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        s3_client.create_bucket(Bucket=name)
        return name

    return _make


@pytest.fixture(scope="session")
def s3_data_bucket(s3_client, data_dir: Path) -> str:
    bucket = "vz-data"
    s3_client.create_bucket(Bucket=bucket)
    upload_dir(s3_client, bucket, data_dir, "series")
    return bucket


@pytest.fixture(scope="session")
def s3_public_bucket(s3_client, data_dir: Path) -> str:
    bucket = "vz-public"
    s3_client.create_bucket(Bucket=bucket)
    # public-read object ACLs as well: moto checks HEAD against an "s3:HeadObject" action, which
    # a standard public-read policy (s3:GetObject, which covers HEAD on AWS) does not name
    upload_dir(s3_client, bucket, data_dir, "series", acl="public-read")
    s3_client.put_bucket_policy(Bucket=bucket, Policy=public_read_policy(bucket))
    return bucket


# --------------------------------------------------------------------------- HTTP (nginx / werkzeug)

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ autoindex on; }}
    }}
}}
"""


def nginx_binary() -> str | None:
    if os.environ.get("VZSKILL_HTTP_SERVER") == "werkzeug":
        return None
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def _start_nginx(binary: str, root: Path, tmp: Path) -> tuple[subprocess.Popen, int]:
    user = "user root;" if os.geteuid() == 0 else ""
    last: Exception | None = None
    for _attempt in range(3):  # the free port may be taken between probe and bind: retry
        port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, port=port, root=root))
        proc = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(port, alive=lambda: proc.poll() is None)
            return proc, port
        except (RuntimeError, TimeoutError) as exc:
            last = exc
            proc.kill()
            proc.wait(5)
    log = (tmp / "error.log").read_text() if (tmp / "error.log").exists() else ""
    raise RuntimeError(f"nginx did not start: {last}\n{log[-2000:]}")


def _start_werkzeug(root: Path):
    from werkzeug.exceptions import HTTPException
    from werkzeug.serving import make_server
    from werkzeug.utils import send_from_directory
    from werkzeug.wrappers import Request

    def app(environ, start_response):
        request = Request(environ)
        try:
            response = send_from_directory(root, request.path.lstrip("/") or ".", environ, conditional=True)
        except HTTPException as exc:
            response = exc.get_response(environ)
        except (IsADirectoryError, PermissionError):
            from werkzeug.wrappers import Response

            response = Response("directory", status=200)
        return response(environ, start_response)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="session")
def http_server_kind() -> str:
    """'nginx' or 'werkzeug': which Range server ``http_base_url`` runs."""
    return "nginx" if nginx_binary() else "werkzeug"


@pytest.fixture(scope="session")
def http_base_url(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, http_server_kind: str) -> Iterator[str]:
    root = Path(data_dir).resolve()
    if http_server_kind == "nginx":
        tmp = tmp_path_factory.mktemp("nginx")
        proc, port = _start_nginx(nginx_binary(), root, tmp)  # type: ignore[arg-type]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    else:
        server, thread = _start_werkzeug(root)
        port = server.server_port
        try:
            wait_http(port)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.shutdown()
            thread.join(10)


# --------------------------------------------------------------------------- helpers for the backend tests


def repo_storage(endpoint: str, bucket: str, prefix: str):
    """An icechunk repository storage in the loopback S3 server (all required arguments in one place)."""
    import icechunk

    return icechunk.s3_storage(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        region=REGION,
        allow_http=True,
        force_path_style=True,
        access_key_id=TEST_KEY_ID,
        secret_access_key=TEST_SECRET,
    )


def local_series(paths) -> "xr.Dataset":  # noqa: F821
    """The local files concatenated along time, loaded (the reference for every read-back)."""
    import xarray as xr

    parts = [xr.open_dataset(p, engine="h5netcdf").load() for p in paths]
    return xr.concat(parts, dim="time", coords="minimal", compat="override", combine_attrs="override")


def assert_same_values(actual, expected, variables=("temperature", "precipitation")) -> None:
    """Every data variable and the time axis of ``actual`` equal ``expected`` (numpy, exact)."""
    import numpy as np

    assert actual.sizes == expected.sizes, (dict(actual.sizes), dict(expected.sizes))
    for name in variables:
        np.testing.assert_array_equal(actual[name].values, expected[name].values, err_msg=name)
    np.testing.assert_array_equal(actual["time"].values, expected["time"].values, err_msg="time")
