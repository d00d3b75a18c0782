"""Bulk runs: every item gets one row whatever happens to it, a second run resumes without redoing
finished videos, a killed run resumes where it stopped, and the summaries hold one row per video."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import media_factory as mf
from reelscope.core.jobs import JobStatus
from reelscope.core.settings import Settings
from reelscope.ingest.bulk import BulkRequest, BulkRun
from reelscope.ingest.inputs import read_items
from reelscope.store.bulk import BulkLedger
from reelscope.store.jobs import JobStore
from tests.ingest.http_fixtures import MediaServer

ANALYZERS = ("cut_analysis", "color_analysis")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("bulk_clips")
    a, _ = mf.color_shots(folder / "a.mp4")
    b, _ = mf.color_shots(folder / "b.mp4", shots=(((200, 40, 40), 12), ((40, 200, 40), 12)))
    c, _ = mf.no_audio_clip(folder / "c.mp4")
    return [a, b, c]


def settings_for(tmp_path: Path, **extra) -> Settings:
    return Settings(data_dir=tmp_path / "data", executor="inline", workers=1, allow_private_urls=True,
                    download_attempts=1, download_rate_per_minute=6000, **extra)


def run_bulk(settings: Settings, listing: Path, out: Path, request: BulkRequest | None = None, backend: str = "process"):
    store = JobStore(settings.db_path, settings.reports_dir)
    try:
        run = BulkRun(settings, request or BulkRequest(ANALYZERS), store, backend=backend)  # type: ignore[arg-type]
        return run.run(read_items(listing), str(listing), out)
    finally:
        store.close()


def test_every_item_gets_a_row_and_bad_ones_do_not_stop_the_run(tmp_path, clips):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    listing = tmp_path / "list.txt"
    lines = [str(clips[0]), str(tmp_path / "missing.mp4"), str(bad), "file:///etc/passwd", str(clips[1])]
    listing.write_text("\n".join(lines) + "\n")
    outcome = run_bulk(settings_for(tmp_path), listing, tmp_path / "out")

    by_input = {row["input"]: row for row in outcome.rows}
    assert [row["input"] for row in outcome.rows] == lines  # input order, one row each
    assert by_input[str(clips[0])]["status"] == "succeeded"
    assert by_input[str(clips[1])]["status"] == "succeeded"
    assert by_input[str(tmp_path / "missing.mp4")]["error_code"] == "media_not_found"
    assert by_input[str(bad)]["error_code"] in ("decode_failed", "unsupported_media")
    assert by_input["file:///etc/passwd"]["error_code"] == "url_not_allowed"
    # key findings per analyzer: the cuts the clip was made with
    assert by_input[str(clips[0])]["cut_analysis.status"] == "ok"
    assert by_input[str(clips[0])]["cut_analysis.hard_cut_count"] == 2

    jsonl = [json.loads(line) for line in outcome.jsonl_path.read_text().splitlines()]
    assert [r["input"] for r in jsonl] == lines
    table = pq.read_table(outcome.parquet_path)
    assert table.num_rows == 5
    assert table.column("status").to_pylist() == [r["status"] for r in jsonl]
    assert outcome.stats["by_status"]["failed"] == 3


def test_a_second_run_resumes_without_redoing_anything(tmp_path, clips):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{clips[0]}\n{tmp_path / 'missing.mp4'}\n")
    settings = settings_for(tmp_path)
    first = run_bulk(settings, listing, tmp_path / "out")
    assert not first.resumed and first.skipped == 0
    job_id = first.rows[0]["job_id"]
    finished_at = JobStore(settings.db_path, settings.reports_dir).get(job_id).finished_at

    listing.write_text(f"{clips[0]}\n{tmp_path / 'missing.mp4'}\n{clips[1]}\n")  # one more video added
    second = run_bulk(settings, listing, tmp_path / "out2")
    assert second.resumed  # the same input name and analysis: the same run, resumed
    assert second.skipped == 2  # the done video and the permanent failure
    assert [r["input"] for r in second.rows] == [str(clips[0]), str(tmp_path / "missing.mp4"), str(clips[1])]
    assert JobStore(settings.db_path, settings.reports_dir).get(job_id).finished_at == finished_at  # not rerun
    assert second.stats["videos"] == 1  # only the new one ran now

    third = run_bulk(settings, listing, tmp_path / "out3", BulkRequest(ANALYZERS, retry_failed=True))
    assert third.skipped == 2  # the failure is tried again, the two done videos are not
    assert third.stats["videos"] == 1


def test_transient_failures_are_retried_on_resume(tmp_path, clips):
    with MediaServer() as server:
        url = server.url("/later.mp4")
        listing = tmp_path / "list.txt"
        listing.write_text(url + "\n")
        server.add_status("/later.mp4", 503)
        settings = settings_for(tmp_path)
        first = run_bulk(settings, listing, tmp_path / "out")
        assert first.rows[0]["error_code"] == "network_error"
        server.add_file("/later.mp4", clips[2])  # the site is back
        second = run_bulk(settings, listing, tmp_path / "out")
        assert second.skipped == 0
        row = second.rows[0]
        assert row["status"] == "succeeded" and row["url"] == url
        assert row["platform.platform"] == "generic"
        report = json.loads(Path(row["report_path"]).read_text())
        assert report["source"]["url"] == url and report["source"]["platform"]["id"]


def test_a_killed_run_resumes_where_it_stopped(tmp_path, clips):
    """SIGKILL the whole `reelscope bulk` process group mid-run, run the command again: videos that
    had finished are not redone and the summary holds every video exactly once."""
    folder = tmp_path / "videos"
    folder.mkdir()
    variants = [(((20 * k, 200 - 20 * k, 90), 10), ((200, 20 * k, 60), 10)) for k in range(8)]
    for k, shots in enumerate(variants):
        mf.color_shots(folder / f"v{k}.mp4", shots=shots)
    env = {**os.environ, "REELSCOPE_DATA_DIR": str(tmp_path / "data"), "REELSCOPE_WORKERS": "1"}
    command = [sys.executable, "-m", "reelscope.cli.main", "bulk", str(folder), "-o", str(tmp_path / "out"),
               "-a", "cut_analysis", "--jobs", "1"]
    proc = subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    store = JobStore(tmp_path / "data" / "reelscope.sqlite3", tmp_path / "data" / "reports")
    ledger = BulkLedger(store, BulkRequest(("cut_analysis",)).run_id(str(folder.resolve())))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = [e for e in ledger.entries().values() if e.state == "done"]
        if len(done) >= 2 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = {e.source: e.job_id for e in ledger.entries().values() if e.state == "done"}
    assert 2 <= len(done_before) < 8, "the kill should land mid-run"
    finished = {job_id: store.get(job_id).finished_at for job_id in done_before.values()}

    again = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"resuming: {len(done_before)} of 8" in " ".join(again.stderr.split())
    for job_id, stamp in finished.items():
        assert store.get(job_id).finished_at == stamp  # not run again
    rows = [json.loads(line) for line in (tmp_path / "out" / "summary.jsonl").read_text().splitlines()]
    assert sorted(Path(r["input"]).name for r in rows) == [f"v{k}.mp4" for k in range(8)]
    assert all(r["status"] == "succeeded" for r in rows)
    assert store.count(JobStatus.succeeded) == 8
    store.close()


def test_ray_backend_gives_the_same_rows_as_the_process_backend(tmp_path, clips):
    pytest.importorskip("ray")
    from reelscope.engine.executors import ray as ray_backend

    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([*map(str, clips), str(tmp_path / "missing.mp4")]) + "\n")
    local = run_bulk(settings_for(tmp_path / "p"), listing, tmp_path / "out_p")
    ray_backend.connect(None, num_cpus=2)
    try:
        remote = run_bulk(settings_for(tmp_path / "r", ray_cpus_per_actor=1.0), listing, tmp_path / "out_r", backend="ray")
    finally:
        ray_backend.shutdown()
    timing = ("wall_s", "realtime_factor", "finished_at", "report_path", "ray_node")

    def comparable(row: dict) -> dict:
        return {k: v for k, v in row.items() if k not in timing and not k.endswith("duration_s")}

    assert [comparable(r) for r in remote.rows] == [comparable(r) for r in local.rows]
    assert {r["status"] for r in remote.rows} == {"succeeded", "failed"}
    for row in remote.rows[:3]:  # the reports came back into this store
        assert Path(row["report_path"]).is_file()
        assert len(row["ray_node"]) >= 16  # the node that did the work


def test_ctrl_c_stops_cleanly_writes_the_summary_and_exits_130(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for k in range(6):
        mf.color_shots(folder / f"w{k}.mp4", shots=(((40 * k, 90, 200 - 30 * k), 10), ((90, 40 * k, 60), 10)))
    env = {**os.environ, "REELSCOPE_DATA_DIR": str(tmp_path / "data"), "REELSCOPE_WORKERS": "1"}
    out = tmp_path / "out"
    command = [sys.executable, "-m", "reelscope.cli.main", "bulk", str(folder), "-o", str(out), "-a", "cut_analysis", "--jobs", "1"]
    proc = subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    store = JobStore(tmp_path / "data" / "reelscope.sqlite3", tmp_path / "data" / "reports")
    ledger = BulkLedger(store, BulkRequest(("cut_analysis",)).run_id(str(folder.resolve())))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(e.state == "done" for e in ledger.entries().values()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # the main process only, as a terminal's Ctrl-C would reach it first
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 130, output
    run = json.loads((out / "run.json").read_text())
    assert run["interrupted"] is True
    rows = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    assert 1 <= len(rows) < 6 and all(r["status"] == "succeeded" for r in rows)
    assert not [e for e in ledger.entries().values() if e.state == "running"]  # interrupted items went back to pending
    store.close()
