"""Signed webhook delivery: when a job finishes, POST its summary to the URL the client gave, with retries.

For receivers — every delivery is a ``POST`` with a JSON body and these headers:

- ``X-Reelscope-Event``: ``job.finished``
- ``X-Reelscope-Delivery``: a UUID, the same on every retry of one delivery (use it to drop duplicates:
  a delivery whose answer was lost in transit is sent again)
- ``X-Reelscope-Timestamp``: unix seconds when this attempt was signed
- ``X-Reelscope-Signature``: ``sha256=`` followed by the lowercase hex HMAC-SHA256, keyed with the shared
  secret, of the exact bytes ``<timestamp> + "." + <raw request body>``, e.g. ``b"1718000000.{...}"``

To verify: take the raw body bytes before any JSON parsing, compute
``"sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()``, compare it
with the header in constant time (``hmac.compare_digest``), and refuse timestamps more than five minutes
from your clock so a captured request cannot be replayed later. ``verify_signature`` below does exactly this.

Answer 2xx to acknowledge. 429 and 5xx (and network errors or timeouts) are retried with exponential
backoff and full jitter, honouring ``Retry-After``; any other answer, a redirect included, ends the delivery.
"""

from __future__ import annotations

import email.utils
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from reelscope import __version__
from reelscope.core.errors import UrlNotAllowed
from reelscope.core.urls import Resolver, pin_public_url

SIGNATURE_HEADER = "X-Reelscope-Signature"
TIMESTAMP_HEADER = "X-Reelscope-Timestamp"
EVENT_HEADER = "X-Reelscope-Event"
DELIVERY_HEADER = "X-Reelscope-Delivery"
EVENT_JOB_FINISHED = "job.finished"
SIGNATURE_PREFIX = "sha256="

log = logging.getLogger(__name__)


def sign_payload(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>." + body>``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(
    secret: bytes,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """True when the signature matches and the timestamp is within ``tolerance_s`` of ``now``."""
    try:
        timestamp = int(timestamp_header.strip())
    except ValueError:
        return False
    current_s = time.time() if now is None else now
    if abs(current_s - timestamp) > tolerance_s:
        return False
    expected = sign_payload(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature_header.strip().encode())


@dataclass(frozen=True)
class WebhookResult:
    """The final outcome of one delivery."""

    job_id: str
    url: str
    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None


@dataclass
class _Delivery:
    job_id: str
    url: str
    body: bytes
    delivery_id: str
    attempts: int
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    retry: bool
    status_code: int | None
    error: str | None
    retry_after_s: float | None = None
    sent: bool = True  # False when the URL was refused before any request left


class WebhookSender:
    """Delivers webhooks from one daemon thread, retrying on a schedule kept in a heap.

    ``on_result`` is called once per enqueued delivery with its final outcome, from the sender's thread.
    A delivery resumed with ``attempts_done`` gets at least one more attempt. Deliveries still queued
    when ``close`` is called are dropped without a result: the caller's store remembers them.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        on_result: Callable[[WebhookResult], None],
        on_retry: Callable[[str, int], None] | None = None,
        max_attempts: int = 6,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 300.0,
        timeout_s: float = 10.0,
        allow_private: bool = False,
        transport: httpx.BaseTransport | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if backoff_base_s <= 0 or backoff_max_s < backoff_base_s:
            raise ValueError("backoff_base_s must be positive and at most backoff_max_s")
        self._secret = secret
        self._on_result = on_result
        self._on_retry = on_retry  # (job_id, attempts so far): lets a store resume the count after a restart
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._timeout_s = timeout_s
        self._allow_private = allow_private
        self._resolve = resolve  # None: the system resolver (tests pass a fake one)
        # Redirects are never followed: the Location could name an internal host the URL check never saw.
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False, transport=transport)
        self._user_agent = f"reelscope/{__version__}"
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Delivery]] = []
        self._order = itertools.count()
        self._in_flight = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("webhook sender is closed")
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="reelscope-webhooks", daemon=True)
            self._thread.start()

    def enqueue(self, job_id: str, url: str, payload: dict[str, Any], *, attempts_done: int = 0) -> None:
        """Queue a delivery, due now. The payload is serialised here so a bad one fails in the caller."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        delivery = _Delivery(job_id, url, body, str(uuid.uuid4()), attempts=max(0, attempts_done))
        with self._cond:
            if self._closed:
                raise RuntimeError("webhook sender is closed")
            heapq.heappush(self._heap, (time.monotonic(), next(self._order), delivery))
            self._cond.notify()

    def pending(self) -> int:
        """Deliveries queued or in flight."""
        with self._cond:
            return len(self._heap) + self._in_flight

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread, waiting up to ``timeout_s`` for an attempt in flight."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            self._client.close()
            return
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("webhook sender still busy after %.1f s; leaving its daemon thread behind", timeout_s)

    def _run(self) -> None:
        try:
            while (delivery := self._next_due()) is not None:
                try:
                    self._handle(delivery)
                finally:
                    with self._cond:
                        self._in_flight -= 1
        finally:
            self._client.close()

    def _next_due(self) -> _Delivery | None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                wait_s = self._heap[0][0] - time.monotonic()
                if wait_s > 0:
                    self._cond.wait(wait_s)
                    continue
                self._in_flight += 1
                return heapq.heappop(self._heap)[2]
            return None

    def _handle(self, delivery: _Delivery) -> None:
        try:
            outcome = self._attempt(delivery)
        except Exception as exc:  # the thread must outlive any one delivery
            log.exception("webhook delivery for job %s failed unexpectedly", delivery.job_id)
            outcome = _Outcome(False, False, None, f"internal error: {exc!r}")
        if outcome.sent:
            delivery.attempts += 1
        delivery.status_code = outcome.status_code
        delivery.error = outcome.error
        if outcome.retry and delivery.attempts < self._max_attempts:
            delay_s = self._delay_s(delivery.attempts, outcome.retry_after_s)
            log.info(
                "webhook for job %s to %s failed (attempt %d/%d: %s); retrying in %.2f s",
                delivery.job_id, _host(delivery.url), delivery.attempts, self._max_attempts, outcome.error, delay_s,
            )
            if self._on_retry is not None:
                try:
                    self._on_retry(delivery.job_id, delivery.attempts)
                except Exception:
                    log.exception("webhook on_retry callback raised for job %s", delivery.job_id)
            with self._cond:
                heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._order), delivery))
            return
        self._report(delivery, delivered=outcome.delivered)

    def _attempt(self, delivery: _Delivery) -> _Outcome:
        try:
            # Pinned to the address that was checked: a DNS answer that changes after the check
            # (rebinding) cannot send the POST to an internal host.
            pinned = pin_public_url(delivery.url, allow_private=self._allow_private, resolve=self._resolve)
        except UrlNotAllowed as exc:
            return _Outcome(False, False, None, f"URL refused: {exc.message}", sent=False)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            EVENT_HEADER: EVENT_JOB_FINISHED,
            DELIVERY_HEADER: delivery.delivery_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign_payload(self._secret, timestamp, delivery.body),
        }
        try:
            # Streamed and never read: the receiver's answer body is not needed and could be huge.
            headers["Host"] = pinned.host_header
            extensions = {"sni_hostname": pinned.sni_hostname} if pinned.sni_hostname else None
            with self._client.stream("POST", pinned.url, content=delivery.body, headers=headers, extensions=extensions) as response:
                return _classify(response.status_code, response.headers)
        except httpx.TimeoutException as exc:
            return _Outcome(False, True, None, f"timed out after {self._timeout_s} s ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return _Outcome(False, True, None, f"network error: {exc or type(exc).__name__}")
        except httpx.InvalidURL as exc:
            return _Outcome(False, False, None, f"invalid URL: {exc}")

    def _delay_s(self, attempts: int, retry_after_s: float | None) -> float:
        floor_s = 0.05 * self._backoff_base_s
        if retry_after_s is not None:
            return max(floor_s, min(retry_after_s, self._backoff_max_s))
        # The exponent is capped so a resumed delivery with many attempts cannot overflow a float.
        ceiling_s = min(self._backoff_max_s, self._backoff_base_s * 2.0 ** min(attempts - 1, 60))
        return max(floor_s, random.uniform(0, ceiling_s))

    def _report(self, delivery: _Delivery, *, delivered: bool) -> None:
        result = WebhookResult(
            job_id=delivery.job_id,
            url=delivery.url,
            delivered=delivered,
            attempts=delivery.attempts,
            status_code=delivery.status_code,
            error=None if delivered else delivery.error,
        )
        if not delivered:
            log.warning(
                "webhook for job %s to %s not delivered after %d attempt(s): %s",
                delivery.job_id, _host(delivery.url), delivery.attempts, delivery.error,
            )
        try:
            self._on_result(result)
        except Exception:
            log.exception("webhook on_result callback raised for job %s", delivery.job_id)


def _classify(status_code: int, headers: httpx.Headers) -> _Outcome:
    if 200 <= status_code < 300:
        return _Outcome(True, False, status_code, None)
    if 300 <= status_code < 400:
        location = headers.get("Location", "")
        return _Outcome(
            False, False, status_code,
            f"receiver answered {status_code} (redirect to {location!r}); redirects are not followed "
            "because they could point at an internal host: configure the final URL",
        )
    if status_code == 429 or status_code >= 500:
        retry_after_s = _retry_after_s(headers.get("Retry-After"))
        return _Outcome(False, True, status_code, f"receiver answered {status_code}", retry_after_s)
    return _Outcome(False, False, status_code, f"receiver answered {status_code}; not retried")


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header, numeric or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _host(url: str) -> str:
    """The host only, for logs: webhook URLs often carry a token in their path or query."""
    try:
        return urlsplit(url.strip()).hostname or "?"
    except ValueError:
        return "?"
