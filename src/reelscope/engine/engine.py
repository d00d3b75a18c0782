"""Engine.run: probe -> plan -> decode once -> run waves of analyzer tasks -> assemble the report
-> store it. A job fails only when its media cannot be read; otherwise it ends succeeded or
partially_succeeded with every analyzer's honest outcome."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reelscope import __version__
from reelscope.analyzers.registry import Registry
from reelscope.core.errors import JobCancelled, ReelscopeError, UnsupportedMedia
from reelscope.core.jobs import JobSpec, JobStatus, derive_job_id
from reelscope.core.media_info import MediaInfo
from reelscope.core.report import AnalysisReport, AnalyzerReport, SourceInfo, Timings
from reelscope.core.results import AnalyzerOutput, Outcome, OutcomeStatus
from reelscope.core.settings import Settings
from reelscope.engine.events import Event, EventSink, ignore_events
from reelscope.engine.executors import Executor, gather
from reelscope.engine.planner import ExecutionPlan, plan_job, resolve_analyzers, validate_params
from reelscope.engine.task import AnalyzerTask
from reelscope.media.bundle import BundleRef
from reelscope.media.decode import decode
from reelscope.media.probe import probe
from reelscope.media.source import resolve_local
from reelscope.store.jobs import JobStore

_GOOD = (OutcomeStatus.ok, OutcomeStatus.skipped)


@dataclass(frozen=True)
class PreparedJob:
    """A job checked and planned, ready to run: everything known before any decoding."""

    job_id: str
    path: Path
    media: MediaInfo
    names: list[str]
    plan: ExecutionPlan
    effective: dict[str, dict[str, Any]]  # analyzer -> effective params (defaults filled in)
    probe_s: float  # checking, probing and planning
    url: str | None = None  # where the media was downloaded from
    platform: dict[str, Any] = field(default_factory=dict)  # the platform's metadata for it

    @property
    def source(self) -> SourceInfo:
        return SourceInfo(path=str(self.path), url=self.url, sha256=self.media.sha256, platform=self.platform)


class Engine:
    def __init__(self, settings: Settings, executor: Executor, store: JobStore, registry: Registry | None = None) -> None:
        self.settings = settings
        self.executor = executor
        self.store = store
        self.registry = registry or Registry.default()

    def prepare(self, spec: JobSpec, allowed_roots: Sequence[Path] | None = None) -> PreparedJob:
        """Check the request and the media and plan the job, without running it. Raises the
        InputError or MediaError that a client must see (unknown analyzer, bad params, a path
        outside ``allowed_roots``, missing, oversized or unreadable media)."""
        started = time.perf_counter()
        names, params = self._analyzers_and_params(spec)
        path = resolve_local(spec.source, allowed_roots)
        if path.stat().st_size > self.settings.max_file_size_bytes:
            raise UnsupportedMedia(
                f"{path.name} is {path.stat().st_size} bytes, over the {self.settings.max_file_size_bytes}-byte limit",
                fix="raise REELSCOPE_MAX_FILE_SIZE_BYTES",
            )
        media = probe(path)
        plan = plan_job(self.registry, names, params, media)
        effective = {n: p.model_dump(mode="json") for n, p in params.items()}
        job_id = derive_job_id(media.sha256, {n: (plan.versions[n], effective[n]) for n in names})
        probe_s = round(time.perf_counter() - started, 4)
        return PreparedJob(job_id, path, media, names, plan, effective, probe_s, spec.url, dict(spec.platform))

    def check_url_job(self, spec: JobSpec) -> tuple[str, list[str], dict[str, dict[str, Any]]]:
        """Check a URL job's analyzers and params before anything is downloaded. Returns (job id,
        analyzer names, effective params); the id comes from the URL, as the content is not known
        yet, so the same URL with the same analysis is one job."""
        names, params = self._analyzers_and_params(spec)
        effective = {n: p.model_dump(mode="json") for n, p in params.items()}
        versions = {n: self.registry.get(n).spec.version if self.registry.availability(n).available else "unknown" for n in names}
        url_key = hashlib.sha256(f"url:{spec.url or spec.source}".encode()).hexdigest()
        return derive_job_id(url_key, {n: (versions[n], effective[n]) for n in names}), names, effective

    def _analyzers_and_params(self, spec: JobSpec) -> tuple[list[str], dict[str, BaseModel]]:
        """UnknownAnalyzer or InvalidParams now, before any media is touched."""
        names = resolve_analyzers(self.registry, spec.analyzers)
        return names, validate_params(self.registry, names, spec.params)

    def run(
        self,
        spec: JobSpec,
        on_event: EventSink = ignore_events,
        force: bool = False,
        cancel: threading.Event | None = None,
    ) -> AnalysisReport:
        """Analyse ``spec.source`` (a local path). A report already stored for the same media,
        analyzers, versions and params is returned without recomputing unless ``force``."""
        job = self.prepare(spec)
        on_event(Event("probed", job.job_id, {"media": job.media}))
        if not force and (cached := self.store.report(job.job_id)) is not None:
            if cached.source != job.source:  # same content reached another way (a URL, a copy): say how
                cached = cached.model_copy(update={"source": job.source})
            on_event(Event("cached", job.job_id, {"report": cached}))
            return cached
        self.store.create_job(job.job_id, str(job.path), job.media.sha256, job.names, job.effective)
        return self.execute(job, on_event, cancel)

    def execute(self, job: PreparedJob, on_event: EventSink = ignore_events, cancel: threading.Event | None = None) -> AnalysisReport:
        """Run a prepared job whose record is in the store: decode once, run the waves, store the
        report. ``cancel`` being set stops it at the next checkpoint (decode progress, between
        waves); the caller also cancels the job's tasks on the executor."""
        started = time.perf_counter()
        job_id = job.job_id
        self.executor.start(self._runnable(job))  # workers start (warm) while we decode
        self.store.set_status(job_id, JobStatus.running)
        on_event(Event("job_started", job_id, {"analyzers": job.names, "waves": [[p.name for p in w] for w in job.plan.waves]}))
        work_dir = self.settings.work_dir / job_id

        def checkpoint() -> None:
            if cancel is not None and cancel.is_set():
                raise JobCancelled(f"job {job_id} was cancelled")

        def decode_progress(fraction: float) -> None:
            checkpoint()
            on_event(Event("decode_progress", job_id, {"fraction": fraction}))

        try:
            checkpoint()
            decode_started = time.perf_counter()
            bundle = decode(job.media, job.plan.frame_plan, work_dir, on_progress=decode_progress)
            decode_s = time.perf_counter() - decode_started
            on_event(Event("decoded", job_id, {"seconds": decode_s, "warnings": list(bundle.warnings)}))
            outcomes, waves_s = self._run_waves(job_id, job.plan, bundle, on_event, checkpoint)
            checkpoint()  # cancelled during the last wave: its tasks were cut short, store no report
        except JobCancelled as exc:
            self.store.set_status(job_id, JobStatus.cancelled, exc.message)
            on_event(Event("job_finished", job_id, {"status": JobStatus.cancelled, "error": exc.message}))
            raise
        except ReelscopeError as exc:
            self.store.set_status(job_id, JobStatus.failed, f"{exc.code}: {exc.message}")
            on_event(Event("job_finished", job_id, {"status": JobStatus.failed, "error": exc.message}))
            raise
        except BaseException as exc:
            self.store.set_status(job_id, JobStatus.failed, f"{type(exc).__name__}: {exc}")
            on_event(Event("job_finished", job_id, {"status": JobStatus.failed, "error": str(exc)}))
            raise
        finally:
            if not self.settings.keep_work_files:
                shutil.rmtree(work_dir, ignore_errors=True)
        outcomes.update(job.plan.settled)
        total_s = job.probe_s + time.perf_counter() - started  # time spent waiting in a queue is not counted
        report = self._assemble(job, outcomes, decode_s, waves_s, total_s)
        self.store.save_report(report)
        on_event(Event("job_finished", job_id, {"status": report.status, "report": report}))
        return report

    def _runnable(self, job: PreparedJob) -> list[str]:
        return [n for n in job.names if n not in job.plan.settled]

    def _run_waves(
        self, job_id: str, plan: ExecutionPlan, bundle: BundleRef, on_event: EventSink, checkpoint: Callable[[], None]
    ) -> tuple[dict[str, Outcome], list[float]]:
        outcomes: dict[str, Outcome] = {}
        outputs: dict[str, AnalyzerOutput] = {}
        waves_s = []
        for number, wave in enumerate(plan.waves):
            checkpoint()
            wave_started = time.perf_counter()
            on_event(Event("wave_started", job_id, {"wave": number, "analyzers": [p.name for p in wave]}))
            futures = {
                p.name: self.executor.submit(
                    AnalyzerTask(
                        name=p.name,
                        params=p.params.model_dump(mode="json"),
                        bundle=bundle,
                        timeout_s=p.timeout_s,
                        frames=plan.frame_plan.frames_for.get(p.name),
                        audio_rate_hz=plan.frame_plan.audio_for.get(p.name),
                        inputs={d: outputs[d] for d in p.needs.after if d in outputs},
                        job_id=job_id,
                    ),
                    on_event,
                )
                for p in wave
            }
            for name, outcome in gather(futures, job_id).items():
                outcomes[name] = outcome
                if outcome.output is not None:
                    outputs[name] = outcome.output
            waves_s.append(round(time.perf_counter() - wave_started, 4))
        return outcomes, waves_s

    def _assemble(
        self,
        job: PreparedJob,
        outcomes: dict[str, Outcome],
        decode_s: float,
        waves_s: list[float],
        total_s: float,
    ) -> AnalysisReport:
        plan, effective, media = job.plan, job.effective, job.media
        analyzers = {}
        for name in effective:
            outcome = outcomes[name]
            output = outcome.output or AnalyzerOutput()
            analyzers[name] = AnalyzerReport(
                status=outcome.status,
                version=plan.versions[name],
                params=effective[name],
                duration_s=outcome.duration_s,
                worker=outcome.worker,
                error=outcome.error,
                summary=output.summary,
                segments=output.segments,
                tracks=output.tracks,
            )
        good = all(a.status in _GOOD for a in analyzers.values())
        return AnalysisReport(
            reelscope_version=__version__,
            job_id=job.job_id,
            status=JobStatus.succeeded if good else JobStatus.partially_succeeded,
            created_at=datetime.now(UTC),
            source=job.source,
            media=media,
            timings=Timings(
                probe_s=job.probe_s,
                decode_s=round(decode_s, 4),
                analyze_s=round(sum(waves_s), 4),
                total_s=round(total_s, 4),
                realtime_factor=round(total_s / media.duration_s, 4) if media.duration_s > 0 else 0.0,
                waves_s=waves_s,
            ),
            analyzers=analyzers,
        )
