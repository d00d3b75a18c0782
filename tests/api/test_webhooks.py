"""Webhook delivery against a real HTTP server on 127.0.0.1: signing, retries, backoff and refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from reelscope import __version__
from reelscope.api.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookResult,
    WebhookSender,
    sign_payload,
    verify_signature,
)

SECRET = b"test-secret"
PAYLOAD = {"job_id": "job-1", "status": "succeeded", "report_url": "/v1/jobs/job-1/report", "n": 3}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at_s: float


class Receiver:
    """A webhook receiver that answers from a script (then 200, or ``default``) and records every request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body, time.monotonic()))
                    reply = receiver.script.pop(0) if receiver.script else receiver.default
                time.sleep(reply.delay_s)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def results() -> queue.Queue[WebhookResult]:
    return queue.Queue()


def make_sender(results: queue.Queue[WebhookResult], **overrides: Any) -> WebhookSender:
    options: dict[str, Any] = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 2.0, "allow_private": True}
    options.update(overrides)
    sender = WebhookSender(SECRET, on_result=results.put, **options)
    sender.start()
    return sender


def deliver(results: queue.Queue[WebhookResult], url: str, **overrides: Any) -> WebhookResult:
    sender = make_sender(results, **overrides)
    try:
        sender.enqueue("job-1", url, PAYLOAD)
        result = results.get(timeout=10)
        assert sender.pending() == 0
        return result
    finally:
        sender.close()


def test_sign_payload_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"a":1}'
    expected = hmac.new(SECRET, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign_payload(SECRET, 1700000000, body) == "sha256=" + expected


def test_delivers_on_first_try_with_a_signature_the_receiver_can_verify(receiver, results):
    result = deliver(results, receiver.url)
    assert result == WebhookResult("job-1", receiver.url, True, 1, 200, None)

    [request] = receiver.requests
    assert request.path == "/hook"
    assert json.loads(request.body) == PAYLOAD
    assert request.body == json.dumps(PAYLOAD, separators=(",", ":"), sort_keys=True).encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"reelscope/{__version__}"
    assert request.headers[EVENT_HEADER] == "job.finished"
    assert len(request.headers[DELIVERY_HEADER]) == 36
    timestamp, signature = request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER]
    assert abs(int(timestamp) - time.time()) < 60

    assert verify_signature(SECRET, timestamp, signature, request.body)
    assert not verify_signature(b"wrong-secret", timestamp, signature, request.body)
    assert not verify_signature(SECRET, timestamp, signature, request.body.replace(b"succeeded", b"failed___"))
    assert not verify_signature(SECRET, str(int(timestamp) + 1), signature, request.body)
    # The same valid request replayed ten minutes later is stale; so is one claiming to come from the future.
    assert not verify_signature(SECRET, timestamp, signature, request.body, now=int(timestamp) + 600)
    assert not verify_signature(SECRET, timestamp, signature, request.body, now=int(timestamp) - 600)
    assert verify_signature(SECRET, timestamp, signature, request.body, now=int(timestamp) + 299)


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [("not-a-number", None), ("", None), ("1700000000", "deadbeef"), ("1700000000", "sha256=é")],
)
def test_verify_signature_rejects_malformed_headers(timestamp, signature):
    body = b"{}"
    good = sign_payload(SECRET, 1700000000, body)
    assert not verify_signature(SECRET, timestamp, signature or good, body, now=1700000000)


def test_retries_503_then_delivers_with_the_same_delivery_id(receiver, results):
    receiver.script = [Reply(503), Reply(503)]
    result = deliver(results, receiver.url)
    assert result.delivered and result.attempts == 3 and result.status_code == 200 and result.error is None
    assert len(receiver.requests) == 3
    assert len({r.headers[DELIVERY_HEADER] for r in receiver.requests}) == 1
    for request in receiver.requests:  # each attempt is signed afresh and verifies
        headers = request.headers
        assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], request.body)


def test_each_failed_attempt_that_will_be_retried_is_reported(receiver, results):
    receiver.script = [Reply(503), Reply(500)]
    retries: list[tuple[str, int]] = []
    result = deliver(results, receiver.url, on_retry=lambda job_id, attempts: retries.append((job_id, attempts)))
    assert result.delivered and result.attempts == 3
    assert retries == [("job-1", 1), ("job-1", 2)]  # not the final, successful attempt


def test_each_delivery_gets_its_own_id(receiver, results):
    sender = make_sender(results)
    try:
        sender.enqueue("job-1", receiver.url, PAYLOAD)
        sender.enqueue("job-2", receiver.url, PAYLOAD)
        outcomes = {results.get(timeout=10).job_id, results.get(timeout=10).job_id}
    finally:
        sender.close()
    assert outcomes == {"job-1", "job-2"}
    assert len({r.headers[DELIVERY_HEADER] for r in receiver.requests}) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_client_errors_are_not_retried(receiver, results, status):
    receiver.default = Reply(status)
    result = deliver(results, receiver.url)
    assert not result.delivered and result.attempts == 1 and result.status_code == status
    assert str(status) in (result.error or "")
    assert len(receiver.requests) == 1


def test_server_errors_fail_after_max_attempts(receiver, results):
    receiver.default = Reply(500)
    result = deliver(results, receiver.url, max_attempts=3)
    assert not result.delivered and result.attempts == 3 and result.status_code == 500
    assert "500" in (result.error or "")
    assert len(receiver.requests) == 3


def test_429_is_retried(receiver, results):
    receiver.script = [Reply(429)]
    result = deliver(results, receiver.url)
    assert result.delivered and result.attempts == 2


def test_retry_after_is_honoured(receiver, results):
    receiver.script = [Reply(503, {"Retry-After": "1"})]
    result = deliver(results, receiver.url, backoff_max_s=5.0)
    assert result.delivered and result.attempts == 2
    first, second = receiver.requests
    # Without Retry-After the backoff here is at most 0.01 s.
    assert 0.9 <= second.at_s - first.at_s < 3.0


def test_retry_after_is_capped_at_backoff_max(receiver, results):
    receiver.script = [Reply(429, {"Retry-After": "3600"})]
    result = deliver(results, receiver.url, backoff_max_s=0.3)
    assert result.delivered
    first, second = receiver.requests
    assert 0.25 <= second.at_s - first.at_s < 2.0


def test_redirects_are_not_followed(receiver, results):
    receiver.default = Reply(302, {"Location": "/internal-admin"})
    result = deliver(results, receiver.url)
    assert not result.delivered and result.attempts == 1 and result.status_code == 302
    assert "redirect" in (result.error or "") and "/internal-admin" in (result.error or "")
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_private_url_is_refused_before_any_request(receiver, results):
    result = deliver(results, receiver.url, allow_private=False)
    assert not result.delivered and result.attempts == 0 and result.status_code is None
    assert "URL refused" in (result.error or "") and "127.0.0.1" in (result.error or "")
    assert receiver.requests == []


def test_network_errors_are_retried_until_max_attempts(results):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = deliver(results, f"http://127.0.0.1:{port}/hook", max_attempts=3)
    assert not result.delivered and result.attempts == 3 and result.status_code is None
    assert "network error" in (result.error or "")


def test_timeouts_are_retried(receiver, results):
    receiver.script = [Reply(200, delay_s=1.0)]
    result = deliver(results, receiver.url, timeout_s=0.2)
    assert result.delivered and result.attempts == 2
    assert len(receiver.requests) == 2


def test_resumed_delivery_counts_earlier_attempts(receiver, results):
    receiver.default = Reply(500)
    sender = make_sender(results, max_attempts=4)
    try:
        sender.enqueue("job-1", receiver.url, PAYLOAD, attempts_done=3)
        result = results.get(timeout=10)
    finally:
        sender.close()
    assert not result.delivered and result.attempts == 4
    assert len(receiver.requests) == 1


def test_a_raising_callback_does_not_kill_the_thread(receiver, results):
    calls: list[WebhookResult] = []

    def on_result(result: WebhookResult) -> None:
        calls.append(result)
        if len(calls) == 1:
            raise RuntimeError("store is down")
        results.put(result)

    sender = WebhookSender(SECRET, on_result=on_result, backoff_base_s=0.01, allow_private=True)
    sender.start()
    try:
        sender.enqueue("job-1", receiver.url, PAYLOAD)
        sender.enqueue("job-2", receiver.url, PAYLOAD)
        second = results.get(timeout=10)
    finally:
        sender.close()
    assert [c.job_id for c in calls] == ["job-1", "job-2"] and second.delivered


def test_close_stops_promptly_and_leaves_waiting_deliveries_undelivered(receiver, results):
    receiver.default = Reply(503)
    sender = make_sender(results, backoff_base_s=30.0, backoff_max_s=60.0)
    sender.enqueue("job-1", receiver.url, PAYLOAD)
    deadline_s = time.monotonic() + 5
    while not receiver.requests and time.monotonic() < deadline_s:
        time.sleep(0.01)
    time.sleep(0.1)  # let the failed attempt go back into the heap
    assert sender.pending() == 1
    started_s = time.monotonic()
    sender.close(timeout_s=5)
    assert time.monotonic() - started_s < 1.0
    assert results.empty() and len(receiver.requests) == 1
    with pytest.raises(RuntimeError):
        sender.enqueue("job-2", receiver.url, PAYLOAD)


def test_deliveries_enqueued_before_start_are_sent_after_it(receiver, results):
    sender = WebhookSender(SECRET, on_result=results.put, allow_private=True)
    sender.enqueue("job-1", receiver.url, PAYLOAD)
    assert sender.pending() == 1 and receiver.requests == []
    sender.start()
    try:
        assert results.get(timeout=10).delivered
    finally:
        sender.close()


def test_payload_that_is_not_json_fails_in_the_caller(results):
    sender = WebhookSender(SECRET, on_result=results.put)
    try:
        with pytest.raises(TypeError):
            sender.enqueue("job-1", "http://example.com/", {"when": object()})
        assert sender.pending() == 0
    finally:
        sender.close()


def test_the_post_goes_to_the_address_that_was_checked(results):
    """DNS rebinding: the name answers a public address for the check and 127.0.0.1 afterwards. The
    POST is pinned to the checked address, keeps the original Host and TLS server name, and the name
    is resolved once."""
    import httpx

    seen: list[httpx.Request] = []
    resolved: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["93.184.216.34"] if len(resolved) == 1 else ["127.0.0.1"]

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    result = deliver(results, "https://hooks.example.com/in", allow_private=False, resolve=rebinding,
                     transport=httpx.MockTransport(receiver))
    assert result.delivered
    [request] = seen
    assert request.url.host == "93.184.216.34" and request.url.path == "/in"
    assert request.headers["Host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert resolved == ["hooks.example.com"]
