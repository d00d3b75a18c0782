"""JobService: the server's durable queue and runners, independent of HTTP.

Jobs are rows in the SQLite store. ``submit`` checks and probes the request (so a bad one fails at
once with its 4xx), dedupes it by content job id and idempotency key, and queues it; a fixed
number of runner threads claim queued jobs one at a time and run them through the one Engine,
whose executor is the pool of warm workers every job shares. After a crash, jobs left running are
queued again while they have attempts left (``max_job_attempts``), else failed with the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelscope.core.errors import (
    IdempotencyConflict,
    JobCancelled,
    JobConflict,
    JobNotFound,
    PathNotAllowed,
    QueueFull,
    ReelscopeError,
)
from reelscope.core.jobs import JobSpec, JobStatus
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.events import Event
from reelscope.ingest.download import downloader_for, is_url
from reelscope.store.jobs import JobRecord

log = logging.getLogger(__name__)

_CANCEL_WAIT_S = 10.0


@dataclass(frozen=True)
class _Queued:
    """What the queue records of a job: a checked local file, or a URL the runner will download."""

    job_id: str
    source: str
    media_sha256: str | None
    names: list[str]
    effective: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Submitted:
    record: JobRecord
    created: bool  # False: an identical job (same content id or idempotency key) was returned


@dataclass
class Progress:
    """What a running job is doing, kept in memory; finished jobs are described by their report."""

    stage: str = "queued"  # queued | downloading | probing | decoding | analyzing
    decode_fraction: float = 0.0
    analyzers: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> pending|running|<outcome status>


class JobService:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        on_event: Callable[[Event], None] | None = None,
        on_finished: Callable[[JobRecord], None] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store = engine.store
        self.downloader = downloader_for(settings)
        self._on_event = on_event or (lambda event: None)
        self._on_finished = on_finished or (lambda record: None)
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._active: dict[str, threading.Event] = {}  # jobs this process runs -> their cancel flag
        self._done: dict[str, threading.Event] = {}
        self._progress: dict[str, Progress] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> tuple[list[str], list[str]]:
        """Recover interrupted jobs, then start the runners. Returns (requeued, failed)."""
        requeued, failed = self.store.recover_interrupted(self.settings.max_job_attempts)
        for job_id in requeued + failed:  # decoded arrays of the interrupted run: never reused
            shutil.rmtree(self.settings.work_dir / job_id, ignore_errors=True)
        for job_id in requeued:
            log.warning("job %s was interrupted by a restart; queued again", job_id)
        for job_id in failed:
            log.warning("job %s was interrupted too often; marked failed", job_id)
            self._on_finished(self.store.get(job_id))
        for number in range(self.settings.max_concurrent_jobs):
            thread = threading.Thread(target=self._run_forever, name=f"reelscope-runner-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return requeued, failed

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop taking jobs; running ones are cancelled and go back to the queue on next start."""
        with self._lock:
            self._stopping = True
            active = list(self._active)
            self._wakeup.notify_all()
        for job_id in active:
            self._active[job_id].set()
            self.engine.executor.cancel(job_id)
        for thread in self._threads:
            thread.join(timeout=timeout_s)

    # -- requests ------------------------------------------------------------------------------
    def submit(
        self,
        spec: JobSpec,
        *,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        request_fingerprint: str = "",
        allowed_roots: list[Path] | None = None,
    ) -> Submitted:
        if idempotency_key:
            bound = self.store.job_for_key(idempotency_key)
            if bound is not None:
                job_id, fingerprint = bound
                if fingerprint != request_fingerprint:
                    raise IdempotencyConflict(
                        f"Idempotency-Key {idempotency_key!r} was used for a different request (job {job_id})",
                        fix="use a new key for a new request",
                    )
                return Submitted(self.store.get(job_id), created=False)
        if spec.url is not None:  # downloaded by the runner; the id comes from the URL
            job_id, names, effective = self.engine.check_url_job(spec)
            job = _Queued(job_id, spec.url, None, names, effective)
        else:
            prepared = self.engine.prepare(spec, allowed_roots)
            job = _Queued(prepared.job_id, str(prepared.path), prepared.media.sha256, prepared.names, prepared.effective)
        with self._lock:
            created = self._enqueue(job, webhook_url)
            if idempotency_key:
                job_id, fingerprint = self.store.remember_key(idempotency_key, job.job_id, request_fingerprint)
                if job_id != job.job_id or fingerprint != request_fingerprint:  # a racing request won the key
                    raise IdempotencyConflict(f"Idempotency-Key {idempotency_key!r} is bound to job {job_id}")
            self._wakeup.notify()
        record = self.store.get(job.job_id)
        if not created and record.status.is_final and webhook_url:
            self.store.set_webhook(job.job_id, webhook_url)  # the caller asked to be told; it is done already
            record = self.store.get(job.job_id)
            self._on_finished(record)
        return Submitted(record, created)

    def _enqueue(self, job: _Queued, webhook_url: str | None) -> bool:
        """Queue ``job`` unless the same job is queued, running or finished well; under _lock."""
        try:
            existing = self.store.get(job.job_id)
        except JobNotFound:
            existing = None
        if existing is not None and existing.status in (
            JobStatus.queued, JobStatus.running, JobStatus.succeeded, JobStatus.partially_succeeded,
        ):
            if existing.status.is_final and not (existing.report_path and Path(existing.report_path).exists()):
                existing = None  # its report file was removed: compute it again
            else:
                return False
        depth = self.store.count(JobStatus.queued)
        if depth >= self.settings.max_queued_jobs:
            raise QueueFull(
                f"the queue holds {depth} jobs, its limit",
                retry_after_s=self._retry_after_s(depth),
                fix="retry after the Retry-After delay, or raise REELSCOPE_MAX_QUEUED_JOBS",
            )
        self.store.create_job(job.job_id, job.source, job.media_sha256, job.names, job.effective, webhook_url)
        self._progress[job.job_id] = Progress(analyzers={n: "pending" for n in job.names})
        return True

    def _retry_after_s(self, depth: int) -> int:
        # a rough drain time: recent jobs take about this long each, spread over the runners
        return max(1, min(300, round(depth * 5 / self.settings.max_concurrent_jobs / 10)))

    def cancel(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.status.is_final:
            raise JobConflict(f"job {job_id} already ended as {record.status.value}", fix="nothing to cancel")
        with self._lock:
            if self.store.cancel_if_queued(job_id, "cancelled by request before it started"):
                self._progress.pop(job_id, None)
                record = self.store.get(job_id)
                self._on_finished(record)
                return record
            flag, done = self._active.get(job_id), self._done.get(job_id)
        if flag is None or done is None:
            raise JobConflict(
                f"job {job_id} is running in another process (a CLI run on the same data dir?)",
                fix="stop that process; this server can only cancel its own jobs",
            )
        flag.set()
        self.engine.executor.cancel(job_id)
        done.wait(_CANCEL_WAIT_S)
        return self.store.get(job_id)

    def progress(self, job_id: str) -> Progress | None:
        return self._progress.get(job_id)

    def queue_depth(self) -> int:
        return self.store.count(JobStatus.queued)

    def running(self) -> int:
        return len(self._active)

    # -- runners -------------------------------------------------------------------------------
    def _run_forever(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and (record := self._claim()) is None:
                    self._wakeup.wait(timeout=1.0)
                if self._stopping:
                    return
            try:
                self._run(record)
            except Exception:  # a runner must survive any one job
                log.exception("runner failed on job %s", record.job_id)

    def _claim(self) -> JobRecord | None:
        """Under _lock: take the next queued job and register it as ours."""
        record = self.store.claim_next()
        if record is not None:
            self._active[record.job_id] = threading.Event()
            self._done[record.job_id] = threading.Event()
            self._progress.setdefault(record.job_id, Progress(analyzers={n: "pending" for n in record.analyzers}))
        return record

    def _run(self, record: JobRecord) -> None:
        job_id = record.job_id
        cancel = self._active[job_id]
        progress = self._progress[job_id]
        progress.stage = "probing"

        def on_event(event: Event) -> None:
            self._track(progress, event)
            self._on_event(event)

        try:
            spec = JobSpec(source=record.source, analyzers=tuple(record.analyzers), params=record.params)
            if is_url(record.source):
                progress.stage = "downloading"
                downloaded = self.downloader.download(record.source)
                spec = spec.model_copy(update={"source": str(downloaded.path), "url": record.source, "platform": downloaded.platform})
                progress.stage = "probing"
            job = self.engine.prepare(spec)
            if job.job_id != job_id:  # an analyzer was upgraded since submission: keep the client's id
                job = dataclasses.replace(job, job_id=job_id)
            self.engine.execute(job, on_event, cancel)
        except JobCancelled:
            if self._stopping:  # shutting down, not a client's cancel: run it again after restart
                self.store.requeue(job_id, "stopped by a server shutdown; queued again")
        except Exception as exc:  # any error: the job must end failed, never stay "running"
            if not self.store.get(job_id).status.is_final:  # failed before the engine took over
                reason = f"{exc.code}: {exc.message}" if isinstance(exc, ReelscopeError) else f"{type(exc).__name__}: {exc}"
                self.store.set_status(job_id, JobStatus.failed, reason)
            if not isinstance(exc, ReelscopeError):
                log.exception("job %s failed unexpectedly", job_id)
        finally:
            with self._lock:
                self._active.pop(job_id, None)
                self._progress.pop(job_id, None)
                done = self._done.pop(job_id)
            done.set()
        final = self.store.get(job_id)
        if final.status.is_final:
            self._on_finished(final)

    @staticmethod
    def _track(progress: Progress, event: Event) -> None:
        data = event.data
        if event.kind == "job_started":
            progress.stage = "decoding"
        elif event.kind == "decode_progress":
            progress.decode_fraction = round(float(data.get("fraction", 0.0)), 3)
        elif event.kind == "decoded":
            progress.stage, progress.decode_fraction = "analyzing", 1.0
        elif event.kind == "task_started":
            progress.analyzers[data["analyzer"]] = "running"
        elif event.kind == "task_finished":
            progress.analyzers[data["analyzer"]] = data["outcome"].status.value


def request_fingerprint(*parts: Any) -> str:
    """A stable hash of what a request asked for, to tell a retried request from a new one."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def server_path(raw: str, roots: list[Path]) -> Path:
    """A client's path: absolute ones are taken as they are, relative ones are looked up under
    each media root in turn. Whether the result is really inside a root (after ``..`` and
    symlinks) is checked by ``resolve_local``."""
    if not roots:
        raise PathNotAllowed(
            "this server accepts no paths: no media roots are configured",
            fix="start it with --media-root DIR (or REELSCOPE_MEDIA_ROOTS), or upload the file",
        )
    path = Path(raw)
    if path.is_absolute():
        return path
    for root in roots:
        if (root / path).exists():
            return root / path
    return roots[0] / path
