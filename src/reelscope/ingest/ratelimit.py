"""The per-site download rate limit, shared by every thread and process that uses the same data dir.

The state is one SQLite table ``slots(site, next_at, blocked_until)`` in WAL mode. ``acquire``
reserves the next start slot for a site in a short ``BEGIN IMMEDIATE`` transaction
(``slot = max(now, next_at)``, ``next_at = slot + 60 / rate``) and sleeps until the slot outside
the transaction. Reservations are handed out in the order the write lock is won, so callers are
served first come, first served and starts are spaced ``60 / rate`` seconds apart whichever
process makes them. ``defer`` records a 429's Retry-After: nobody starts on that site before it.

Times are wall-clock epoch seconds (``time.time``) because a monotonic clock is not comparable
across reboots and the file outlives processes. SQLite's locking needs a local filesystem, so
the database must not live on NFS.
"""

from __future__ import annotations

import ipaddress
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reelscope.core.errors import InvalidParams, StoreError

if TYPE_CHECKING:
    from reelscope.core.settings import Settings

DB_NAME = "ratelimit.sqlite3"

# Second-level domains under which registrations happen one level deeper (bbc.co.uk, abc.net.au).
# A small hand-kept table of the common ones, not the full Public Suffix List: a site missing here
# is grouped one level too high ("example.co.xx" -> "co.xx"), which only makes the limit stricter.
TWO_LEVEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk",
        "com.au", "net.au", "org.au", "edu.au", "gov.au",
        "co.nz", "org.nz", "net.nz",
        "co.jp", "ne.jp", "or.jp", "ac.jp",
        "co.kr", "or.kr",
        "co.in", "net.in", "org.in",
        "co.za", "org.za",
        "co.id", "co.il", "co.th",
        "com.br", "com.mx", "com.ar", "com.cn", "com.tw", "com.hk", "com.sg", "com.tr", "com.my",
        "com.ph", "com.vn", "com.pk", "com.ng", "com.eg", "com.sa", "com.co", "com.pe", "com.ua",
    }
)

# Long enough for a busy bulk run with many processes; a lock held longer means a stuck writer.
_BUSY_TIMEOUT_S = 30.0

_SCHEMA = "CREATE TABLE IF NOT EXISTS slots (site TEXT PRIMARY KEY, next_at REAL NOT NULL, blocked_until REAL NOT NULL DEFAULT 0)"


class HostRateLimiter:
    """Spaces download starts per site: at most ``rate`` starts per minute, over all processes.

    ``per_minute`` is the default rate; ``host_rates`` maps a site (a domain, matched with its
    subdomains) to its own rate. ``clock`` and ``sleep`` are replaceable for tests.
    """

    def __init__(
        self,
        db_path: Path,
        per_minute: float,
        host_rates: Mapping[str, float] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db_path = Path(db_path)
        self.per_minute = _checked_rate("the download rate", per_minute)
        self.host_rates = {_normalise_host(k): _checked_rate(f"the rate for {k!r}", v) for k, v in (host_rates or {}).items()}
        # Longest first, so "cdn.example.co.uk" wins over "example.co.uk".
        self._override_keys = sorted(self.host_rates, key=len, reverse=True)
        self.clock = clock
        self.sleep = sleep
        self._local = threading.local()
        self._init_db()

    @classmethod
    def from_settings(cls, settings: Settings) -> HostRateLimiter:
        return cls(
            settings.data_dir / DB_NAME,
            per_minute=settings.download_rate_per_minute,
            host_rates=settings.download_host_rates,
        )

    # -- sites ------------------------------------------------------------------------------
    def site_of(self, url_or_host: str) -> str:
        """The key a URL or host is limited under: an override domain it falls under, else its
        registrable domain ("vm.tiktok.com" -> "tiktok.com"); IP addresses stay whole."""
        host = _host_of(url_or_host)
        for key in self._override_keys:
            if host == key or host.endswith("." + key):
                return key
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        labels = host.split(".")
        if len(labels) >= 3 and ".".join(labels[-2:]) in TWO_LEVEL_SUFFIXES:
            return ".".join(labels[-3:])
        return ".".join(labels[-2:])

    def rate_for(self, url_or_host: str) -> float:
        """Starts per minute allowed for the URL's site."""
        return self.host_rates.get(self.site_of(url_or_host), self.per_minute)

    # -- slots ------------------------------------------------------------------------------
    def acquire(self, url: str) -> float:
        """Wait for the URL's site's next start slot; return the seconds waited.

        A ``defer`` that lands while we sleep pushes us behind its block instead of letting us
        start into a site that has just told everyone to slow down.
        """
        site = self.site_of(url)
        interval_s = 60.0 / self.host_rates.get(site, self.per_minute)
        waited_s = 0.0
        while True:
            now = self.clock()
            slot = self._reserve(site, now, interval_s)
            if slot > now:
                self.sleep(slot - now)
                waited_s += slot - now
            blocked_until = self._blocked_until(site)
            if blocked_until <= slot:
                return waited_s

    def defer(self, url: str, seconds: float) -> None:
        """No start on the URL's site before ``now + seconds`` (a 429 or a Retry-After header)."""
        if not math.isfinite(seconds) or seconds <= 0:
            return
        site = self.site_of(url)
        until = self.clock() + seconds
        with self._transaction() as db:
            db.execute(
                "INSERT INTO slots (site, next_at, blocked_until) VALUES (?, ?, ?) ON CONFLICT(site) DO UPDATE SET"
                " next_at = max(next_at, excluded.next_at), blocked_until = max(blocked_until, excluded.blocked_until)",
                (site, until, until),
            )

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- pickling: a limiter can be handed to a spawned process or a Ray actor ---------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_local"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    # -- SQLite -----------------------------------------------------------------------------
    def _reserve(self, site: str, now: float, interval_s: float) -> float:
        with self._transaction() as db:
            row = db.execute("SELECT next_at FROM slots WHERE site = ?", (site,)).fetchone()
            slot = max(now, row[0]) if row else now
            db.execute(
                "INSERT INTO slots (site, next_at) VALUES (?, ?) ON CONFLICT(site) DO UPDATE SET next_at = excluded.next_at",
                (site, slot + interval_s),
            )
        return slot

    def _blocked_until(self, site: str) -> float:
        try:
            row = self._conn().execute("SELECT blocked_until FROM slots WHERE site = ?", (site,)).fetchone()
        except sqlite3.Error as exc:
            raise _store_error(self.db_path, exc) from exc
        return row[0] if row else 0.0

    def _init_db(self) -> None:
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            db = self._conn()
            # WAL lets readers go on while a writer holds the lock; set once, it sticks to the file.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise _store_error(self.db_path, exc) from exc

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread and per process: sqlite3 connections must not cross threads,
        # and one inherited through fork would share the parent's file locks.
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.db_path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True)
            conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _transaction(self) -> _Immediate:
        return _Immediate(self._conn(), self.db_path)


class _Immediate:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: takes the write lock up front, so two processes never
    both read the same ``next_at`` and hand out the same slot."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path) -> None:
        self.conn = conn
        self.db_path = db_path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(self.db_path, exc) from exc
        return self.conn

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _store_error(self.db_path, exc) from exc
            return
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as commit_exc:
            raise _store_error(self.db_path, commit_exc) from commit_exc


def _store_error(db_path: Path, exc: BaseException) -> StoreError:
    return StoreError(
        f"the download rate-limit database {db_path} is not usable: {exc}",
        fix="check that the data dir is writable and on a local filesystem (not NFS)",
    )


def _checked_rate(what: str, value: float) -> float:
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0:
        raise InvalidParams(f"{what} must be a positive number of downloads per minute, got {value!r}",
                            fix="set REELSCOPE_DOWNLOAD_RATE_PER_MINUTE / REELSCOPE_DOWNLOAD_HOST_RATES to values > 0")
    return rate


def _normalise_host(host: str) -> str:
    return host.strip().strip(".").lower()


def _host_of(url_or_host: str) -> str:
    text = url_or_host.strip()
    # A bare host ("vm.tiktok.com", "cdn.example.com:8443/x") parses as a network location.
    parts = urlsplit(text if "://" in text else "//" + text)
    host = _normalise_host(parts.hostname or "")
    if not host:
        raise InvalidParams(f"no host in {url_or_host!r} to rate-limit", fix="pass an http(s) URL with a host name")
    return host
