"""JobStore: job records and their states in SQLite (WAL), reports written atomically."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime

import pytest

from reelscope.core.errors import JobNotFound, StoreError
from reelscope.core.jobs import JobStatus
from reelscope.core.media_info import MediaInfo
from reelscope.core.report import AnalysisReport, AnalyzerReport, SourceInfo, Timings
from reelscope.core.results import OutcomeStatus, Segment
from reelscope.store.jobs import JobStore, atomic_write_bytes, atomic_write_text


@pytest.fixture()
def store(tmp_path):
    s = JobStore(tmp_path / "db" / "jobs.sqlite3", tmp_path / "reports")
    yield s
    s.close()


def make_report(job_id: str, status: JobStatus = JobStatus.succeeded) -> AnalysisReport:
    media = MediaInfo(
        path="/videos/a.mp4", file_size_bytes=1234, sha256="ab" * 32, container="mov,mp4", duration_s=3.0,
        has_video=True, has_audio=False, width=64, height=112,
    )  # fmt: skip
    return AnalysisReport(
        reelscope_version="0.1.0",
        job_id=job_id,
        status=status,
        created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        source=SourceInfo(path=media.path, sha256=media.sha256),
        media=media,
        timings=Timings(probe_s=0.1, decode_s=0.2, analyze_s=0.3, total_s=0.6, realtime_factor=0.2, waves_s=[0.3]),
        analyzers={
            "cut_analysis": AnalyzerReport(
                status=OutcomeStatus.ok,
                version="1.0.0",
                params={"min_cut_ratio": 3.0},
                duration_s=0.3,
                summary={"shot_count": 2},
                segments=[Segment(kind="transition", start_s=1.0, end_s=1.0, label="hard_cut", score=0.9)],
            )
        },
    )


def create(store: JobStore, job_id: str = "job1", analyzers=("cut_analysis",)) -> None:
    store.create_job(job_id, "/videos/a.mp4", "ab" * 32, list(analyzers), {"cut_analysis": {"min_cut_ratio": 3.0}})


def test_create_and_get(store):
    create(store)
    record = store.get("job1")
    assert record.job_id == "job1"
    assert record.status == JobStatus.queued
    assert record.source == "/videos/a.mp4"
    assert record.media_sha256 == "ab" * 32
    assert record.analyzers == ["cut_analysis"]
    assert record.params == {"cut_analysis": {"min_cut_ratio": 3.0}}
    assert record.error is None and record.report_path is None
    assert datetime.fromisoformat(record.created_at) <= datetime.fromisoformat(record.updated_at)


def test_unknown_job_raises_job_not_found(store):
    with pytest.raises(JobNotFound):
        store.get("nope")
    with pytest.raises(JobNotFound):
        store.set_status("nope", JobStatus.running)
    assert JobNotFound("x").exit_code == 7 and JobNotFound("x").http_status == 404


def test_set_status_records_the_error(store):
    create(store)
    store.set_status("job1", JobStatus.running)
    assert store.get("job1").status == JobStatus.running
    store.set_status("job1", JobStatus.failed, "decode_failed: broken")
    record = store.get("job1")
    assert (record.status, record.error) == (JobStatus.failed, "decode_failed: broken")


def test_create_again_requeues_and_clears_the_error(store):
    create(store)
    store.set_status("job1", JobStatus.failed, "boom")
    create(store)
    record = store.get("job1")
    assert (record.status, record.error) == (JobStatus.queued, None)
    assert len(store.list()) == 1


def test_list_filters_by_status_newest_first(store):
    for n in range(5):
        create(store, f"job{n}")
        time.sleep(0.002)  # created_at has millisecond resolution and ties have no order
    store.set_status("job1", JobStatus.running)
    store.set_status("job3", JobStatus.running)
    assert [r.job_id for r in store.list()] == ["job4", "job3", "job2", "job1", "job0"]
    assert sorted(r.job_id for r in store.list(JobStatus.running)) == ["job1", "job3"]
    assert [r.job_id for r in store.list(limit=2, offset=1)] == ["job3", "job2"]
    assert store.list(JobStatus.succeeded) == []


def test_save_report_is_atomic_and_readable(store, tmp_path):
    create(store)
    store.set_status("job1", JobStatus.running)
    report = make_report("job1", JobStatus.partially_succeeded)
    path = store.save_report(report)
    assert path == tmp_path / "reports" / "job1.json"
    assert AnalysisReport.model_validate_json(path.read_text()) == report
    assert json.loads(path.read_text())["job_id"] == "job1"
    assert sorted(p.name for p in path.parent.iterdir()) == ["job1.json"]  # no temp files left
    record = store.get("job1")
    assert record.status == JobStatus.partially_succeeded
    assert record.report_path == str(path)
    assert store.report("job1") == report


def test_save_report_replaces_an_older_report(store):
    create(store)
    store.save_report(make_report("job1"))
    newer = make_report("job1").model_copy(update={"created_at": datetime(2026, 1, 1, tzinfo=UTC)})
    path = store.save_report(newer)
    assert store.report("job1") == newer
    assert sorted(p.name for p in path.parent.iterdir()) == ["job1.json"]


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out" / "r.json"
    atomic_write_text(target, "old")

    with pytest.raises(TypeError):
        atomic_write_text(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["r.json"]


def test_a_write_failing_after_its_temp_file_exists_leaves_nothing_behind(tmp_path, monkeypatch):
    target = tmp_path / "out" / "s.parquet"
    atomic_write_bytes(target, b"old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("reelscope.store.jobs.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new", mode=0o644)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["s.parquet"]


def test_report_is_none_until_the_job_is_final(store):
    assert store.report("missing") is None
    create(store)
    assert store.report("job1") is None
    store.set_status("job1", JobStatus.running)
    assert store.report("job1") is None
    store.save_report(make_report("job1"))
    assert store.report("job1") is not None
    store.set_status("job1", JobStatus.running)  # recomputing (force): not served meanwhile
    assert store.report("job1") is None


def test_report_is_none_when_its_file_is_gone(store):
    create(store)
    path = store.save_report(make_report("job1"))
    path.unlink()
    assert store.report("job1") is None


def test_fail_interrupted_marks_unfinished_jobs_failed(store):
    for job_id in ("queued", "running", "done"):
        create(store, job_id)
    store.set_status("running", JobStatus.running)
    store.save_report(make_report("done"))
    assert sorted(store.fail_interrupted()) == ["queued", "running"]
    for job_id in ("queued", "running"):
        record = store.get(job_id)
        assert record.status == JobStatus.failed
        assert "interrupted" in record.error
    assert store.get("done").status == JobStatus.succeeded
    assert store.fail_interrupted() == []


def test_wal_mode_is_on(store, tmp_path):
    mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    other = sqlite3.connect(tmp_path / "db" / "jobs.sqlite3")
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persisted in the file
    finally:
        other.close()


def test_a_second_store_sees_the_same_jobs(store, tmp_path):
    create(store)
    store.set_status("job1", JobStatus.running)
    again = JobStore(tmp_path / "db" / "jobs.sqlite3", tmp_path / "reports")
    try:
        assert again.get("job1").status == JobStatus.running
    finally:
        again.close()


def test_an_unusable_location_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError) as caught:
        JobStore(blocker / "jobs.sqlite3", tmp_path / "reports")
    assert caught.value.fix
