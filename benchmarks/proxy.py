"""A loopback TCP proxy that adds latency and faults to HTTP traffic (thread-run asyncio).

There is no netem on the benchmark machines, so latency comes from here: every HTTP request that
goes through the proxy waits ``delay_s`` before it is forwarded (a new connection waits
``connect_delay_s`` too, by default the same: the TCP handshake costs a round trip). The proxy
reads the client's byte stream as HTTP/1.1 (request line, headers, ``Content-Length`` or chunked
body; several requests per keep-alive connection), so it counts requests exactly and can fail
single requests:

* ``fail_rate``: the request is not forwarded; the client gets ``503 Service Unavailable``
  (``fail_status`` to choose another code);
* ``reset_rate``: the connection is reset (TCP RST) instead of forwarding the request.

Decisions use ``random.Random(seed)``: the same seed and the same request order give the same
faults. ``fail_first=N`` fails exactly the first N requests (deterministic retry tests).

    >>> with LoopbackProxy("127.0.0.1", port, delay_s=0.025) as proxy:   # doctest: +SKIP
    ...     url = f"{proxy.url}/series/temp_000.nc"                       # through the proxy
    ...     ...
    ...     proxy.requests, proxy.connections, proxy.methods["HEAD"]

Non-HTTP traffic (a first line that is not a request line) is passed through unchanged and not
counted. ``GET /__proxy__/stats`` and ``/__proxy__/reset`` are answered by the proxy itself (JSON
counters); :class:`benchmarks.proxy_process.ProcessProxy` runs this proxy in its own process and
reads them that way.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["CONTROL", "LoopbackProxy", "RequestRecord"]

CONTROL = "/__proxy__/"  # requests to this path are answered by the proxy itself (not counted)

_METHODS = (b"GET", b"HEAD", b"PUT", b"POST", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE")
_MAX_HEAD = 256 * 1024


@dataclass(frozen=True)
class RequestRecord:
    """One request seen by the proxy: method, target (path + query), Range header, what happened."""

    method: str
    target: str
    range: str | None
    outcome: str  # "forwarded", "failed" (status sent by the proxy) or "reset"


class _Stream:
    """Buffered reads (exact length / up to a delimiter) over an asyncio StreamReader."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buf = bytearray()

    async def fill(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            return False
        self.buf += data
        return True

    async def until(self, delim: bytes, limit: int = _MAX_HEAD) -> bytes | None:
        """Bytes up to and including ``delim``; None on EOF or when ``limit`` is passed."""
        while True:
            idx = self.buf.find(delim)
            if idx >= 0:
                out = bytes(self.buf[: idx + len(delim)])
                del self.buf[: idx + len(delim)]
                return out
            if len(self.buf) > limit or not await self.fill():
                return None

    async def take(self, n: int) -> bytes | None:
        """Up to ``n`` bytes (at least one); None on EOF."""
        if not self.buf and not await self.fill():
            return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]] | None:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] not in _METHODS or not parts[2].startswith(b"HTTP/"):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return parts[0].decode(), parts[1].decode("latin-1"), headers


class LoopbackProxy:
    """Proxy ``127.0.0.1:<port>`` -> ``target_host:target_port`` with latency, 5xx and resets.

    Parameters
    ----------
    target_host, target_port
        The server behind the proxy (nginx, werkzeug, moto...).
    delay_s
        Seconds every request waits before it is forwarded (one simulated round trip).
    fail_rate
        Probability that a request is answered ``fail_status`` by the proxy instead.
    reset_rate
        Probability that the connection is reset (RST) instead of forwarding a request.
    seed
        Seed of the fault decisions.
    connect_delay_s
        Seconds a new connection waits before it is connected upstream (default ``delay_s``).
    fail_status
        HTTP status of the failed requests (default 503).
    fail_first
        Fail exactly the first ``fail_first`` requests (after that, ``fail_rate`` applies).

    Attributes
    ----------
    port, url
        Where clients connect (``url`` = ``"http://127.0.0.1:<port>"``).
    connections, requests
        Accepted connections and HTTP requests seen (failed and reset ones included).
    methods
        ``Counter`` of request methods.
    log
        Every request as a :class:`RequestRecord`, in arrival order.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        delay_s: float = 0.0,
        fail_rate: float = 0.0,
        reset_rate: float = 0.0,
        seed: int = 0,
        connect_delay_s: float | None = None,
        fail_status: int = 503,
        fail_first: int = 0,
    ) -> None:
        self.target_host = target_host
        self.target_port = int(target_port)
        self.delay_s = float(delay_s)
        self.connect_delay_s = self.delay_s if connect_delay_s is None else float(connect_delay_s)
        self.fail_rate = float(fail_rate)
        self.reset_rate = float(reset_rate)
        self.fail_status = int(fail_status)
        self.fail_first = int(fail_first)
        self._rng = random.Random(seed)
        self.port = 0
        self.connections = 0
        self.requests = 0
        self.methods: Counter[str] = Counter()
        self.log: list[RequestRecord] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset_counts(self) -> None:
        """Zero ``connections``, ``requests``, ``methods`` and ``log`` (between measurements)."""
        self.connections = self.requests = 0
        self.methods = Counter()
        self.log = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "LoopbackProxy":
        """Start the proxy thread; returns when it listens."""
        self._thread = threading.Thread(target=self._run, name=f"loopback-proxy-{self.target_port}", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None or not self.port:
            raise RuntimeError(f"loopback proxy did not start: {self._error!r}")
        return self

    def close(self) -> None:
        """Stop listening, drop open connections, join the thread."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    def __enter__(self) -> "LoopbackProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    # ------------------------------------------------------------------ per connection

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            if self.connect_delay_s:
                await asyncio.sleep(self.connect_delay_s)
            up_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
            back = asyncio.ensure_future(self._pipe(up_reader, writer))
            try:
                await self._requests(_Stream(reader), writer, upstream_writer)
            finally:
                if not back.done():
                    try:
                        upstream_writer.write_eof()
                    except (OSError, RuntimeError):
                        pass
                    await asyncio.wait([back], timeout=30)
                back.cancel()
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client or the server went away, or the proxy is closing
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            pass

    def _admit(self, method: str, target: str, headers: dict[str, str]) -> str:
        """Count and log one request; its outcome ("forwarded", "failed", "reset")."""
        self.requests += 1
        self.methods[method] += 1
        outcome = self._decide()
        self.log.append(RequestRecord(method, target, headers.get("range"), outcome))
        return outcome

    def _decide(self) -> str:
        if self.requests <= self.fail_first:
            return "failed"
        roll = self._rng.random()
        if roll < self.reset_rate:
            return "reset"
        if roll < self.reset_rate + self.fail_rate:
            return "failed"
        return "forwarded"

    async def _requests(self, client: _Stream, writer: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        while True:
            head = await client.until(b"\r\n\r\n")
            if head is None:
                if client.buf:
                    upstream.write(bytes(client.buf))
                return
            parsed = _parse_head(head)
            if parsed is None:  # not HTTP: raw pass-through from here on
                await _raw(client, head, upstream)
                return
            method, target, headers = parsed
            if target.startswith(CONTROL):
                await self._control(target, writer)
                continue
            outcome = self._admit(method, target, headers)
            if outcome != "forwarded":
                if not await self._refuse(outcome, client, writer, headers):
                    return
                continue
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            upstream.write(head)
            if not await _body(client, headers, upstream.write):
                return
            await upstream.drain()

    async def _refuse(self, outcome: str, client: _Stream, writer: asyncio.StreamWriter, headers: dict[str, str]) -> bool:
        """A reset or an injected status instead of forwarding; False = the connection is gone."""
        if outcome == "reset":
            _reset(writer)
            return False
        return await self._fail(client, writer, headers)

    async def _control(self, target: str, writer: asyncio.StreamWriter) -> None:
        """``GET /__proxy__/stats`` (counters as JSON) or ``/__proxy__/reset`` (zero them, then stats)."""
        if target.startswith(CONTROL + "reset"):
            self.reset_counts()
        body = json.dumps(self.stats()).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()

    def stats(self) -> dict[str, Any]:
        """The counters as plain data (what ``/__proxy__/stats`` returns)."""
        return {"requests": self.requests, "connections": self.connections, "methods": dict(self.methods),
                "log": [[r.method, r.target, r.range, r.outcome] for r in self.log]}

    async def _fail(self, client: _Stream, writer: asyncio.StreamWriter, headers: dict[str, str]) -> bool:
        """Answer ``fail_status`` (the request's body is read and dropped); False = connection closed."""
        has_body = "chunked" in headers.get("transfer-encoding", "").lower() or int(headers.get("content-length") or 0) > 0
        close = has_body and "100-continue" in headers.get("expect", "").lower()
        if not close and not await _body(client, headers, lambda _data: None):
            return False
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        body = f"loopback proxy: injected {self.fail_status}\n".encode()
        writer.write(
            f"HTTP/1.1 {self.fail_status} Injected Failure\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {'close' if close else 'keep-alive'}\r\n\r\n".encode() + body
        )
        await writer.drain()
        return not close


async def _raw(client: _Stream, head: bytes, upstream: asyncio.StreamWriter) -> None:
    upstream.write(head + bytes(client.buf))
    client.buf.clear()
    while data := await client.take(65536):
        upstream.write(data)
        await upstream.drain()


async def _body(client: _Stream, headers: dict[str, str], write: Any) -> bool:
    """Pass one request body to ``write`` (Content-Length or chunked); False on EOF mid-body."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = await client.until(b"\r\n")
            if line is None:
                return False
            write(line)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, up to the empty line
                    trailer = await client.until(b"\r\n")
                    if trailer is None:
                        return False
                    write(trailer)
                    if trailer == b"\r\n":
                        return True
            if not await _exact(client, size + 2, write):
                return False
    return await _exact(client, int(headers.get("content-length") or 0), write)


async def _exact(client: _Stream, n: int, write: Any) -> bool:
    while n > 0:
        data = await client.take(n)
        if data is None:
            return False
        write(data)
        n -= len(data)
    return True


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()

