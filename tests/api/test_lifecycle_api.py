"""Jobs over time in-process: cancel (queued and running on the shared worker pool), backpressure,
recovery after a crash, webhooks, API key, health, readiness and metrics."""

from __future__ import annotations

import http.server
import json
import os
import signal
import threading
import time

import pytest
from api_helpers import assert_error, wait_final, wait_status
from prometheus_client.parser import text_string_to_metric_families
from tests.fakes import FAKE_TARGETS

from reelscope.analyzers.registry import Registry
from reelscope.api.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from reelscope.core.jobs import JobStatus
from reelscope.engine.executors.process import ProcessExecutor
from reelscope.store.jobs import JobStore

FAKES = Registry(FAKE_TARGETS)


def slow(client, seconds: float, **extra):
    return client.post("/v1/jobs", json={"path": "clip.mp4", "analyzers": ["slow"], "params": {"slow": {"seconds": seconds}}, **extra})


@pytest.fixture
def pool(tmp_path):
    executor = ProcessExecutor(workers=1, registry=FAKES, log_dir=tmp_path / "logs")
    yield executor
    executor.close()


def test_cancel_a_running_job_kills_its_task_and_the_pool_goes_on(make_api, pool):
    with make_api(registry=FAKES, executor=pool, max_concurrent_jobs=1) as client:
        job = slow(client, 30).json()
        wait_status(client, job["job_id"], "running")
        deadline = time.monotonic() + 20
        while client.get(f"/v1/jobs/{job['job_id']}").json()["progress"]["analyzers"]["slow"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        busy_pid = pool.state().workers[0].pid
        started = time.monotonic()
        cancelled = client.delete(f"/v1/jobs/{job['job_id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert time.monotonic() - started < 5  # not the 30 s the task would have taken
        assert_error(client.get(f"/v1/jobs/{job['job_id']}/report"), 409, "job_conflict")
        assert_error(client.delete(f"/v1/jobs/{job['job_id']}"), 409, "job_conflict")
        # the worker running it was replaced, and the next job runs on the pool
        after = slow(client, 0.1).json()
        assert wait_final(client, after["job_id"])["status"] == "succeeded"
        assert pool.state().workers[0].pid != busy_pid


def test_cancel_a_queued_job_and_backpressure(make_api, pool):
    with make_api(registry=FAKES, executor=pool, max_concurrent_jobs=1, max_queued_jobs=2) as client:
        running = slow(client, 30).json()
        wait_status(client, running["job_id"], "running")
        queued = [slow(client, 0.1 + i / 100) for i in range(2)]
        assert [q.status_code for q in queued] == [202, 202]
        full = slow(client, 0.5)
        assert_error(full, 429, "queue_full")
        assert int(full.headers["retry-after"]) >= 1
        assert client.get("/health/ready").json()["checks"]["queue"]["ok"] is False
        cancelled = client.delete(f"/v1/jobs/{queued[0].json()['job_id']}").json()
        assert cancelled["status"] == "cancelled" and cancelled["started_at"] is None
        assert slow(client, 0.5).status_code == 202  # room again
        client.delete(f"/v1/jobs/{running['job_id']}")
        assert wait_final(client, queued[1].json()["job_id"])["status"] == "succeeded"


def test_a_job_left_running_by_a_crash_is_resumed_and_one_that_kept_dying_fails(make_api, tmp_path, media_root):
    store = JobStore(tmp_path / "data" / "reelscope.sqlite3", tmp_path / "data" / "reports")
    params = {"slow": {"seconds": 0.05}}
    store.create_job("a" * 24, str(media_root / "clip.mp4"), None, ["slow"], params)
    store.claim_next()  # attempt 1, then the "server" died
    store.create_job("b" * 24, str(media_root / "clip.mp4"), None, ["slow"], {"slow": {"seconds": 0.06}})
    store.claim_next()
    store.set_status("b" * 24, JobStatus.queued)
    store.claim_next()  # attempt 2 of b, died again
    store.close()
    leftover = tmp_path / "data" / "work" / ("a" * 24)
    leftover.mkdir(parents=True)
    (leftover / "frames.raw").write_bytes(b"half a decode")
    with make_api(registry=FAKES, max_job_attempts=2) as client:
        assert not (leftover / "frames.raw").exists()  # the killed run's work files are gone before it runs again
        resumed = wait_final(client, "a" * 24)
        assert resumed["status"] == "succeeded" and resumed["attempts"] == 2
        gave_up = client.get(f"/v1/jobs/{'b' * 24}").json()
        assert gave_up["status"] == "failed" and "interrupted" in gave_up["error"] and gave_up["attempts"] == 2


def test_an_unexpected_error_before_the_run_fails_the_job_instead_of_leaving_it_running(make_api, monkeypatch):
    with make_api(registry=FAKES) as client:
        service = client.app.state.ctx.service
        real_prepare = service.engine.prepare
        calls = []

        def prepare_then_break(spec, allowed_roots=None):
            calls.append(spec)
            if len(calls) > 1:  # the runner's re-preparation, after submission succeeded
                raise PermissionError("media became unreadable")
            return real_prepare(spec, allowed_roots)

        monkeypatch.setattr(service.engine, "prepare", prepare_then_break)
        job = slow(client, 0.05).json()
        done = wait_final(client, job["job_id"], timeout_s=10)
        assert done["status"] == "failed" and done["error"] == "PermissionError: media became unreadable"
        assert client.get("/health/ready").json()["queue"]["running"] == 0


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_is_signed_and_delivered_once_the_job_ends(make_api, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with make_api(webhook_secret="s3cret") as client:
            job = client.post("/v1/jobs", json={"path": "clip.mp4", "analyzers": ["cut_analysis"], "webhook_url": url}).json()
            wait_final(client, job["job_id"])
            deadline = time.monotonic() + 10
            while not _Receiver.received and time.monotonic() < deadline:
                time.sleep(0.05)
            headers, body = _Receiver.received[0]
            headers = {k.lower(): v for k, v in headers.items()}
            assert verify_signature(b"s3cret", headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()], body)
            assert not verify_signature(b"other", headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()], body)
            payload = json.loads(body)
            assert payload["job_id"] == job["job_id"] and payload["status"] == "succeeded"
            assert payload["results"] == {"cut_analysis": "ok"}
            while client.get(f"/v1/jobs/{job['job_id']}").json()["webhook_status"] != "delivered":
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with make_api(webhook_secret="s3cret", allow_private_urls=False) as client:
            refused = client.post("/v1/jobs", json={"path": "clip.mp4", "webhook_url": url})
            assert_error(refused, 422, "url_not_allowed")
    finally:
        server.shutdown()


def test_api_key(make_api):
    with make_api(api_key="k3y") as client:
        assert client.get("/health").status_code == 200  # liveness stays open for probes
        error = assert_error(client.get("/v1/jobs"), 401, "unauthorized")
        assert "Bearer" in error["fix"]
        assert client.get("/v1/jobs").headers["www-authenticate"] == "Bearer"
        assert_error(client.get("/v1/jobs", headers={"X-API-Key": "k3y-wrong"}), 401, "unauthorized")
        assert_error(client.get("/metrics"), 401, "unauthorized")
        assert client.get("/v1/jobs", headers={"X-API-Key": "k3y"}).status_code == 200
        assert client.get("/v1/analyzers", headers={"Authorization": "Bearer k3y"}).status_code == 200


def test_readiness_is_honest(make_api, monkeypatch, pool):
    with make_api(registry=FAKES, executor=pool) as client:
        deadline = time.monotonic() + 60
        while (ready := client.get("/health/ready")).status_code != 200:
            assert time.monotonic() < deadline, ready.json()
            time.sleep(0.1)
        checks = ready.json()["checks"]
        assert checks["workers"]["data"]["ready"] == 1 and checks["store"]["ok"]
        ctx = client.app.state.ctx
        monkeypatch.setattr(ctx.store, "check_writable", lambda: (_ for _ in ()).throw(OSError("disk full")))
        broken = client.get("/health/ready")
        assert broken.status_code == 503 and "disk full" in broken.json()["checks"]["store"]["detail"]
        monkeypatch.undo()
        monkeypatch.setattr("reelscope.api.routes.system.gpu_statuses", lambda: (_ for _ in ()).throw(RuntimeError("nvidia-smi timed out")))
        gpu = client.get("/health/ready")
        assert gpu.status_code == 503 and gpu.json()["checks"]["gpu"] == {"ok": False, "detail": "nvidia-smi timed out", "data": None}
        monkeypatch.undo()
        # a worker killed from outside: ready again only once it has been replaced by a live one
        killed = pool.state().workers[0].pid
        os.kill(killed, signal.SIGKILL)
        time.sleep(0.1)  # delivered and reaped: from now on it must not count as ready
        deadline = time.monotonic() + 60
        while (answer := client.get("/health/ready")).status_code != 200 or pool.state().workers[0].pid == killed:
            if answer.status_code == 200:  # it may only say ready about a live worker
                assert pool.state().workers[0].pid != killed
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_metrics_count_jobs_outcomes_and_requests(make_api):
    with make_api() as client:
        job = client.post("/v1/jobs", json={"path": "clip.mp4", "analyzers": ["cut_analysis", "audio_analysis"]}).json()
        wait_final(client, job["job_id"])
        client.get("/v1/jobs/nope")
        text = client.get("/metrics").text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}
        assert samples[("reelscope_jobs", (("status", "succeeded"),))] == 1
        assert samples[("reelscope_analyzer_outcomes_total", (("analyzer", "cut_analysis"), ("status", "ok")))] == 1
        assert samples[("reelscope_stage_duration_seconds_count", (("stage", "decode"),))] == 1
        assert samples[("reelscope_queue_depth", ())] == 0
        not_found = (("method", "GET"), ("route", "/v1/jobs/{job_id}"), ("status", "404"))
        assert samples[("reelscope_http_requests_total", not_found)] == 1
