"""URL safety: the guard against server-side request forgery for every URL reelscope fetches or posts to.

``check_public_url`` accepts only plain http(s) URLs whose host resolves solely to public addresses.
Numeric host spellings (``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) are decoded here rather
than left to the resolver, so the answer never depends on which resolver a platform has.

``check_public_url`` resolves the host once; a client that later connects resolves it again, so a DNS
answer that changes in between (rebinding) is not caught by the check alone. ``pin_public_url`` closes
that gap for one request: it returns the URL rewritten to the very address that was checked, with the
original host for the Host header and the TLS server name. (Downloads go further: yt-dlp's every
connection is checked at connect time, ``ingest/guard.py``.)
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from reelscope.core.errors import UrlNotAllowed

Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = {"http": 80, "https": 443}
FIX_PUBLIC = "use a public http(s) URL"
FIX_PRIVATE = "use a public http(s) URL, or set REELSCOPE_ALLOW_PRIVATE_URLS=true to allow private hosts"

_NAME_RE = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$")
_NUMERIC_PART_RE = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver: every address ``host`` resolves to, as strings."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(ip: str) -> bool:
    """True when ``ip`` is a globally routable unicast address, including what an IPv6 form embeds."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return _is_public(address)


def check_public_url(url: str, *, allow_private: bool = False, resolve: Resolver | None = None) -> str:
    """Return ``url`` stripped when it is a public http(s) URL; raise ``UrlNotAllowed`` otherwise.

    ``allow_private`` lets hosts with non-public addresses through (the scheme, credential and port
    rules still hold); ``resolve`` replaces the system resolver (tests pass a fake one).
    """
    return _checked(url, allow_private, resolve)[0]


@dataclass(frozen=True)
class PinnedUrl:
    url: str  # the URL to connect to: its host replaced by the checked address (unchanged when not pinned)
    host_header: str  # the original host[:port], for the Host header
    sni_hostname: str | None  # the original host name for TLS (https to a pinned name only)


def pin_public_url(url: str, *, allow_private: bool = False, resolve: Resolver | None = None) -> PinnedUrl:
    """``check_public_url``, then the URL pinned to the first checked address, so the request cannot
    reach another address the name resolves to a moment later. With ``allow_private`` nothing is
    checked and nothing pinned."""
    url, parts, addresses = _checked(url, allow_private, resolve)
    host_header = parts.netloc
    if not addresses:
        return PinnedUrl(url, host_header, None)
    address = addresses[0]
    netloc = f"[{address}]" if ":" in address else address
    if parts.port is not None:
        netloc += f":{parts.port}"
    sni = parts.hostname if parts.scheme.lower() == "https" else None
    return PinnedUrl(urlunsplit(parts._replace(netloc=netloc)), host_header, sni)


def _checked(url: str, allow_private: bool, resolve: Resolver | None) -> tuple[str, SplitResult, list[str]]:
    """(stripped URL, its parts, the checked addresses of a host name: [] for IP literals and when
    ``allow_private`` skips the check)."""
    url = url.strip()
    parts = _split(url)
    host, port = _host_and_port(parts)
    if allow_private:
        return url, parts, []
    if host == "localhost" or host.endswith(".localhost"):
        raise UrlNotAllowed(f"URL host {host!r} is a loopback name", fix=FIX_PRIVATE)
    literal = _ip_literal(host)
    addresses = [str(literal)] if literal is not None else _resolve(host, port, resolve or resolve_host)
    blocked = [ip for ip in addresses if not is_public_address(ip)]
    if blocked:
        verb = "is" if literal is not None else "resolves to"
        raise UrlNotAllowed(f"URL host {host!r} {verb} a non-public address ({', '.join(blocked)})", fix=FIX_PRIVATE)
    return url, parts, [] if literal is not None else addresses


def _split(url: str) -> SplitResult:
    # urlsplit silently drops tabs and newlines; the client that fetches may not, so refuse them outright.
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UrlNotAllowed("URL contains whitespace or control characters", fix=FIX_PUBLIC)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UrlNotAllowed(f"URL cannot be parsed: {exc}", fix=FIX_PUBLIC) from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise UrlNotAllowed(f"URL has {shown}; only http and https are allowed", fix=FIX_PUBLIC)
    if "@" in parts.netloc:
        # The URL itself is not echoed: it carries a password.
        raise UrlNotAllowed("URL embeds credentials (user:password@host)", fix="remove the credentials from the URL")
    if not parts.hostname:
        raise UrlNotAllowed("URL has no host", fix=FIX_PUBLIC)
    return parts


def _host_and_port(parts: SplitResult) -> tuple[str, int]:
    try:
        port = parts.port
    except ValueError as exc:
        raise UrlNotAllowed(f"URL port is not a number in 1-65535: {parts.netloc!r}", fix=FIX_PUBLIC) from exc
    if port == 0:
        raise UrlNotAllowed("URL port 0 is not a valid destination", fix=FIX_PUBLIC)
    host = _normalise_host(parts.hostname or "")
    return host, port if port is not None else ALLOWED_SCHEMES[parts.scheme.lower()]


def _normalise_host(host: str) -> str:
    if ":" in host:  # an IPv6 literal, from inside brackets
        if _ip_literal(host) is None:
            raise UrlNotAllowed(f"URL host [{host}] is not a valid IPv6 address", fix=FIX_PUBLIC)
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UrlNotAllowed(f"URL host {host!r} is not a valid host name", fix=FIX_PUBLIC) from exc
    # A strict character set keeps every URL parser agreeing on where the host ends (no '\\', '%', ...).
    if not _NAME_RE.match(ascii_host):
        raise UrlNotAllowed(f"URL host {host!r} is not a valid host name", fix=FIX_PUBLIC)
    return ascii_host


def _ip_literal(host: str) -> IPAddress | None:
    """The address a numeric host denotes, in any spelling the C resolver accepts; None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not all(_NUMERIC_PART_RE.match(label) for label in labels):
        return None
    value = _legacy_ipv4_value(labels)
    if value is None:
        raise UrlNotAllowed(f"URL host {host!r} looks numeric but is not a valid IPv4 address", fix=FIX_PUBLIC)
    return ipaddress.IPv4Address(value)


def _legacy_ipv4_value(labels: list[str]) -> int | None:
    """inet_aton's reading of ``a``, ``a.b``, ``a.b.c``, ``a.b.c.d`` with decimal, 0x hex or 0 octal parts."""
    if not 1 <= len(labels) <= 4:
        return None
    numbers = []
    for label in labels:
        try:
            if label.startswith("0x"):
                numbers.append(int(label[2:] or "0", 16))
            elif len(label) > 1 and label.startswith("0"):
                numbers.append(int(label, 8))
            else:
                numbers.append(int(label))
        except ValueError:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return value


def _resolve(host: str, port: int, resolve: Resolver) -> list[str]:
    try:
        addresses = list(resolve(host, port))
    except (OSError, UnicodeError) as exc:
        raise UrlNotAllowed(f"URL host {host!r} cannot be resolved: {exc}", fix=FIX_PUBLIC) from exc
    if not addresses:
        raise UrlNotAllowed(f"URL host {host!r} cannot be resolved: no addresses", fix=FIX_PUBLIC)
    return addresses


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not _is_public(embedded):
            return False
        if address.is_site_local:
            return False
    # is_global already refuses shared space (100.64/10) and, through ::/8 being reserved, IPv4-compatible
    # and NAT64 forms; it lets multicast through, so each class is also refused by name.
    return address.is_global and not (
        address.is_multicast
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a mapped (::ffff:a.b.c.d) or 6to4 (2002:ab:cd::) form carries.

    Newer Pythons judge a mapped address by its IPv4 part and 6to4 counts as global, so both are
    unwrapped here rather than trusting ``is_global`` on the IPv6 form.
    """
    return address.ipv4_mapped or address.sixtofour
