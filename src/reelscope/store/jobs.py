"""JobStore: jobs and their states in SQLite (WAL), reports as JSON files written atomically
(temp file + rename), so nothing half-written is ever served."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reelscope.core.errors import JobNotFound, StoreError
from reelscope.core.jobs import JobStatus
from reelscope.core.report import AnalysisReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    media_sha256 TEXT,
    analyzers TEXT NOT NULL,
    params TEXT NOT NULL,
    error TEXT,
    report_path TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
"""


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    status: JobStatus
    source: str
    media_sha256: str | None
    analyzers: list[str]
    params: dict[str, Any]
    error: str | None
    report_path: str | None
    created_at: str
    updated_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JobStore:
    def __init__(self, db_path: Path, reports_dir: Path) -> None:
        self.db_path = Path(db_path)
        self.reports_dir = Path(reports_dir)
        self._lock = threading.Lock()
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self.reports_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the job store at {self.db_path}: {exc}", fix="check REELSCOPE_DATA_DIR is writable") from exc

    def close(self) -> None:
        self._db.close()

    def _execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"job store error: {exc}") from exc

    def create_job(self, job_id: str, source: str, media_sha256: str | None, analyzers: list[str], params: dict) -> None:
        """Insert the job, or put an existing non-final one back to queued."""
        now = _now()
        self._execute(
            "INSERT INTO jobs (job_id, status, source, media_sha256, analyzers, params, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(job_id) DO UPDATE SET status=excluded.status, source=excluded.source,"
            " error=NULL, updated_at=excluded.updated_at",
            (job_id, JobStatus.queued.value, source, media_sha256, json.dumps(analyzers), json.dumps(params), now, now),
        )

    def set_status(self, job_id: str, status: JobStatus, error: str | None = None) -> None:
        cur = self._execute(
            "UPDATE jobs SET status=?, error=?, updated_at=? WHERE job_id=?", (status.value, error, _now(), job_id)
        )
        if cur.rowcount == 0:
            raise JobNotFound(f"no job {job_id}")

    def save_report(self, report: AnalysisReport) -> Path:
        """Write the report file atomically, then mark the job final: a reader that sees the
        final status always finds the whole report."""
        path = self.reports_dir / f"{report.job_id}.json"
        atomic_write_text(path, report.model_dump_json(indent=1))
        self._execute(
            "UPDATE jobs SET status=?, report_path=?, error=NULL, updated_at=? WHERE job_id=?",
            (report.status.value, str(path), _now(), report.job_id),
        )
        return path

    def get(self, job_id: str) -> JobRecord:
        row = self._execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id}")
        return self._record(row)

    def list(self, status: JobStatus | None = None, limit: int = 50, offset: int = 0) -> list[JobRecord]:
        if status is None:
            rows = self._execute("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?", (limit, offset))
        else:
            rows = self._execute(
                "SELECT * FROM jobs WHERE status=? ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?", (status.value, limit, offset)
            )
        return [self._record(r) for r in rows.fetchall()]

    def report(self, job_id: str) -> AnalysisReport | None:
        """The stored report of a finished job, or None."""
        try:
            record = self.get(job_id)
        except JobNotFound:
            return None
        if not record.status.is_final or not record.report_path or not Path(record.report_path).exists():
            return None
        return AnalysisReport.model_validate_json(Path(record.report_path).read_text(encoding="utf-8"))

    def fail_interrupted(self) -> list[str]:
        """Jobs left queued/running by a process that died: mark them failed with the reason."""
        rows = self._execute("SELECT job_id FROM jobs WHERE status IN (?, ?)", (JobStatus.queued.value, JobStatus.running.value))
        ids = [r[0] for r in rows.fetchall()]
        for job_id in ids:
            self.set_status(job_id, JobStatus.failed, "interrupted: the process running this job stopped before it finished")
        return ids

    @staticmethod
    def _record(row: tuple) -> JobRecord:
        job_id, status, source, sha, analyzers, params, error, report_path, created, updated = row
        return JobRecord(
            job_id, JobStatus(status), source, sha, json.loads(analyzers), json.loads(params), error, report_path, created, updated
        )
