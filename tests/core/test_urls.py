"""The SSRF guard: only public http(s) URLs pass, in every spelling a private address can take."""

from __future__ import annotations

import socket

import pytest

from reelscope.core.errors import InputError, UrlNotAllowed
from reelscope.core.urls import check_public_url, is_public_address, pin_public_url, resolve_host

PUBLIC_IP = "93.184.216.34"


class FakeResolver:
    """A DNS table in memory; unknown names fail as the system resolver would."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


def never_called(host: str, port: int) -> list[str]:
    raise AssertionError(f"resolver must not be asked about {host}:{port}")


def refused(url: str, **kwargs: object) -> UrlNotAllowed:
    kwargs.setdefault("resolve", FakeResolver({"example.com": [PUBLIC_IP]}))
    with pytest.raises(UrlNotAllowed) as info:
        check_public_url(url, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_error_is_an_input_error_with_a_fix():
    error = refused("file:///etc/passwd")
    assert isinstance(error, InputError)
    assert error.http_status == 422 and error.code == "url_not_allowed"
    assert error.fix and "http" in error.fix


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/clip.mp4",
        "gopher://example.com:70/_x",
        "data:text/plain,hello",
        "javascript:alert(1)",
        "dict://example.com:11211/stat",
        "example.com/clip.mp4",
        "//example.com/clip.mp4",
    ],
)
def test_refuses_schemes_other_than_http_and_https(url):
    error = refused(url)
    assert "scheme" in error.message


@pytest.mark.parametrize("url", ["http://", "https:///path/only", "http://:80/"])
def test_refuses_urls_without_a_host(url):
    assert "no host" in refused(url).message


@pytest.mark.parametrize(
    "url", ["http://user:s3cret@example.com/", "http://user@example.com/", "http://example.com\\@127.0.0.1/"]
)
def test_refuses_embedded_credentials_without_echoing_them(url):
    error = refused(url)
    assert "credentials" in error.message
    assert "s3cret" not in error.message and "s3cret" not in (error.fix or "")


@pytest.mark.parametrize("url", ["http://example.com:abc/", "http://example.com:99999/", "http://example.com:0/"])
def test_refuses_bad_ports(url):
    assert "port" in refused(url).message


@pytest.mark.parametrize(
    "url", ["http://exa mple.com/", "http://exa\tmple.com/", "http://example.com/a\nb", "http://ex\x00ample.com/"]
)
def test_refuses_whitespace_and_control_characters(url):
    assert "whitespace or control" in refused(url).message


@pytest.mark.parametrize("url", ["http://example.com\\.evil/", "http://exa%6dple.com/", "http://a..b/"])
def test_refuses_hosts_that_parsers_could_read_differently(url):
    assert "not a valid host name" in refused(url).message


@pytest.mark.parametrize("url", ["http://[not-ipv6]/", "http://[::1/", "http://[1:2:3]/"])
def test_refuses_malformed_ipv6_literals(url):
    # Depending on the Python patch release, urlsplit or this module spots it; either way it is refused.
    message = refused(url, resolve=never_called).message
    assert "cannot be parsed" in message or "not a valid IPv6" in message


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),  # one decimal number
        ("http://0x7f.1/", "127.0.0.1"),  # hex, two parts
        ("http://0177.0.0.1/", "127.0.0.1"),  # octal
        ("http://127.1/", "127.0.0.1"),
        ("http://0/", "0.0.0.0"),
        ("http://0x0a.0.0.1/", "10.0.0.1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),  # IPv4-mapped
        ("http://[::127.0.0.1]/", "::7f00:1"),  # IPv4-compatible
        ("http://[2002:7f00:1::]/", "2002:7f00:1::"),  # 6to4 around 127.0.0.1
        ("http://[64:ff9b::a00:1]/", "64:ff9b::a00:1"),  # NAT64 around 10.0.0.1
        ("http://[::1]:8080/", "::1"),
        ("http://[::]/", "::"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),  # cloud metadata
        ("http://10.1.2.3/", "10.1.2.3"),
        ("http://172.16.0.1/", "172.16.0.1"),
        ("http://192.168.1.1/", "192.168.1.1"),
        ("http://100.64.0.1/", "100.64.0.1"),  # shared address space (carrier NAT)
        ("http://224.0.0.1/", "224.0.0.1"),  # multicast
        ("http://240.0.0.1/", "240.0.0.1"),  # reserved
        ("http://255.255.255.255/", "255.255.255.255"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://[fc00::1]/", "fc00::1"),
        ("http://[ff02::1]/", "ff02::1"),
        ("http://[fec0::1]/", "fec0::1"),  # site-local
    ],
)
def test_refuses_non_public_ip_literals_in_every_spelling_without_dns(url, address):
    error = refused(url, resolve=never_called)
    assert "non-public" in error.message
    assert address in error.message
    assert "REELSCOPE_ALLOW_PRIVATE_URLS" in (error.fix or "")


@pytest.mark.parametrize("url", ["http://1.2.3.4.5/", "http://256.256.256.256.256/", "http://09.1.1.1/"])
def test_refuses_numeric_hosts_that_are_not_addresses(url):
    assert "not a valid IPv4" in refused(url, resolve=never_called).message


@pytest.mark.parametrize("url", ["http://localhost/", "http://LOCALHOST:8000/", "http://api.localhost/"])
def test_refuses_localhost_names_whatever_dns_says(url):
    resolver = FakeResolver({"localhost": [PUBLIC_IP], "api.localhost": [PUBLIC_IP]})
    assert "loopback" in refused(url, resolve=resolver).message


def test_refuses_a_name_that_resolves_to_a_private_address():
    resolver = FakeResolver({"media.internal.example": ["10.0.0.7"]})
    error = refused("https://media.internal.example/clip.mp4", resolve=resolver)
    assert "resolves to a non-public address (10.0.0.7)" in error.message


def test_refuses_a_name_when_any_of_its_addresses_is_private():
    resolver = FakeResolver({"mixed.example": [PUBLIC_IP, "2606:4700::1111", "127.0.0.1"]})
    error = refused("http://mixed.example/", resolve=resolver)
    assert "127.0.0.1" in error.message and PUBLIC_IP not in error.message


def test_refuses_a_name_resolving_to_a_mapped_loopback():
    error = refused("http://sneaky.example/", resolve=FakeResolver({"sneaky.example": ["::ffff:127.0.0.1"]}))
    assert "non-public" in error.message


@pytest.mark.parametrize("table", [{}, {"nowhere.example": []}])
def test_refuses_a_name_that_cannot_be_resolved(table):
    error = refused("http://nowhere.example/", resolve=FakeResolver(table))
    assert "cannot be resolved" in error.message


def test_accepts_public_urls_and_returns_them_stripped():
    resolver = FakeResolver({"example.com": [PUBLIC_IP, "2606:4700::1111"], "cdn.example": [PUBLIC_IP]})
    url = "https://example.com/v.mp4?x=1#t"
    assert check_public_url(f"  {url}  ", resolve=resolver) == url
    assert check_public_url("HTTP://CDN.EXAMPLE:8080/a", resolve=resolver) == "HTTP://CDN.EXAMPLE:8080/a"
    # The resolver is asked for the lowercased host and the port the client will connect to.
    assert resolver.calls == [("example.com", 443), ("cdn.example", 8080)]


@pytest.mark.parametrize("url", ["http://93.184.216.34/", "http://[2606:4700::1111]/", "http://0x5d.0xb8.0xd8.0x22/"])
def test_accepts_public_ip_literals_without_dns(url):
    assert check_public_url(url, resolve=never_called) == url


def test_accepts_international_names_by_their_idna_form():
    resolver = FakeResolver({"xn--bcher-kva.example": [PUBLIC_IP]})
    assert check_public_url("https://bücher.example/", resolve=resolver) == "https://bücher.example/"


def test_allow_private_lets_private_hosts_through_but_not_other_schemes_or_credentials():
    assert check_public_url("http://127.0.0.1:8000/hook", allow_private=True, resolve=never_called)
    assert check_public_url("http://localhost/", allow_private=True, resolve=never_called) == "http://localhost/"
    assert "scheme" in refused("file:///etc/passwd", allow_private=True).message
    assert "credentials" in refused("http://a:b@127.0.0.1/", allow_private=True).message


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        (PUBLIC_IP, True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("100.100.100.100", False),
        ("224.0.0.251", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", False),  # mapped forms are refused outright: a resolver never needs them
        ("fe80::1%eth0", False),
        ("not an ip", False),
    ],
)
def test_is_public_address(ip, public):
    assert is_public_address(ip) is public


def test_default_resolver_returns_address_strings():
    assert resolve_host("127.0.0.1", 80) == ["127.0.0.1"]


def test_pin_public_url_connects_to_the_address_that_was_checked():
    calls = []

    def rebinding(host: str, port: int) -> list[str]:  # public for the check, loopback afterwards
        calls.append(host)
        return ["93.184.216.34"] if len(calls) == 1 else ["127.0.0.1"]

    pinned = pin_public_url("https://hooks.example.com:8443/in?x=1", resolve=rebinding)
    assert pinned.url == "https://93.184.216.34:8443/in?x=1"
    assert pinned.host_header == "hooks.example.com:8443" and pinned.sni_hostname == "hooks.example.com"
    assert calls == ["hooks.example.com"]  # resolved once: nothing left to rebind

    v6 = pin_public_url("http://hooks.example.com/in", resolve=lambda h, p: ["2606:4700::6810:84e5"])
    assert v6.url == "http://[2606:4700::6810:84e5]/in" and v6.sni_hostname is None


def test_pin_public_url_leaves_literals_and_allowed_private_hosts_alone():
    assert pin_public_url("https://93.184.216.34/x").url == "https://93.184.216.34/x"
    assert pin_public_url("http://127.0.0.1:9/x", allow_private=True).url == "http://127.0.0.1:9/x"
    with pytest.raises(UrlNotAllowed):
        pin_public_url("http://internal.example/x", resolve=lambda h, p: ["10.0.0.5"])
