"""The API as users run it: a real `reelscope serve` subprocess on 127.0.0.1, killed with SIGKILL
in the middle of a job and started again; the job is resumed, never lost or served half-written."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from api_helpers import assert_error

from reelscope.media.synth import write_selftest_clip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, media_root: Path, tmp_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            sys.executable, "-m", "reelscope.cli.main", "serve", "--port", str(self.port),
            "--media-root", str(media_root), "--data-dir", str(data_dir), "--workers", "2", "--log-level", "warning",
        ]
        self.log = tmp_path / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self, ready_within_s: float = 120) -> float:
        started = time.monotonic()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(self.args, stdout=self.log.open("a"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
        while time.monotonic() - started < ready_within_s:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server never became ready:\n" + self.log.read_text()[-3000:])

    def kill_hard(self) -> None:
        """SIGKILL the server and its workers, as a crash or the OOM killer would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("served")
    write_selftest_clip(root / "long.mp4", duration_s=24.0, width=360, height=640)
    write_selftest_clip(root / "short.mp4", duration_s=2.0, width=180, height=320)
    return root


def test_real_server_submit_poll_report_cancel_and_refusals(long_clip, tmp_path):
    server = Server(tmp_path / "data", long_clip, tmp_path)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            job = client.post("/v1/jobs", json={"path": "short.mp4"})
            assert job.status_code == 202
            job_id = job.json()["job_id"]
            while (state := client.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
                time.sleep(0.1)
            assert state["status"] == "succeeded", state
            report = client.get(f"/v1/jobs/{job_id}/report").json()
            assert report["analyzers"]["cut_analysis"]["status"] == "ok"
            assert_error(client.post("/v1/jobs", json={"path": "../../etc/passwd"}), 403, "path_not_allowed")
            assert_error(client.post("/v1/jobs", json={"path": "short.mp4", "analyzers": ["x"]}), 422, "unknown_analyzer")
            long_job = client.post("/v1/jobs", json={"path": "long.mp4"}).json()["job_id"]
            cancelled = client.delete(f"/v1/jobs/{long_job}").json()
            assert cancelled["status"] == "cancelled"
            status = subprocess.run(
                [sys.executable, "-m", "reelscope.cli.main", "status", "--url", server.url], capture_output=True, text=True, timeout=60
            )
            assert status.returncode == 0 and "ready" in status.stdout and "workers" in status.stdout
    finally:
        server.stop()
    # a stopped server is reported unreachable with its own exit code
    gone = subprocess.run([sys.executable, "-m", "reelscope.cli.main", "status", "--url", server.url], capture_output=True, text=True)
    assert gone.returncode == 3 and "unreachable" in gone.stderr


def test_kill_9_mid_job_then_restart_resumes_the_job(long_clip, tmp_path):
    data = tmp_path / "data"
    server = Server(data, long_clip, tmp_path)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            job_id = client.post("/v1/jobs", json={"path": "long.mp4"}).json()["job_id"]
            deadline = time.monotonic() + 60
            while client.get(f"/v1/jobs/{job_id}").json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.01)
            server.kill_hard()
        assert not (data / "reports" / f"{job_id}.json").exists()  # nothing half-written
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 120
            while (state := client.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert state["status"] == "succeeded" and state["attempts"] == 2, state
            assert client.get("/v1/jobs").json()["total"] == 1  # resumed, not duplicated
            report = client.get(f"/v1/jobs/{job_id}/report").json()
            assert all(a["status"] == "ok" for a in report["analyzers"].values())
    finally:
        server.stop()
