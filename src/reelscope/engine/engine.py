"""Engine.run: probe -> plan -> decode once -> run waves of analyzer tasks -> assemble the report
-> store it. A job fails only when its media cannot be read; otherwise it ends succeeded or
partially_succeeded with every analyzer's honest outcome."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from reelscope import __version__
from reelscope.analyzers.registry import Registry
from reelscope.core.errors import ReelscopeError, UnsupportedMedia
from reelscope.core.jobs import JobSpec, JobStatus, derive_job_id
from reelscope.core.report import AnalysisReport, AnalyzerReport, SourceInfo, Timings
from reelscope.core.results import AnalyzerOutput, Outcome, OutcomeStatus
from reelscope.core.settings import Settings
from reelscope.engine.events import Event, EventSink, ignore_events
from reelscope.engine.executors import Executor
from reelscope.engine.planner import ExecutionPlan, plan_job, resolve_analyzers, validate_params
from reelscope.engine.task import AnalyzerTask
from reelscope.media.bundle import BundleRef
from reelscope.media.decode import decode
from reelscope.media.probe import probe
from reelscope.media.source import resolve_local
from reelscope.store.jobs import JobStore

_GOOD = (OutcomeStatus.ok, OutcomeStatus.skipped)


class Engine:
    def __init__(self, settings: Settings, executor: Executor, store: JobStore, registry: Registry | None = None) -> None:
        self.settings = settings
        self.executor = executor
        self.store = store
        self.registry = registry or Registry.default()

    def run(self, spec: JobSpec, on_event: EventSink = ignore_events, force: bool = False) -> AnalysisReport:
        """Analyse ``spec.source`` (a local path). A report already stored for the same media,
        analyzers, versions and params is returned without recomputing unless ``force``."""
        started = time.perf_counter()
        names = resolve_analyzers(self.registry, spec.analyzers)
        params = validate_params(self.registry, names, spec.params)
        path = resolve_local(spec.source)
        if path.stat().st_size > self.settings.max_file_size_bytes:
            raise UnsupportedMedia(
                f"{path.name} is {path.stat().st_size} bytes, over the {self.settings.max_file_size_bytes}-byte limit",
                fix="raise REELSCOPE_MAX_FILE_SIZE_BYTES",
            )
        media = probe(path)
        probe_s = time.perf_counter() - started
        # Start (warm) the workers now, so their start-up overlaps the decode.
        self.executor.start([n for n in names if self.registry.availability(n).available])
        plan = plan_job(self.registry, names, params, media)
        effective = {n: p.model_dump(mode="json") for n, p in params.items()}
        job_id = derive_job_id(media.sha256, {n: (plan.versions[n], effective[n]) for n in names})
        on_event(Event("probed", job_id, {"media": media}))
        if not force and (cached := self.store.report(job_id)) is not None:
            on_event(Event("cached", job_id, {"report": cached}))
            return cached
        self.store.create_job(job_id, str(path), media.sha256, names, effective)
        self.store.set_status(job_id, JobStatus.running)
        on_event(Event("job_started", job_id, {"analyzers": names, "waves": [[p.name for p in w] for w in plan.waves]}))
        work_dir = self.settings.work_dir / job_id
        try:
            decode_started = time.perf_counter()
            bundle = decode(
                media,
                plan.frame_plan,
                work_dir,
                on_progress=lambda f: on_event(Event("decode_progress", job_id, {"fraction": f})),
            )
            decode_s = time.perf_counter() - decode_started
            on_event(Event("decoded", job_id, {"seconds": decode_s, "warnings": list(bundle.warnings)}))
            outcomes, waves_s = self._run_waves(job_id, plan, bundle, on_event)
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
        outcomes.update(plan.settled)
        total_s = time.perf_counter() - started
        report = self._assemble(job_id, path, media, plan, effective, outcomes, probe_s, decode_s, waves_s, total_s)
        self.store.save_report(report)
        on_event(Event("job_finished", job_id, {"status": report.status, "report": report}))
        return report

    def _run_waves(
        self, job_id: str, plan: ExecutionPlan, bundle: BundleRef, on_event: EventSink
    ) -> tuple[dict[str, Outcome], list[float]]:
        outcomes: dict[str, Outcome] = {}
        outputs: dict[str, AnalyzerOutput] = {}
        waves_s = []
        for number, wave in enumerate(plan.waves):
            wave_started = time.perf_counter()
            on_event(Event("wave_started", job_id, {"wave": number, "analyzers": [p.name for p in wave]}))
            tasks = [
                AnalyzerTask(
                    name=p.name,
                    params=p.params.model_dump(mode="json"),
                    bundle=bundle,
                    timeout_s=p.timeout_s,
                    frames=plan.frame_plan.frames_for.get(p.name),
                    audio_rate_hz=plan.frame_plan.audio_for.get(p.name),
                    inputs={d: outputs[d] for d in p.needs.after if d in outputs},
                    job_id=job_id,
                )
                for p in wave
            ]
            for name, outcome in self.executor.run(tasks, on_event).items():
                outcomes[name] = outcome
                if outcome.output is not None:
                    outputs[name] = outcome.output
            waves_s.append(round(time.perf_counter() - wave_started, 4))
        return outcomes, waves_s

    def _assemble(
        self,
        job_id: str,
        path: Path,
        media,
        plan: ExecutionPlan,
        effective: dict,
        outcomes: dict[str, Outcome],
        probe_s: float,
        decode_s: float,
        waves_s: list[float],
        total_s: float,
    ) -> AnalysisReport:
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
            job_id=job_id,
            status=JobStatus.succeeded if good else JobStatus.partially_succeeded,
            created_at=datetime.now(UTC),
            source=SourceInfo(path=str(path), sha256=media.sha256),
            media=media,
            timings=Timings(
                probe_s=round(probe_s, 4),
                decode_s=round(decode_s, 4),
                analyze_s=round(sum(waves_s), 4),
                total_s=round(total_s, 4),
                realtime_factor=round(total_s / media.duration_s, 4) if media.duration_s > 0 else 0.0,
                waves_s=waves_s,
            ),
            analyzers=analyzers,
        )
