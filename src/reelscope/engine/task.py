"""One analyzer task and the code that runs it, shared by every executor (in-process, worker
process, Ray actor): open the bundle views, reuse or build the analyzer, analyze, report an
honest Outcome. Never raises for an analyzer's own failure."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.analyzers.registry import Registry
from reelscope.core.errors import ModelUnavailable, ReelscopeError
from reelscope.core.results import AnalyzerOutput, ErrorInfo, Outcome, OutcomeStatus
from reelscope.media.bundle import BundleRef, MediaBundle


@dataclass(frozen=True)
class AnalyzerTask:
    name: str
    params: dict[str, Any]
    bundle: BundleRef
    timeout_s: float
    frames: tuple[str, float | None] | None = None  # (stream key, rate_hz)
    audio_rate_hz: int | None = None
    inputs: dict[str, AnalyzerOutput] = field(default_factory=dict)
    job_id: str = ""


def error_info(exc: BaseException) -> ErrorInfo:
    fix = exc.fix if isinstance(exc, ReelscopeError) else None
    return ErrorInfo(
        type=type(exc).__name__,
        message=str(exc) or type(exc).__name__,
        fix=fix,
        traceback="".join(traceback.format_exception(exc)),
    )


def execute_task(task: AnalyzerTask, registry: Registry, instances: MutableMapping[str, Analyzer]) -> Outcome:
    """Run ``task`` with a warm instance from ``instances`` (created and kept on first use)."""
    worker = f"pid-{os.getpid()}"
    started = time.perf_counter()
    try:
        cls = registry.get(task.name)
        params = cls.validate_params(task.params)
        analyzer = instances.get(task.name)
        if analyzer is None:
            analyzer = instances[task.name] = cls()
        bundle = MediaBundle(task.bundle)
        view = MediaView(
            media=task.bundle.media,
            frames=bundle.frames(*task.frames) if task.frames else None,
            audio=bundle.audio(task.audio_rate_hz) if task.audio_rate_hz else None,
        )
        output = analyzer.analyze(view, AnalysisContext(params=params, outputs=task.inputs, job_id=task.job_id))
        if not isinstance(output, AnalyzerOutput):
            raise TypeError(f"{task.name}.analyze returned {type(output).__name__}, not AnalyzerOutput")
        status, error = OutcomeStatus.ok, None
    except ModelUnavailable as exc:  # e.g. a model named in params that is not installed: the fix, not a failure
        output, status, error = None, OutcomeStatus.unavailable, error_info(exc)
    except Exception as exc:  # an analyzer's failure is data, never the job's failure
        output, status, error = None, OutcomeStatus.failed, error_info(exc)
    return Outcome(
        status=status, output=output, error=error, duration_s=round(time.perf_counter() - started, 4), worker=worker
    )
