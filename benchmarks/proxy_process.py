"""The latency proxy in its own process: :class:`ProcessProxy`, and the server entry point.

    python benchmarks/proxy_process.py HOST PORT --delay 0.02     # prints the port, serves until killed

A thread-run :class:`benchmarks.proxy.LoopbackProxy` shares the GIL with the client it measures;
when that client keeps the GIL busy (threads parsing files), every forwarded request waits for it.
Measurements therefore run the proxy here, in a separate process, and read its counters over the
``/__proxy__/`` control path.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.proxy import CONTROL, LoopbackProxy, RequestRecord  # noqa: E402

__all__ = ["ProcessProxy", "main"]


class ProcessProxy:
    """:class:`LoopbackProxy` in its own process (``python benchmarks/proxy.py``): same ``url``,
    ``port``, ``requests``, ``connections``, ``methods``, ``log`` and ``reset_counts()``, read over
    the ``/__proxy__/`` control path. For measurements: a thread-run proxy shares the GIL with the
    client it measures, and under a busy GIL every forwarded request waits for it.
    """

    def __init__(self, target_host: str, target_port: int, *, delay_s: float = 0.0, connect_delay_s: float | None = None,
                 fail_rate: float = 0.0, reset_rate: float = 0.0, seed: int = 0) -> None:
        self._args = [sys.executable, os.path.abspath(__file__), target_host, str(target_port), "--delay", str(delay_s),
                      "--fail-rate", str(fail_rate), "--reset-rate", str(reset_rate), "--seed", str(seed)]
        if connect_delay_s is not None:
            self._args += ["--connect-delay", str(connect_delay_s)]
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ProcessProxy":
        self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, text=True)
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError(f"proxy process did not start (printed {line!r})")
        self.port = int(line)
        return self

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)

    def __enter__(self) -> "ProcessProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, what: str) -> dict[str, Any]:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", CONTROL + what)
            return dict(json.loads(conn.getresponse().read()))
        finally:
            conn.close()

    def reset_counts(self) -> None:
        self._get("reset")

    @property
    def requests(self) -> int:
        return int(self._get("stats")["requests"])

    @property
    def connections(self) -> int:
        return int(self._get("stats")["connections"])

    @property
    def methods(self) -> Counter[str]:
        return Counter(self._get("stats")["methods"])

    @property
    def log(self) -> list[RequestRecord]:
        return [RequestRecord(*r) for r in self._get("stats")["log"]]


def main(argv: list[str] | None = None) -> int:
    """``python benchmarks/proxy.py HOST PORT [--delay S] ...``: print the listening port, serve until killed."""
    ap = argparse.ArgumentParser(description="loopback latency/fault proxy (prints its port)")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--connect-delay", type=float, default=None)
    ap.add_argument("--fail-rate", type=float, default=0.0)
    ap.add_argument("--reset-rate", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    proxy = LoopbackProxy(a.host, a.port, delay_s=a.delay, connect_delay_s=a.connect_delay, fail_rate=a.fail_rate,
                          reset_rate=a.reset_rate, seed=a.seed).start()
    print(proxy.port, flush=True)
    try:
        if proxy._thread is not None:
            proxy._thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
