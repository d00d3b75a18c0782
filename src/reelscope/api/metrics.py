"""Prometheus metrics for ``GET /metrics``: one ServiceMetrics per app, with its own registry.

Three sources feed it: engine events (analyzer outcomes and durations, stage timings, finished and
cached jobs), the HTTP middleware and the webhook sender (``observe_*``), and callbacks read at
scrape time (jobs per status, queue depth, workers), so gauges are never stale copies of the store.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reelscope import __version__
from reelscope.core.jobs import JobStatus
from reelscope.core.report import AnalysisReport
from reelscope.core.results import Outcome
from reelscope.engine.events import Event

log = logging.getLogger(__name__)

ANALYZER_DURATION_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
STAGE_DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
REALTIME_FACTOR_BUCKETS = (0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 5.0)
HTTP_DURATION_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGES = ("probe", "decode", "analyze", "total")
WEBHOOK_RESULTS = ("delivered", "failed")
# Jobs whose task_finished events arrived but whose job_finished has not: bounded so a job that
# dies without job_finished cannot grow this forever.
MAX_JOBS_IN_FLIGHT = 4096


def _label(value: Any) -> str:
    return value.value if isinstance(value, Enum) else str(value)


class _ScrapeTimeCollector(Collector):
    """The gauges read from callbacks at scrape time. A callback that raises is logged and its
    family left out of this scrape; the other families are still served."""

    def __init__(
        self,
        job_counts: Callable[[], dict[str, int]],
        queue_depth: Callable[[], int],
        worker_counts: Callable[[], dict[str, int]],
    ) -> None:
        self._job_counts = job_counts
        self._queue_depth = queue_depth
        self._worker_counts = worker_counts

    def describe(self) -> Iterable[Metric]:
        # Lets the registry check names at registration without calling the callbacks.
        return [self._jobs_family(), self._queue_family(), self._workers_family()]

    def collect(self) -> Iterator[Metric]:
        for build in (self._collect_jobs, self._collect_queue, self._collect_workers):
            try:
                yield build()
            except Exception:
                log.exception("metrics: %s failed; its family is left out of this scrape", build.__name__)

    @staticmethod
    def _jobs_family() -> GaugeMetricFamily:
        return GaugeMetricFamily("reelscope_jobs", "Jobs in the store, by status.", labels=["status"])

    @staticmethod
    def _queue_family() -> GaugeMetricFamily:
        return GaugeMetricFamily("reelscope_queue_depth", "Jobs queued and not yet started.")

    @staticmethod
    def _workers_family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "reelscope_workers", "Analyzer worker processes, by state (alive, busy, ready ...).", labels=["state"]
        )

    def _collect_jobs(self) -> GaugeMetricFamily:
        counts = {_label(k): int(v) for k, v in self._job_counts().items()}
        family = self._jobs_family()
        # Every status, zeros included, so alerts and rate() see a series from the first scrape.
        for status in JobStatus:
            family.add_metric([status.value], counts.get(status.value, 0))
        return family

    def _collect_queue(self) -> GaugeMetricFamily:
        family = self._queue_family()
        family.add_metric([], int(self._queue_depth()))
        return family

    def _collect_workers(self) -> GaugeMetricFamily:
        counts = {str(k): int(v) for k, v in self._worker_counts().items()}
        family = self._workers_family()
        for state, count in sorted(counts.items()):
            family.add_metric([state], count)
        return family


class ServiceMetrics:
    """All metrics of one service instance. ``observe_*`` are thread-safe; ``observe_event`` never
    raises (it runs on executor threads, where an exception would break the job it reports)."""

    def __init__(
        self,
        *,
        job_counts: Callable[[], dict[str, int]],
        queue_depth: Callable[[], int],
        worker_counts: Callable[[], dict[str, int]],
    ) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._ran: OrderedDict[str, set[str]] = OrderedDict()  # job_id -> analyzers seen in task_finished
        self.registry.register(_ScrapeTimeCollector(job_counts, queue_depth, worker_counts))
        self._build_event_metrics()
        self._build_http_metrics()
        Gauge(
            "reelscope_build_info",
            "Always 1; the version label says which reelscope runs.",
            ["version"],
            registry=self.registry,
        ).labels(version=__version__).set(1)

    def _build_event_metrics(self) -> None:
        r = self.registry
        self.analyzer_outcomes = Counter(
            "reelscope_analyzer_outcomes",
            "Analyzer outcomes, each counted once: ran (ok, failed, timed_out, "
            "crashed) or settled without running (skipped, unavailable).",
            ["analyzer", "status"],
            registry=r,
        )
        self.analyzer_duration = Histogram(
            "reelscope_analyzer_duration_seconds",
            "Run time of analyzers that ran (settled ones are not observed).",
            ["analyzer"],
            buckets=ANALYZER_DURATION_BUCKETS_S,
            registry=r,
        )
        self.stage_duration = Histogram(
            "reelscope_stage_duration_seconds",
            "Wall time per job stage (probe, decode, analyze, total) of jobs that produced a report.",
            ["stage"],
            buckets=STAGE_DURATION_BUCKETS_S,
            registry=r,
        )
        self.realtime_factor = Histogram(
            "reelscope_realtime_factor",
            "Job wall time divided by the video's duration (below 1 is faster than real time).",
            buckets=REALTIME_FACTOR_BUCKETS,
            registry=r,
        )
        self.jobs_finished = Counter(
            "reelscope_jobs_finished", "Jobs that finished, by final status.", ["status"], registry=r
        )
        self.jobs_cached = Counter(
            "reelscope_jobs_cached", "Requests answered from a report already in the store.", registry=r
        )
        for stage in STAGES:
            self.stage_duration.labels(stage=stage)
        for status in JobStatus:
            if status.is_final:
                self.jobs_finished.labels(status=status.value)

    def _build_http_metrics(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "reelscope_http_requests",
            "HTTP requests, by method, route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "reelscope_http_request_duration_seconds",
            "HTTP request handling time, by method and route template.",
            ["method", "route"],
            buckets=HTTP_DURATION_BUCKETS_S,
            registry=r,
        )
        self.webhooks = Counter(
            "reelscope_webhooks", "Webhook deliveries, by result (delivered, failed).", ["result"], registry=r
        )
        for result in WEBHOOK_RESULTS:
            self.webhooks.labels(result=result)

    # ------------------------------------------------------------------------------------ observe

    def observe_event(self, event: Event) -> None:
        """Feed one engine event; the Engine's ``on_event`` sink can call this directly."""
        try:
            if event.kind == "task_finished":
                self._task_finished(event.job_id, event.data["analyzer"], event.data["outcome"])
            elif event.kind == "job_finished":
                self._job_finished(event.job_id, event.data["status"], event.data.get("report"))
            elif event.kind == "cached":
                self.jobs_cached.inc()
        except Exception:
            log.exception("metrics: could not observe event %r", getattr(event, "kind", event))

    def _task_finished(self, job_id: str, analyzer: str, outcome: Outcome) -> None:
        status, duration_s = _label(outcome.status), float(outcome.duration_s)
        with self._lock:
            self._ran.setdefault(job_id, set()).add(analyzer)
            self._ran.move_to_end(job_id)
            while len(self._ran) > MAX_JOBS_IN_FLIGHT:
                self._ran.popitem(last=False)
        self.analyzer_outcomes.labels(analyzer=analyzer, status=status).inc()
        self.analyzer_duration.labels(analyzer=analyzer).observe(duration_s)

    def _job_finished(self, job_id: str, status: JobStatus | str, report: AnalysisReport | None) -> None:
        with self._lock:
            ran = self._ran.pop(job_id, set())
        if report is not None:
            self._observe_report(report, ran)
        self.jobs_finished.labels(status=_label(status)).inc()

    def _observe_report(self, report: AnalysisReport, ran: set[str]) -> None:
        # Analyzers with no task_finished were settled by the planner (skipped, unavailable): they
        # are counted here, so each outcome of the report is counted exactly once.
        settled = [(name, _label(a.status)) for name, a in report.analyzers.items() if name not in ran]
        t = report.timings
        stages = {"probe": t.probe_s, "decode": t.decode_s, "analyze": t.analyze_s, "total": t.total_s}
        for name, status in settled:
            self.analyzer_outcomes.labels(analyzer=name, status=status).inc()
        for stage, seconds in stages.items():
            self.stage_duration.labels(stage=stage).observe(seconds)
        self.realtime_factor.observe(t.realtime_factor)

    def observe_http(self, method: str, route: str, status_code: int, duration_s: float) -> None:
        """``route`` is the route template (``/v1/jobs/{job_id}``), never the raw path: one series per
        route, not per job id."""
        self.http_requests.labels(method=method.upper(), route=route, status=str(status_code)).inc()
        self.http_duration.labels(method=method.upper(), route=route).observe(duration_s)

    def observe_webhook(self, delivered: bool) -> None:
        self.webhooks.labels(result=WEBHOOK_RESULTS[0] if delivered else WEBHOOK_RESULTS[1]).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
