"""SSRF refusals of the downloader: schemes and non-public hosts before any request, and at connect
time (DNS rebinding, redirects to refused addresses or schemes) through the guarded yt-dlp request
handler; the configured proxy is exempt. Also pins the yt-dlp internals the guard relies on."""

from __future__ import annotations

import functools
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yt_dlp
from yt_dlp.networking._urllib import HTTPHandler, RedirectHandler, UrllibRH

from reelscope.core.errors import UrlNotAllowed
from reelscope.core.settings import Settings
from reelscope.ingest.download import Downloader, is_url, translate
from reelscope.ingest.guard import (
    ConnectPolicy,
    ConnectRefused,
    GuardedUrllibRH,
    GuardedYoutubeDL,
    _GuardedHTTPHandler,
    _GuardedRedirectHandler,
    proxy_exemption,
)
from tests.ingest.http_fixtures import MediaServer

PUBLIC_IP = "93.184.216.34"


class RecordingLimiter:
    def __init__(self) -> None:
        self.acquired: list[str] = []

    def acquire(self, url: str) -> float:
        self.acquired.append(url)
        return 0.0

    def defer(self, url: str, seconds: float) -> None:
        pass


class Rebinding:
    """A resolver that answers a public address first and loopback afterwards (DNS rebinding)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return [PUBLIC_IP] if len(self.calls) == 1 else ["127.0.0.1"]


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(**{"data_dir": tmp_path / "data", "download_attempts": 3, **overrides})


@pytest.mark.parametrize(
    "template",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1:{port}/clip.mp4",
        "javascript:alert(1)",
        "http://localhost:{port}/clip.mp4",
        "http://127.0.0.1:{port}/clip.mp4",
        "http://10.0.0.1/clip.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/clip.mp4",
        "http://0x7f.1:{port}/clip.mp4",
        "http://2130706433:{port}/clip.mp4",
    ],
)
def test_refused_before_any_request(tmp_path: Path, server: MediaServer, clip: Path, template: str):
    server.add_file("/clip.mp4", clip)
    url = template.format(port=server.port)
    limiter, sleeps = RecordingLimiter(), []
    dl = Downloader(settings(tmp_path), limiter=limiter, sleep=sleeps.append)
    with pytest.raises(UrlNotAllowed):
        dl.download(url)
    assert server.seen() == [] and limiter.acquired == [] and sleeps == []
    if "://" in url:
        assert is_url(url)  # so the CLI never mistakes it for a local path


def test_dns_rebinding_is_refused_at_connect_time(tmp_path: Path, server: MediaServer, clip: Path):
    server.add_file("/clip.mp4", clip)
    resolver, limiter, sleeps = Rebinding(), RecordingLimiter(), []
    dl = Downloader(settings(tmp_path), limiter=limiter, sleep=sleeps.append, resolve=resolver)
    url = f"http://videos.example:{server.port}/clip.mp4"
    with pytest.raises(UrlNotAllowed) as caught:
        dl.download(url)
    assert "127.0.0.1" in caught.value.message
    assert resolver.calls[:2] == ["videos.example", "videos.example"]  # the pre-check, then the connect
    assert server.seen() == []
    assert limiter.acquired == [url] and sleeps == []  # a refusal is not retried like a network error


def test_redirect_to_a_refused_address_is_refused(tmp_path: Path, server: MediaServer, clip: Path):
    with MediaServer(host="127.0.0.2") as other:
        other.add_file("/clip.mp4", clip)
        start = server.add_redirect("/go", other.url("/clip.mp4"))
        only_first = Downloader(
            settings(tmp_path, allow_private_urls=True), address_allowed=lambda ip: ip == "127.0.0.1"
        )
        with pytest.raises(UrlNotAllowed) as caught:
            only_first.download(start)
        assert "127.0.0.2" in caught.value.message
        assert [s.path for s in server.seen()] == ["/go"] and other.seen() == []

        # Control: the same redirect is followed when the target's address is allowed.
        both = Downloader(settings(tmp_path, allow_private_urls=True), address_allowed=lambda ip: ip.startswith("127."))
        assert both.download(start).path.read_bytes() == clip.read_bytes()
        assert other.seen("/clip.mp4")


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/clip.mp4", "file:///etc/passwd", "data:video/mp4,AAAA"])
def test_redirect_to_another_scheme_is_refused(tmp_path: Path, server: MediaServer, target: str):
    start = server.add_redirect("/go", target)
    sleeps: list[float] = []
    dl = Downloader(settings(tmp_path, allow_private_urls=True), sleep=sleeps.append)
    with pytest.raises(UrlNotAllowed):
        dl.download(start)
    assert sleeps == []  # refused once, never retried
    assert [s.path for s in server.seen()] == ["/go"]


def test_proxy_from_settings_is_used_and_exempt_from_the_guard(tmp_path: Path, server: MediaServer, clip: Path):
    # The local server plays the proxy: it answers absolute-form requests ("GET http://host/path").
    server.add_file("/clip.mp4", clip)
    proxy = f"http://127.0.0.1:{server.port}"
    dl = Downloader(
        settings(tmp_path, download_proxy=proxy),
        address_allowed=lambda ip: False,  # nothing is allowed, except the proxy the admin configured
        resolve=lambda host, port: [PUBLIC_IP],
    )
    got = dl.download("http://videos.example/clip.mp4")
    assert got.path.read_bytes() == clip.read_bytes()
    assert {s.target for s in server.seen()} == {"http://videos.example/clip.mp4"}


def test_policy_resolves_once_and_connects_only_to_allowed_addresses():
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return ["10.1.2.3", "127.0.0.1"]

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        policy = ConnectPolicy(address_allowed=lambda ip: ip == "127.0.0.1", resolve=resolve)
        with policy.create_connection(("site.example", port), timeout=5) as sock:
            assert sock.getpeername() == ("127.0.0.1", port)
        assert calls == [("site.example", port)]

        with pytest.raises(ConnectRefused, match="10.1.2.3"):
            ConnectPolicy(address_allowed=lambda ip: False, resolve=resolve).create_connection(("site.example", port))

        exempt = ConnectPolicy(
            address_allowed=lambda ip: False, resolve=resolve, exempt=proxy_exemption(f"http://127.0.0.1:{port}")
        )
        with exempt.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert sock.getpeername()[1] == port
        assert len(calls) == 2  # the exempt proxy host was not resolved through the policy


def test_proxy_exemption_parses_host_and_default_ports():
    assert proxy_exemption("http://Proxy.Corp:3128") == {("proxy.corp", 3128)}
    assert proxy_exemption("socks5://user:pw@10.0.0.5") == {("10.0.0.5", 1080)}
    assert proxy_exemption("proxy.corp") == {("proxy.corp", 80)}
    assert proxy_exemption(None) == frozenset()


def test_yt_dlp_internals_the_guard_relies_on():
    """Fails loudly when a yt-dlp upgrade moves what guard.py hooks into."""
    assert isinstance(yt_dlp.YoutubeDL.__dict__.get("_request_director"), functools.cached_property)
    assert {"_make_conn_class", "do_open"} <= set(dir(HTTPHandler)) and hasattr(UrllibRH, "_create_instance")
    for name in ("_source_address", "_context", "_debuglevel"):
        assert hasattr(HTTPHandler(), name), name
    policy = ConnectPolicy(address_allowed=lambda ip: False)
    with GuardedYoutubeDL({"quiet": True, "proxy": ""}, policy=policy) as ydl:
        handlers = list(ydl._request_director.handlers.values())
        assert [type(h) for h in handlers] == [GuardedUrllibRH]
        opener = handlers[0]._get_instance(proxies={}, cookiejar=ydl.cookiejar)
        kinds = {type(h) for h in opener.handlers}
        assert {_GuardedHTTPHandler, _GuardedRedirectHandler} <= kinds
        assert not kinds & {HTTPHandler, RedirectHandler, urllib.request.FTPHandler, urllib.request.DataHandler}
        connection = next(h for h in opener.handlers if isinstance(h, _GuardedHTTPHandler))._connection(
            __import__("http.client").client.HTTPConnection, "example.com", 80
        )
        assert connection._create_connection == policy.create_connection
        # And end to end: a request through yt-dlp's own urlopen meets the policy.
        with pytest.raises(yt_dlp.networking.exceptions.TransportError) as caught:
            ydl.urlopen("http://127.0.0.1:9/")
        assert isinstance(translate(caught.value), UrlNotAllowed)
