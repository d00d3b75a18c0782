"""`reelscope doctor --selftest`: one real job on a synthetic clip, through the real engine, with
known answers checked (it replaces the old system's daily test script).

The clip (``media.synth``) has two textured shots joined by a hard cut and a tone pulsing on a
steady beat. Every registered analyzer is asked to run on it, with a throw-away data folder so the
user's store is never touched. An analyzer that cannot run here is reported ``unavailable`` with
its fix and is not a failure; an available one must end ``ok``, and where the clip's truth is known
(cut time, loudness, tempo) its output must match it.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelscope.analyzers.registry import Registry
from reelscope.core.jobs import JobSpec
from reelscope.core.report import AnalysisReport, AnalyzerReport
from reelscope.core.results import ErrorInfo, OutcomeStatus
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.executors import Executor
from reelscope.engine.executors.factory import executor_for
from reelscope.media.synth import SelftestTruth, write_selftest_clip
from reelscope.store.jobs import JobStore

CUT_TOLERANCE_S = 0.1
MIN_LOUDNESS_LUFS = -60.0  # the clip's tone sits near -20 LUFS; below this the audio path lost it
TEMPO_TOLERANCE = 0.05  # relative
_PASSING = ("ok", "unavailable")

ExecutorFactory = Callable[[Settings], Executor]


@dataclass(frozen=True)
class SelftestRow:
    """One analyzer's line: its status (an outcome status, or ``failed`` when it ran but got a
    known answer wrong), how long it ran, and what was found or went wrong."""

    analyzer: str
    status: str
    duration_s: float | None
    note: str

    @property
    def failed(self) -> bool:
        return self.status not in _PASSING


@dataclass(frozen=True)
class SelftestResult:
    rows: list[SelftestRow]
    passed: bool
    wall_s: float


def run_selftest(
    settings: Settings,
    *,
    registry: Registry | None = None,
    executor_factory: ExecutorFactory | None = None,
) -> SelftestResult:
    """Write the self-test clip, analyse it with every analyzer in ``registry`` (default: all
    registered) and check the results. ``executor_factory`` builds the executor from the
    (temporary) settings; it must run the same registry. Without it, ``settings.executor`` and
    ``settings.workers`` choose one. Never raises for a broken install: that is a failing row."""
    started = time.perf_counter()
    registry = registry or Registry.default()
    factory = executor_factory or (lambda s: executor_for(s, registry))
    with tempfile.TemporaryDirectory(prefix="reelscope-selftest-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        try:
            report, truth = _run_job(root, settings.model_copy(update={"data_dir": root / "data"}), registry, factory)
        except Exception as exc:  # noqa: BLE001 - the doctor reports a broken engine, it does not crash on it
            rows = _rows_without_report(registry, exc)
        else:
            rows = [_row(name, report.analyzers.get(name), truth) for name in registry.names()]
    return SelftestResult(
        rows=rows, passed=not any(r.failed for r in rows), wall_s=round(time.perf_counter() - started, 3)
    )


def _run_job(
    root: Path, settings: Settings, registry: Registry, factory: ExecutorFactory
) -> tuple[AnalysisReport, SelftestTruth]:
    clip = root / "selftest.mp4"
    truth = write_selftest_clip(clip)
    store = JobStore(settings.db_path, settings.reports_dir)
    try:
        executor = factory(settings)
        try:
            report = Engine(settings, executor, store, registry).run(JobSpec(source=str(clip)), force=True)
        finally:
            executor.close()
    finally:
        store.close()
    return report, truth


# ---------------------------------------------------------------------------- rows


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def _reason(error: ErrorInfo | None) -> str:
    if error is None:
        return ""
    return f"{error.message} — {error.fix}" if error.fix else error.message


def _rows_without_report(registry: Registry, exc: Exception) -> list[SelftestRow]:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    note = f"the self-test job failed before analysis: {type(exc).__name__}: {_first_line(message)}"
    rows = []
    for name in registry.names():
        availability = registry.availability(name)
        if availability.available:
            rows.append(SelftestRow(name, "failed", None, note))
        else:
            rows.append(SelftestRow(name, "unavailable", None, f"{availability.reason} — {availability.fix}"))
    return rows


def _row(name: str, result: AnalyzerReport | None, truth: SelftestTruth) -> SelftestRow:
    if result is None:
        return SelftestRow(name, "failed", None, "missing from the report")
    status, duration_s = result.status, result.duration_s
    if status == OutcomeStatus.unavailable:
        return SelftestRow(name, status.value, None, _reason(result.error))
    if status == OutcomeStatus.skipped:
        why = result.error.message if result.error else "no reason given"
        return SelftestRow(name, status.value, duration_s, f"skipped although the clip has video and audio: {why}")
    if status != OutcomeStatus.ok:
        message = _first_line(result.error.message if result.error else None) or status.value
        return SelftestRow(name, status.value, duration_s, message)
    check = _CHECKS.get(name)
    if check is None:
        return SelftestRow(name, "ok", duration_s, _summary_note(result.summary))
    problem, found = check(result, truth)
    return SelftestRow(name, "failed" if problem else "ok", duration_s, problem or found)


def _summary_note(summary: dict[str, Any], limit: int = 3) -> str:
    """The first few scalar findings; input counts (``frames_analyzed`` ...) say nothing about the clip."""
    scalars = [
        f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, float, str, bool)) and not k.endswith("_analyzed")
    ]
    return ", ".join(scalars[:limit])


# ---------------------------------------------------------------------------- known answers
# Each check returns (problem, finding): problem is None when the output matches the clip's truth.


def _check_cuts(result: AnalyzerReport, truth: SelftestTruth) -> tuple[str | None, str]:
    transitions = [s for s in result.segments if s.kind == "transition"]
    hard_cuts = [s.start_s for s in transitions if s.label == "hard_cut"]
    expected = ", ".join(f"{t:.2f} s" for t in truth.cut_times_s)
    missed = [t for t in truth.cut_times_s if not any(abs(c - t) <= CUT_TOLERANCE_S for c in hard_cuts)]
    spurious = [s for s in transitions if all(abs(s.start_s - t) > CUT_TOLERANCE_S for t in truth.cut_times_s)]
    if missed or spurious:
        found = ", ".join(f"{s.label} at {s.start_s:.2f} s" for s in transitions) or "no transition"
        return f"expected a hard cut at {expected} (±{CUT_TOLERANCE_S} s) and no other; found {found}", ""
    found = ", ".join(f"{c:.2f} s" for c in hard_cuts)
    return None, f"hard cut at {found} (truth {expected})"


def _check_audio(result: AnalyzerReport, truth: SelftestTruth) -> tuple[str | None, str]:
    lufs = result.summary.get("integrated_lufs")
    if not isinstance(lufs, (int, float)) or not math.isfinite(lufs) or lufs <= MIN_LOUDNESS_LUFS:
        return f"expected audible sound (integrated loudness above {MIN_LOUDNESS_LUFS:g} LUFS); found {lufs}", ""
    tempo = result.summary.get("tempo_bpm")
    truth_bpm = 60.0 / truth.beat_period_s
    if not isinstance(tempo, (int, float)) or abs(tempo - truth_bpm) > TEMPO_TOLERANCE * truth_bpm:
        return f"expected a tempo of {truth_bpm:g} BPM (±{TEMPO_TOLERANCE:.0%}); found {tempo}", ""
    return None, f"{lufs:g} LUFS, {tempo:g} BPM (truth {truth_bpm:g} BPM)"


_CHECKS: dict[str, Callable[[AnalyzerReport, SelftestTruth], tuple[str | None, str]]] = {
    "cut_analysis": _check_cuts,
    "audio_analysis": _check_audio,
}
