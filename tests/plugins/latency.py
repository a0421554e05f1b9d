"""``loopback_proxy``: put :class:`benchmarks.proxy.LoopbackProxy` in front of a loopback server.

    def test_retry(loopback_proxy, http_base_url):
        proxy = loopback_proxy(http_base_url, fail_first=2)      # or delay_s=, fail_rate=, reset_rate=, seed=
        url = f"{proxy.url}/series/temp_000.nc"
        ...
        assert proxy.requests == 3

The factory takes a base URL (``"http://127.0.0.1:PORT"``, e.g. ``http_base_url`` or
``s3_endpoint``) or ``(host, port)``; every proxy it made is closed at the end of the test.
Counters: ``.requests`` (HTTP requests, keep-alive aware), ``.connections``, ``.methods``,
``.log`` (method, target, Range header, outcome). Load it with
``from tests.plugins.latency import loopback_proxy  # noqa: F401`` in a test module (or list it in
the root conftest's plugins).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import pytest

from benchmarks.proxy import LoopbackProxy, RequestRecord

__all__ = ["LoopbackProxy", "RequestRecord", "loopback_proxy", "proxy_for"]


def proxy_for(target: str | tuple[str, int], **options: Any) -> LoopbackProxy:
    """A started proxy in front of ``target`` (a base URL or ``(host, port)``); caller closes it."""
    if isinstance(target, str):
        parts = urlsplit(target)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
    else:
        host, port = target
    return LoopbackProxy(host, port, **options).start()


@pytest.fixture
def loopback_proxy() -> Iterator[Callable[..., LoopbackProxy]]:
    made: list[LoopbackProxy] = []

    def _make(target: str | tuple[str, int], **options: Any) -> LoopbackProxy:
        proxy = proxy_for(target, **options)
        made.append(proxy)
        return proxy

    yield _make
    for proxy in made:
        proxy.close()
