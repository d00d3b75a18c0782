"""ServiceMetrics: what a real engine run leaves in the exposition (every analyzer outcome counted
once, stage and realtime histograms, finished and cached jobs), the scrape-time gauges, HTTP and
webhook counters, and that neither a failing callback nor a malformed event breaks anything."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.fakes import FAKE_TARGETS, GHOST_TARGET

import media_factory as mf
from reelscope import __version__
from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.analyzers.registry import Registry
from reelscope.api.metrics import ServiceMetrics
from reelscope.core.jobs import JobSpec, JobStatus
from reelscope.core.media_info import MediaInfo
from reelscope.core.needs import AnalyzerSpec, AudioRequest, Needs
from reelscope.core.report import AnalysisReport, AnalyzerReport, SourceInfo, Timings
from reelscope.core.results import AnalyzerOutput, ErrorInfo, Outcome, OutcomeStatus
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.events import Event
from reelscope.engine.executors.inline import InlineExecutor
from reelscope.store.jobs import JobStore

Samples = dict[tuple[str, frozenset], float]


class DeafAnalyzer(Analyzer):
    """Needs audio: on a clip without audio the planner settles it as skipped."""

    spec = AnalyzerSpec(name="deaf", version="0.1.0", description="needs audio", needs=Needs(audio=AudioRequest()))

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        raise AssertionError("a skipped analyzer must never run")


def make_metrics(**callbacks) -> ServiceMetrics:
    defaults = {"job_counts": dict, "queue_depth": lambda: 0, "worker_counts": dict}
    return ServiceMetrics(**{**defaults, **callbacks})


def scrape(metrics: ServiceMetrics) -> Samples:
    body, content_type = metrics.render()
    assert content_type == CONTENT_TYPE_LATEST
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def outcome_counts(samples: Samples) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["analyzer"], dict(labels)["status"]): v
        for (name, labels), v in samples.items()
        if name == "reelscope_analyzer_outcomes_total"
    }


def make_report(statuses: dict[str, OutcomeStatus], job_id: str = "job1", total_s: float = 1.2) -> AnalysisReport:
    media = MediaInfo(
        path="/m/clip.mp4",
        file_size_bytes=1000,
        sha256="ab" * 32,
        container="mp4",
        duration_s=10.0,
        has_video=True,
        has_audio=False,
    )
    analyzers = {
        name: AnalyzerReport(
            status=status,
            version="1.0.0",
            params={},
            duration_s=0.5,
            error=None if status == OutcomeStatus.ok else ErrorInfo(type="X", message="why"),
        )
        for name, status in statuses.items()
    }
    return AnalysisReport(
        reelscope_version=__version__,
        job_id=job_id,
        status=JobStatus.succeeded,
        created_at=datetime.now(UTC),
        source=SourceInfo(path=media.path, sha256=media.sha256),
        media=media,
        timings=Timings(probe_s=0.02, decode_s=0.3, analyze_s=0.8, total_s=total_s, realtime_factor=total_s / 10.0),
        analyzers=analyzers,
    )


def ok_outcome(duration_s: float = 0.4) -> Outcome:
    return Outcome(status=OutcomeStatus.ok, output=AnalyzerOutput(), duration_s=duration_s, worker="w1")


# ---------------------------------------------------------------------------- a real engine run


@pytest.fixture(scope="module")
def engine_run(factory, tmp_path_factory):
    """Two real runs of one job through Engine + InlineExecutor + JobStore (the second from the store),
    every event fed to ServiceMetrics."""
    path, _ = factory("metrics_no_audio.mp4", mf.no_audio_clip)
    registry = Registry({**FAKE_TARGETS, "ghost": GHOST_TARGET, "deaf": f"{__name__}:DeafAnalyzer"})
    settings = Settings(data_dir=tmp_path_factory.mktemp("metrics_data"), executor="inline")
    store = JobStore(settings.db_path, settings.reports_dir)
    engine = Engine(settings, InlineExecutor(registry), store, registry)
    metrics = make_metrics()
    spec = JobSpec(source=str(path), analyzers=("echo", "raising", "ghost", "deaf"))
    try:
        report = engine.run(spec, metrics.observe_event)
        after_first = scrape(metrics)
        engine.run(spec, metrics.observe_event)
        after_cached = scrape(metrics)
    finally:
        engine.executor.close()
        store.close()
    return report, after_first, after_cached


def test_engine_run_counts_every_analyzer_outcome_exactly_once(engine_run):
    report, samples, _ = engine_run
    assert {n: a.status for n, a in report.analyzers.items()} == {
        "echo": OutcomeStatus.ok,
        "raising": OutcomeStatus.failed,
        "ghost": OutcomeStatus.unavailable,
        "deaf": OutcomeStatus.skipped,
    }
    assert outcome_counts(samples) == {
        ("echo", "ok"): 1.0,
        ("raising", "failed"): 1.0,
        ("ghost", "unavailable"): 1.0,
        ("deaf", "skipped"): 1.0,
    }


def test_engine_run_observes_durations_of_analyzers_that_ran_only(engine_run):
    report, samples, _ = engine_run
    for name in ("echo", "raising"):
        assert value(samples, "reelscope_analyzer_duration_seconds_count", analyzer=name) == 1.0
        assert value(samples, "reelscope_analyzer_duration_seconds_sum", analyzer=name) == pytest.approx(
            report.analyzers[name].duration_s
        )
    for name in ("ghost", "deaf"):
        assert value(samples, "reelscope_analyzer_duration_seconds_count", analyzer=name) is None


def test_engine_run_observes_stage_timings_and_realtime_factor(engine_run):
    report, samples, _ = engine_run
    t = report.timings
    stages = {"probe": t.probe_s, "decode": t.decode_s, "analyze": t.analyze_s, "total": t.total_s}
    for stage, seconds in stages.items():
        assert value(samples, "reelscope_stage_duration_seconds_count", stage=stage) == 1.0
        assert value(samples, "reelscope_stage_duration_seconds_sum", stage=stage) == pytest.approx(seconds)
    assert value(samples, "reelscope_realtime_factor_count") == 1.0
    assert value(samples, "reelscope_realtime_factor_sum") == pytest.approx(t.realtime_factor)
    assert value(samples, "reelscope_jobs_finished_total", status="partially_succeeded") == 1.0
    assert value(samples, "reelscope_jobs_finished_total", status="succeeded") == 0.0
    assert value(samples, "reelscope_jobs_cached_total") == 0.0


def test_cached_answer_is_counted_and_recounts_nothing(engine_run):
    _, first, cached = engine_run
    assert value(cached, "reelscope_jobs_cached_total") == 1.0
    assert outcome_counts(cached) == outcome_counts(first)
    assert value(cached, "reelscope_jobs_finished_total", status="partially_succeeded") == 1.0
    assert value(cached, "reelscope_stage_duration_seconds_count", stage="total") == 1.0


# ---------------------------------------------------------------------------- events by hand


def test_analyzer_counted_by_task_finished_is_not_counted_again_from_the_report():
    metrics = make_metrics()
    metrics.observe_event(Event("task_finished", "j1", {"analyzer": "a", "outcome": ok_outcome(0.7)}))
    report = make_report({"a": OutcomeStatus.ok, "b": OutcomeStatus.unavailable, "c": OutcomeStatus.skipped})
    metrics.observe_event(Event("job_finished", "j1", {"status": JobStatus.succeeded, "report": report}))
    samples = scrape(metrics)
    assert outcome_counts(samples) == {("a", "ok"): 1.0, ("b", "unavailable"): 1.0, ("c", "skipped"): 1.0}
    assert value(samples, "reelscope_analyzer_duration_seconds_sum", analyzer="a") == pytest.approx(0.7)
    assert value(samples, "reelscope_stage_duration_seconds_sum", stage="decode") == pytest.approx(0.3)


def test_failed_job_only_counts_as_finished():
    metrics = make_metrics()
    metrics.observe_event(Event("task_finished", "j2", {"analyzer": "a", "outcome": ok_outcome()}))
    metrics.observe_event(Event("job_finished", "j2", {"status": JobStatus.failed, "error": "decode failed"}))
    samples = scrape(metrics)
    assert value(samples, "reelscope_jobs_finished_total", status="failed") == 1.0
    assert value(samples, "reelscope_stage_duration_seconds_count", stage="total") == 0.0
    assert value(samples, "reelscope_realtime_factor_count") == 0.0
    assert outcome_counts(samples) == {("a", "ok"): 1.0}
    # The job's bookkeeping is dropped: a later report for the same id counts "a" from the report.
    metrics.observe_event(Event("job_finished", "j2", {"status": "succeeded", "report": make_report({"a": "ok"})}))
    samples = scrape(metrics)
    assert outcome_counts(samples) == {("a", "ok"): 2.0}
    assert value(samples, "reelscope_jobs_finished_total", status="succeeded") == 1.0


def test_realtime_factor_lands_in_its_bucket():
    metrics = make_metrics()
    report = make_report({"a": OutcomeStatus.ok}, total_s=1.2)  # realtime factor 0.12
    metrics.observe_event(Event("job_finished", "j", {"status": JobStatus.succeeded, "report": report}))
    samples = scrape(metrics)
    assert value(samples, "reelscope_realtime_factor_bucket", le="0.1") == 0.0
    assert value(samples, "reelscope_realtime_factor_bucket", le="0.15") == 1.0


@pytest.mark.parametrize(
    "event",
    [
        Event("task_finished", "j", {}),
        Event("task_finished", "j", {"analyzer": "a", "outcome": None}),
        Event("job_finished", "j", {}),
        Event("job_finished", "j", {"status": "succeeded", "report": "not a report"}),
        None,
    ],
)
def test_malformed_event_is_logged_and_counts_nothing(event, caplog):
    metrics = make_metrics()
    with caplog.at_level(logging.ERROR, logger="reelscope.api.metrics"):
        metrics.observe_event(event)
    assert "could not observe event" in caplog.text
    samples = scrape(metrics)
    assert outcome_counts(samples) == {}
    assert all(v == 0.0 for (name, _), v in samples.items() if name == "reelscope_jobs_finished_total"), (
        "a malformed job_finished must not count a job"
    )


def test_other_event_kinds_change_nothing():
    metrics = make_metrics()
    before = scrape(metrics)
    for kind in ("job_started", "probed", "decode_progress", "decoded", "wave_started", "task_started"):
        metrics.observe_event(Event(kind, "j", {"analyzer": "a"}))
    assert scrape(metrics) == before


def test_concurrent_events_are_all_counted():
    metrics = make_metrics()
    threads_n, jobs_per_thread = 8, 50

    def work(thread: int) -> None:
        for k in range(jobs_per_thread):
            job_id = f"t{thread}-{k}"
            metrics.observe_event(Event("task_finished", job_id, {"analyzer": "a", "outcome": ok_outcome()}))
            report = make_report({"a": OutcomeStatus.ok, "b": OutcomeStatus.skipped}, job_id=job_id)
            metrics.observe_event(Event("job_finished", job_id, {"status": JobStatus.succeeded, "report": report}))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = threads_n * jobs_per_thread
    samples = scrape(metrics)
    assert outcome_counts(samples) == {("a", "ok"): total, ("b", "skipped"): total}
    assert value(samples, "reelscope_jobs_finished_total", status="succeeded") == total


# ---------------------------------------------------------------------------- scrape-time gauges


def test_jobs_gauge_has_every_status_queue_depth_and_workers():
    metrics = make_metrics(
        job_counts=lambda: {"queued": 3, "succeeded": 7},
        queue_depth=lambda: 3,
        worker_counts=lambda: {"alive": 2, "busy": 1, "ready": 2},
    )
    samples = scrape(metrics)
    jobs = {dict(labels)["status"]: v for (name, labels), v in samples.items() if name == "reelscope_jobs"}
    assert jobs == {s.value: 0.0 for s in JobStatus} | {"queued": 3.0, "succeeded": 7.0}
    assert value(samples, "reelscope_queue_depth") == 3.0
    assert value(samples, "reelscope_workers", state="alive") == 2.0
    assert value(samples, "reelscope_workers", state="busy") == 1.0
    assert value(samples, "reelscope_workers", state="ready") == 2.0


def test_gauges_are_read_at_scrape_time():
    depth = [1]
    metrics = make_metrics(queue_depth=lambda: depth[0])
    assert value(scrape(metrics), "reelscope_queue_depth") == 1.0
    depth[0] = 5
    assert value(scrape(metrics), "reelscope_queue_depth") == 5.0


def test_failing_job_counts_leaves_out_only_the_jobs_family(caplog):
    def broken() -> dict[str, int]:
        raise OSError("database is locked")

    metrics = make_metrics(job_counts=broken, queue_depth=lambda: 4, worker_counts=lambda: {"alive": 1})
    with caplog.at_level(logging.ERROR, logger="reelscope.api.metrics"):
        samples = scrape(metrics)
    assert "reelscope_jobs" not in names(samples)
    assert value(samples, "reelscope_queue_depth") == 4.0
    assert value(samples, "reelscope_workers", state="alive") == 1.0
    assert value(samples, "reelscope_build_info", version=__version__) == 1.0
    assert "database is locked" in caplog.text


# ---------------------------------------------------------------------------- http, webhooks, build


def test_http_requests_are_counted_by_method_route_and_status():
    metrics = make_metrics()
    metrics.observe_http("get", "/v1/jobs/{job_id}", 200, 0.0007)
    metrics.observe_http("GET", "/v1/jobs/{job_id}", 200, 0.03)
    metrics.observe_http("POST", "/v1/jobs", 422, 0.004)
    samples = scrape(metrics)
    route = "/v1/jobs/{job_id}"
    assert value(samples, "reelscope_http_requests_total", method="GET", route=route, status="200") == 2.0
    assert value(samples, "reelscope_http_requests_total", method="POST", route="/v1/jobs", status="422") == 1.0
    assert value(samples, "reelscope_http_request_duration_seconds_count", method="GET", route=route) == 2.0
    bucket = "reelscope_http_request_duration_seconds_bucket"
    assert value(samples, bucket, method="GET", route=route, le="0.001") == 1.0
    assert value(samples, bucket, method="GET", route=route, le="0.05") == 2.0


def test_webhooks_are_counted_by_result():
    metrics = make_metrics()
    assert value(scrape(metrics), "reelscope_webhooks_total", result="failed") == 0.0
    metrics.observe_webhook(True)
    metrics.observe_webhook(False)
    metrics.observe_webhook(True)
    samples = scrape(metrics)
    assert value(samples, "reelscope_webhooks_total", result="delivered") == 2.0
    assert value(samples, "reelscope_webhooks_total", result="failed") == 1.0


def test_every_metric_has_help_and_build_info_names_the_version():
    body, _ = make_metrics().render()
    families = list(text_string_to_metric_families(body.decode()))
    assert {f.name for f in families} >= {
        "reelscope_jobs",
        "reelscope_queue_depth",
        "reelscope_workers",
        "reelscope_analyzer_outcomes",
        "reelscope_analyzer_duration_seconds",
        "reelscope_stage_duration_seconds",
        "reelscope_realtime_factor",
        "reelscope_jobs_finished",
        "reelscope_jobs_cached",
        "reelscope_http_requests",
        "reelscope_http_request_duration_seconds",
        "reelscope_webhooks",
        "reelscope_build_info",
    }
    assert all(f.documentation for f in families)
    assert value(scrape(make_metrics()), "reelscope_build_info", version=__version__) == 1.0


def test_instances_do_not_share_a_registry():
    first, second = make_metrics(), make_metrics()
    first.observe_webhook(True)
    first.observe_event(Event("cached", "j", {"report": None}))
    assert value(scrape(first), "reelscope_webhooks_total", result="delivered") == 1.0
    assert value(scrape(second), "reelscope_webhooks_total", result="delivered") == 0.0
    assert value(scrape(second), "reelscope_jobs_cached_total") == 0.0


def test_nothing_lands_in_the_global_default_registry():
    metrics = make_metrics()
    metrics.observe_webhook(True)
    assert b"reelscope_" not in generate_latest(REGISTRY)
