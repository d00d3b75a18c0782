"""JobStore: jobs and their states in SQLite (WAL), reports as JSON files written atomically
(temp file + rename), so nothing half-written is ever served.

The same table is the API's durable queue: ``claim_next`` moves the oldest queued job to running
in one statement, ``recover_interrupted`` decides what happens to jobs a dead server left running,
and webhook delivery state survives restarts. Schema changes are numbered migrations
(``PRAGMA user_version``), so a data dir from an older version is upgraded in place."""

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

# Each entry upgrades the schema by one version; never edit one that has shipped.
_MIGRATIONS = (
    """
    ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN queued_at TEXT;
    ALTER TABLE jobs ADD COLUMN started_at TEXT;
    ALTER TABLE jobs ADD COLUMN finished_at TEXT;
    ALTER TABLE jobs ADD COLUMN webhook_url TEXT;
    ALTER TABLE jobs ADD COLUMN webhook_status TEXT;
    ALTER TABLE jobs ADD COLUMN webhook_attempts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(status, queued_at);
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        key TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # bulk runs: one row per (run, input item); see store/bulk.py
    """
    CREATE TABLE IF NOT EXISTS bulk_runs (
        run_id TEXT PRIMARY KEY,
        input TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS bulk_items (
        run_id TEXT NOT NULL,
        source TEXT NOT NULL,
        position INTEGER NOT NULL,
        state TEXT NOT NULL,
        job_id TEXT,
        transient INTEGER NOT NULL DEFAULT 0,
        tries INTEGER NOT NULL DEFAULT 0,
        row TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (run_id, source)
    );
    """,
)
_FINAL = tuple(s.value for s in JobStatus if s.is_final)


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
    attempts: int = 0
    queued_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    webhook_url: str | None = None
    webhook_status: str | None = None  # pending | delivered | failed; None without a webhook
    webhook_attempts: int = 0


@dataclass(frozen=True)
class _Result:
    rows: list[sqlite3.Row]
    rowcount: int

    def fetchone(self) -> sqlite3.Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[sqlite3.Row]:
        return self.rows


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it into place, so a reader (or a
    killed process) never sees half a file. ``mode`` sets its permissions (mkstemp's are 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    atomic_write_bytes(path, str.encode(text, "utf-8"), mode=mode)  # TypeError for a non-str


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
            self._db.row_factory = sqlite3.Row
            self._db.executescript(_SCHEMA)
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the job store at {self.db_path}: {exc}", fix="check REELSCOPE_DATA_DIR is writable") from exc

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")

    def close(self) -> None:
        self._db.close()

    def _execute(self, sql: str, args: tuple = ()) -> _Result:
        """Run one statement and fetch its rows under the lock: threads share the connection."""
        try:
            with self._lock:
                cur = self._db.execute(sql, args)
                return _Result(cur.fetchall(), cur.rowcount)
        except sqlite3.Error as exc:
            raise StoreError(f"job store error: {exc}") from exc

    def create_job(
        self,
        job_id: str,
        source: str,
        media_sha256: str | None,
        analyzers: list[str],
        params: dict,
        webhook_url: str | None = None,
    ) -> None:
        """Insert the job as queued, or put an existing one back to queued (a re-run)."""
        now = _now()
        webhook_status = "pending" if webhook_url else None
        self._execute(
            "INSERT INTO jobs (job_id, status, source, media_sha256, analyzers, params, created_at, updated_at,"
            " queued_at, webhook_url, webhook_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(job_id) DO UPDATE SET status=excluded.status, source=excluded.source, error=NULL,"
            " updated_at=excluded.updated_at, queued_at=excluded.queued_at, attempts=0, started_at=NULL,"
            " finished_at=NULL, webhook_url=excluded.webhook_url, webhook_status=excluded.webhook_status,"
            " webhook_attempts=0",
            (
                job_id, JobStatus.queued.value, source, media_sha256, json.dumps(analyzers), json.dumps(params),
                now, now, now, webhook_url, webhook_status,
            ),
        )

    def set_status(self, job_id: str, status: JobStatus, error: str | None = None) -> None:
        now = _now()
        cur = self._execute(
            "UPDATE jobs SET status=?, error=?, updated_at=?,"
            " started_at=CASE WHEN ?='running' THEN COALESCE(started_at, ?) ELSE started_at END,"
            " finished_at=CASE WHEN ? IN ('running', 'queued') THEN NULL ELSE ? END WHERE job_id=?",
            (status.value, error, now, status.value, now, status.value, now, job_id),
        )
        if cur.rowcount == 0:
            raise JobNotFound(f"no job {job_id}")

    def save_report(self, report: AnalysisReport) -> Path:
        """Write the report file atomically, then mark the job final: a reader that sees the
        final status always finds the whole report."""
        path = self.reports_dir / f"{report.job_id}.json"
        atomic_write_text(path, report.model_dump_json(indent=1))
        self._execute(
            "UPDATE jobs SET status=?, report_path=?, error=NULL, updated_at=?, finished_at=? WHERE job_id=?",
            (report.status.value, str(path), _now(), _now(), report.job_id),
        )
        return path

    def get(self, job_id: str) -> JobRecord:
        row = self._execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id}")
        return self._record(row)

    def count(self, status: JobStatus | None = None) -> int:
        if status is None:
            return self._execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        return self._execute("SELECT COUNT(*) FROM jobs WHERE status=?", (status.value,)).fetchone()[0]

    def count_by_status(self) -> dict[str, int]:
        rows = self._execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {status: n for status, n in rows}

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
        """Jobs left queued/running by a process that died: mark them failed with the reason
        (for one-shot runs; the server resumes them with ``recover_interrupted`` instead)."""
        rows = self._execute("SELECT job_id FROM jobs WHERE status IN (?, ?)", (JobStatus.queued.value, JobStatus.running.value))
        ids = [r[0] for r in rows.fetchall()]
        for job_id in ids:
            self.set_status(job_id, JobStatus.failed, "interrupted: the process running this job stopped before it finished")
        return ids

    # -- the durable queue ---------------------------------------------------------------------
    def claim_next(self) -> JobRecord | None:
        """Move the oldest queued job to running (counting the attempt) and return it; None when
        the queue is empty. One statement, so two claimers never get the same job."""
        now = _now()
        row = self._execute(
            "UPDATE jobs SET status='running', attempts=attempts+1, started_at=?, updated_at=? WHERE job_id = ("
            " SELECT job_id FROM jobs WHERE status='queued' ORDER BY queued_at, rowid LIMIT 1) RETURNING *",
            (now, now),
        ).fetchone()
        return None if row is None else self._record(row)

    def cancel_if_queued(self, job_id: str, reason: str) -> bool:
        now = _now()
        cur = self._execute(
            "UPDATE jobs SET status='cancelled', error=?, updated_at=?, finished_at=? WHERE job_id=? AND status='queued'",
            (reason, now, now, job_id),
        )
        return cur.rowcount == 1

    def requeue(self, job_id: str, reason: str) -> None:
        """Put a job stopped by a clean shutdown back in the queue; that run does not count as
        an attempt."""
        self._execute(
            "UPDATE jobs SET status='queued', error=?, attempts=MAX(attempts-1, 0), updated_at=?, finished_at=NULL"
            " WHERE job_id=?",
            (reason, _now(), job_id),
        )

    def recover_interrupted(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """After a restart: jobs left running go back to the queue while they have attempts left,
        else fail with the reason. Returns (requeued, failed)."""
        rows = self._execute("SELECT job_id, attempts FROM jobs WHERE status='running'").fetchall()
        requeued, failed = [], []
        for job_id, attempts in rows:
            if attempts < max_attempts:
                self._execute(
                    "UPDATE jobs SET status='queued', updated_at=?, error=? WHERE job_id=?",
                    (_now(), f"resumed after an interrupted attempt {attempts}", job_id),
                )
                requeued.append(job_id)
            else:
                reason = f"interrupted: the server stopped during each of {attempts} attempts; not retried again"
                self.set_status(job_id, JobStatus.failed, reason)
                failed.append(job_id)
        return requeued, failed

    # -- idempotency keys ----------------------------------------------------------------------
    def job_for_key(self, key: str) -> tuple[str, str] | None:
        """(job id, request fingerprint) bound to an idempotency key, or None."""
        row = self._execute("SELECT job_id, fingerprint FROM idempotency_keys WHERE key=?", (key,)).fetchone()
        return None if row is None else (row[0], row[1])

    def remember_key(self, key: str, job_id: str, fingerprint: str) -> tuple[str, str]:
        """Bind ``key`` unless it is bound already; returns what it is bound to."""
        self._execute(
            "INSERT OR IGNORE INTO idempotency_keys (key, job_id, fingerprint, created_at) VALUES (?, ?, ?, ?)",
            (key, job_id, fingerprint, _now()),
        )
        bound = self.job_for_key(key)
        assert bound is not None
        return bound

    def check_writable(self) -> None:
        """Take and release the write lock: raises StoreError when the database cannot be written."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise StoreError(f"the job store cannot be written: {exc}") from exc

    # -- webhook delivery state ----------------------------------------------------------------
    def set_webhook(self, job_id: str, url: str) -> None:
        """Ask for a (new) delivery of a job's webhook to ``url``."""
        self._execute("UPDATE jobs SET webhook_url=?, webhook_status='pending', webhook_attempts=0 WHERE job_id=?", (url, job_id))

    def set_webhook_state(self, job_id: str, status: str, attempts: int) -> None:
        self._execute("UPDATE jobs SET webhook_status=?, webhook_attempts=? WHERE job_id=?", (status, attempts, job_id))

    def pending_webhooks(self) -> list[JobRecord]:
        """Finished jobs whose webhook has not been delivered or given up yet."""
        marks = ",".join("?" * len(_FINAL))
        rows = self._execute(f"SELECT * FROM jobs WHERE webhook_status='pending' AND status IN ({marks})", _FINAL)
        return [self._record(r) for r in rows.fetchall()]

    @staticmethod
    def _record(row: sqlite3.Row) -> JobRecord:
        values = dict(row)
        values["status"] = JobStatus(values["status"])
        values["analyzers"] = json.loads(values["analyzers"])
        values["params"] = json.loads(values["params"])
        return JobRecord(**values)
