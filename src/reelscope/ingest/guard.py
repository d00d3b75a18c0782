"""The SSRF guard at connect time: every socket yt-dlp opens goes through ``ConnectPolicy``.

``core.urls.check_public_url`` vets the URL a user gives, but yt-dlp then follows redirects, fetches
the media URLs an extractor finds in a page, thumbnails and manifests, and resolves each host again
when it connects, so a DNS answer that changes between check and connect (rebinding) would slip
through. Here the host is resolved ONCE at connect time, only the addresses ``address_allowed``
accepts are kept, and the socket connects to those IP addresses; TLS still verifies the certificate
against the host name, because ``http.client`` wraps the socket with ``server_hostname=host``.

How it hooks in (yt-dlp internals, kept small and pinned by ``tests/ingest/test_guard.py``):
``GuardedYoutubeDL`` overrides the ``_request_director`` cached property so the only request handler
is ``GuardedUrllibRH``, a ``UrllibRH`` that supports http and https only and whose urllib opener has
an ``HTTPHandler`` whose connections use ``ConnectPolicy.create_connection``. The opener also drops
the ftp:, data: and file: handlers, so a redirect cannot leave http(s) either.

Proxies: with a proxy from settings, the proxy's own host is exempt (the admin chose it) and the
proxy resolves and connects to the target, so the guard cannot see the target's address: only the
pre-check of the first URL holds then. A SOCKS proxy is dialled by yt-dlp's own SOCKS code, which
never reaches ``_create_connection``.

Only yt-dlp's urllib handler is used, so browser impersonation (curl_cffi) and the requests
handler are off; sites that require impersonation fail with an extractor error.
"""

from __future__ import annotations

import functools
import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yt_dlp
from yt_dlp.networking._urllib import HTTPHandler, RedirectHandler, UrllibRH, _create_http_connection

from reelscope.core.urls import resolve_host

Resolver = Callable[[str, int], list[str]]
_DEFAULT_PROXY_PORTS = {"http": 80, "https": 443, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080}
# urllib handlers that would let a redirect or a URL reach something other than http(s).
_DROPPED_HANDLERS = (urllib.request.FTPHandler, urllib.request.DataHandler, urllib.request.FileHandler)


class ConnectRefused(urllib.error.URLError):
    """The guard refused a connection or a redirect. A ``URLError`` so that urllib and yt-dlp wrap it
    like any connect failure; ``ingest.platform.translate`` finds it in the chain -> ``UrlNotAllowed``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)

    def __str__(self) -> str:
        return str(self.reason)


@dataclass(frozen=True)
class ConnectPolicy:
    """Which addresses a download may connect to. ``exempt`` holds ``(host, port)`` pairs connected to
    without a check (the configured proxy)."""

    address_allowed: Callable[[str], bool]
    resolve: Resolver = resolve_host
    exempt: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    def create_connection(
        self,
        address: tuple[str, int],
        timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # http.client passes this sentinel through
        source_address: tuple[str, int] | None = None,
        **_: Any,
    ) -> socket.socket:
        host, port = address
        if (host.lower(), port) in self.exempt:
            return socket.create_connection(address, timeout, source_address)
        addresses = list(dict.fromkeys(self.resolve(host, port)))  # resolved once: no rebinding window
        allowed = [ip for ip in addresses if self.address_allowed(ip)]
        if not allowed:
            shown = ", ".join(addresses)
            raise ConnectRefused(f"connection to {host}:{port} refused: not an allowed address ({shown})")
        last_error: OSError | None = None
        for ip in allowed:
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:  # try the next allowed address, as socket.create_connection does
                last_error = exc
        assert last_error is not None
        raise last_error


def proxy_exemption(proxy_url: str | None) -> frozenset[tuple[str, int]]:
    """The ``(host, port)`` a proxy URL names, for ``ConnectPolicy.exempt``."""
    if not proxy_url:
        return frozenset()
    parts = urlsplit(proxy_url if "://" in proxy_url else f"http://{proxy_url}")
    if not parts.hostname:
        return frozenset()
    port = parts.port or _DEFAULT_PROXY_PORTS.get(parts.scheme.lower(), 80)
    return frozenset({(parts.hostname.lower(), port)})


class _GuardedHTTPHandler(HTTPHandler):
    """yt-dlp's HTTP handler, with connections that dial through the policy."""

    def __init__(self, policy: ConnectPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy

    def _connection(self, conn_class: type, *args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        connection = _create_http_connection(conn_class, self._source_address, *args, **kwargs)
        connection._create_connection = self._policy.create_connection
        return connection

    def http_open(self, req: urllib.request.Request) -> Any:
        conn_class = self._make_conn_class(http.client.HTTPConnection, req)
        return self.do_open(functools.partial(self._connection, conn_class), req)

    def https_open(self, req: urllib.request.Request) -> Any:
        conn_class = self._make_conn_class(http.client.HTTPSConnection, req)
        return self.do_open(functools.partial(self._connection, conn_class), req, context=self._context)


class _GuardedRedirectHandler(RedirectHandler):
    """Follows redirects to http(s) only (urllib itself would also follow one to ftp:)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urlsplit(newurl).scheme.lower() not in {"http", "https"}:
            raise ConnectRefused(f"redirect to a non-http(s) URL refused: {newurl[:200]}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class GuardedUrllibRH(UrllibRH):
    """yt-dlp's urllib request handler limited to http(s), connecting only where the policy allows."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    RH_NAME = "urllib-guarded"

    def __init__(self, *, policy: ConnectPolicy, **kwargs: Any) -> None:
        kwargs["enable_file_urls"] = False
        super().__init__(**kwargs)
        self._policy = policy

    def _create_instance(self, proxies: Any, cookiejar: Any, legacy_ssl_support: Any = None) -> Any:
        stock = super()._create_instance(proxies=proxies, cookiejar=cookiejar, legacy_ssl_support=legacy_ssl_support)
        opener = urllib.request.OpenerDirector()
        for handler in _swap_handlers(stock.handlers, self._policy):
            opener.add_handler(handler)
        opener.addheaders = []  # as yt-dlp does: no default urllib User-Agent
        return opener


def _swap_handlers(handlers: Iterable[Any], policy: ConnectPolicy) -> list[Any]:
    swapped, replaced = [], set()
    for handler in handlers:
        if isinstance(handler, _DROPPED_HANDLERS):
            continue
        if type(handler) is HTTPHandler:
            handler = _GuardedHTTPHandler(
                policy, debuglevel=handler._debuglevel, context=handler._context, source_address=handler._source_address
            )
        elif type(handler) is RedirectHandler:
            handler = _GuardedRedirectHandler()
        replaced.add(type(handler))
        swapped.append(handler)
    if not {_GuardedHTTPHandler, _GuardedRedirectHandler} <= replaced:
        # yt-dlp changed how it builds its opener: refuse to run unguarded.
        raise RuntimeError("yt-dlp's urllib opener changed shape; update reelscope.ingest.guard")
    return swapped


class GuardedYoutubeDL(yt_dlp.YoutubeDL):
    """A ``YoutubeDL`` whose every request goes through ``GuardedUrllibRH`` with ``policy``."""

    def __init__(self, params: dict[str, Any], *, policy: ConnectPolicy) -> None:
        self._connect_policy = policy  # set first: __init__ may already send requests
        super().__init__(params)

    @functools.cached_property
    def _request_director(self) -> Any:
        return self.build_request_director([functools.partial(GuardedUrllibRH, policy=self._connect_policy)])
