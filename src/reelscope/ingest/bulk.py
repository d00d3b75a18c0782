"""Bulk runs: many videos (URLs or files) through the engine, resumable, with per-video summaries.

``BulkRun.run`` takes the items of one input (``ingest/inputs.py``), skips those the ledger says are
finished (``store/bulk.py``), runs the rest and writes ``summary.jsonl`` and ``summary.parquet``
(one row per video, ``ingest/summary.py``) from the ledger, so a resumed run rewrites complete files
with each video once.

Two backends run the same ``run_item`` on a ``NodeContext`` (a warm engine, a downloader):
- ``process``: one context in this process; ``bulk_concurrent_jobs`` items in flight on threads,
  so one video downloads or decodes while another is analysed by the shared warm worker pool.
- ``ray``: one context per Ray actor, on whichever node Ray places it (engine/executors/ray.py).
  Each actor downloads and analyses on its own node; the reports come back to this process's store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reelscope.core.errors import JobCancelled, JobNotFound, ReelscopeError
from reelscope.core.jobs import JobSpec
from reelscope.core.report import AnalysisReport
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.events import Event
from reelscope.engine.executors.factory import executor_for
from reelscope.ingest.download import downloader_for
from reelscope.ingest.inputs import BulkItem
from reelscope.ingest.summary import build_row, run_stats, write_jsonl, write_parquet
from reelscope.store.bulk import DONE, FAILED, BulkLedger
from reelscope.store.jobs import JobStore

Backend = Literal["process", "ray"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BulkRequest:
    """What every video of the run gets: the analyzers, their params, and the resume policy."""

    analyzers: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    force: bool = False  # recompute videos the store already has, and redo finished items
    retry_failed: bool = False  # also redo items that failed permanently (private, removed, ...)

    def run_id(self, input_name: str) -> str:
        """Same input and same analysis -> same run, so running the command again resumes it."""
        key = json.dumps({"input": input_name, "analyzers": sorted(self.analyzers), "params": self.params}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ItemResult:
    """One video's outcome; picklable, as it travels back from Ray actors."""

    source: str
    row: dict[str, Any]
    ok: bool
    transient: bool = False
    job_id: str | None = None
    report_json: str | None = None  # the report, for a store on another node


class NodeContext:
    """What one process (this one, or a Ray actor) needs to run items: a warm engine and a downloader."""

    def __init__(self, settings: Settings, request: BulkRequest) -> None:
        self.settings = settings
        self.request = request
        self.store = JobStore(settings.db_path, settings.reports_dir)
        self.executor = executor_for(settings)
        self.engine = Engine(settings, self.executor, self.store)
        self.downloader = downloader_for(settings)
        self.cancel = threading.Event()  # set on Ctrl-C: running jobs stop at their next checkpoint
        self.active_jobs: set[str] = set()  # job ids running now, to cancel their tasks on the executor

    def close(self) -> None:
        self.executor.close()
        self.store.close()


def node_setup(settings: Settings, request: BulkRequest) -> NodeContext:
    """Ray actors call this once (it must be a module-level function to be shipped by reference)."""
    return NodeContext(settings, request)


def run_item(ctx: NodeContext, item: BulkItem, *, with_report: bool = True) -> ItemResult:
    """Download (for a URL) and analyse one item. Errors become a failed row, never an exception,
    except a cancel (Ctrl-C), which leaves the item to the next run."""
    started = time.perf_counter()
    attempts, cached = 1, False
    try:
        if item.is_url:
            downloaded = ctx.downloader.download(item.source)
            attempts = downloaded.attempts
            spec = _spec(ctx.request, str(downloaded.path), url=item.source, platform=downloaded.platform)
        else:
            spec = _spec(ctx.request, item.source)
        seen: list[Event] = []

        def on_event(event: Event) -> None:
            if event.kind == "probed":
                ctx.active_jobs.add(event.job_id)
            seen.append(event)

        try:
            report = ctx.engine.run(spec, on_event, force=ctx.request.force, cancel=ctx.cancel)
        finally:
            ctx.active_jobs.difference_update(e.job_id for e in seen)
        cached = any(e.kind == "cached" for e in seen)
    except JobCancelled:
        raise
    except Exception as exc:  # any one video's failure is its row, never the end of the run
        if not isinstance(exc, ReelscopeError):
            log.exception("bulk item %s failed unexpectedly", item.source)
            exc = ReelscopeError(f"{type(exc).__name__}: {exc}")
        row = build_row(item, error=exc, wall_s=time.perf_counter() - started, attempts=attempts)
        return ItemResult(item.source, row, ok=False, transient=bool(getattr(exc, "transient", False)))
    row = build_row(item, report=report, wall_s=time.perf_counter() - started, attempts=attempts, cached=cached)
    row["report_path"] = str(ctx.settings.reports_dir / f"{report.job_id}.json")
    report_json = report.model_dump_json() if with_report else None
    return ItemResult(item.source, row, ok=True, job_id=report.job_id, report_json=report_json)


def _ray_work(ctx: NodeContext, item: BulkItem) -> ItemResult:
    import ray  # only ever called inside a Ray actor

    result = run_item(ctx, item, with_report=True)
    result.row["ray_node"] = ray.get_runtime_context().get_node_id()  # which machine did the work
    return result


def _spec(request: BulkRequest, source: str, **extra: Any) -> JobSpec:
    return JobSpec(source=source, analyzers=request.analyzers, params=request.params, **extra)


@dataclass
class BulkOutcome:
    run_id: str
    resumed: bool
    skipped: int  # finished in an earlier invocation, not run again
    rows: list[dict[str, Any]]  # every item of the input that has finished, in input order
    stats: dict[str, Any]  # over the rows processed by this invocation
    jsonl_path: Path
    parquet_path: Path
    interrupted: bool = False


class BulkRun:
    def __init__(
        self,
        settings: Settings,
        request: BulkRequest,
        store: JobStore,
        *,
        backend: Backend = "process",
        on_result: Callable[[ItemResult], None] = lambda result: None,
        on_plan: Callable[[int, int, bool], None] = lambda skipped, total, resumed: None,
    ) -> None:
        self.settings = settings
        self.request = request
        self.store = store
        self.backend = backend
        self.on_result = on_result
        self.on_plan = on_plan  # (items already finished, items in the input, resumed)

    def _plan(self, items: list[BulkItem], input_name: str) -> tuple[BulkLedger, bool, list[BulkItem], int]:
        """Register the items; returns (ledger, resumed, items to run, items already finished)."""
        ledger = BulkLedger(self.store, self.request.run_id(input_name))
        resumed = ledger.open(input_name, {"analyzers": list(self.request.analyzers), "params": self.request.params})
        entries = ledger.entries()
        todo = []
        for item in items:
            ledger.add(item.source, item.position)
            entry = entries.get(item.source)
            finished = entry is not None and (
                entry.state == DONE or (entry.state == FAILED and not entry.transient and not self.request.retry_failed)
            )
            if self.request.force or not finished:
                todo.append(item)
        return ledger, resumed, todo, len(items) - len(todo)

    def run(self, items: list[BulkItem], input_name: str, out_dir: Path) -> BulkOutcome:
        ledger, resumed, todo, skipped = self._plan(items, input_name)
        self.on_plan(skipped, len(items), resumed)
        started = time.perf_counter()
        done_now: list[dict[str, Any]] = []
        interrupted = False

        def record(result: ItemResult) -> None:
            ledger.finish(result.source, ok=result.ok, row=result.row, job_id=result.job_id, transient=result.transient)
            done_now.append(result.row)
            self.on_result(result)

        try:
            if todo:
                runner = self._run_ray if self.backend == "ray" else self._run_local
                runner(todo, ledger, record)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            rows = ledger.rows([item.source for item in items])
            out_dir.mkdir(parents=True, exist_ok=True)
            jsonl, parquet = out_dir / "summary.jsonl", out_dir / "summary.parquet"
            write_jsonl(rows, jsonl)
            write_parquet(rows, parquet)
        stats = run_stats(done_now, time.perf_counter() - started)
        outcome = BulkOutcome(ledger.run_id, resumed, skipped, rows, stats, jsonl, parquet, interrupted)
        (out_dir / "run.json").write_text(
            json.dumps({"run_id": ledger.run_id, "resumed": resumed, "skipped": skipped, "interrupted": interrupted,
                        "backend": self.backend, "stats": stats}, indent=1, default=str),
            encoding="utf-8",
        )
        return outcome

    # -- backends ------------------------------------------------------------------------------
    def _run_local(self, todo: list[BulkItem], ledger: BulkLedger, record: Callable[[ItemResult], None]) -> None:
        ctx = NodeContext(self.settings, self.request)

        def one(item: BulkItem) -> ItemResult | None:
            if ctx.cancel.is_set():
                return None
            ledger.start(item.source)
            try:
                return run_item(ctx, item, with_report=False)
            except JobCancelled:
                ledger.release(item.source)
                return None

        pool = ThreadPoolExecutor(self.settings.bulk_concurrent_jobs, thread_name_prefix="reelscope-bulk")
        futures = [pool.submit(one, item) for item in todo]
        recorded: set[Future[ItemResult | None]] = set()

        def record_done() -> None:
            for future in futures:
                if future not in recorded and future.done() and not future.cancelled():
                    recorded.add(future)
                    if (result := future.result()) is not None:
                        record(result)

        try:
            while len(recorded) < len(futures):
                wait([f for f in futures if f not in recorded], timeout=0.5, return_when=FIRST_COMPLETED)
                record_done()
        except KeyboardInterrupt:
            ctx.cancel.set()  # running jobs stop at their next checkpoint and go back to pending
            for job_id in list(ctx.active_jobs):
                ctx.executor.cancel(job_id)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            record_done()  # videos that finished while we were stopping keep their rows
            ctx.close()

    def _run_ray(self, todo: list[BulkItem], ledger: BulkLedger, record: Callable[[ItemResult], None]) -> None:
        from reelscope.engine.executors import ray as ray_backend

        cluster = ray_backend.connect(self.settings.ray_address)
        place = ray_backend.placement(
            cluster, self.settings.ray_cpus_per_actor, self.settings.ray_gpus_per_actor, max_actors=len(todo)
        )
        # each actor's engine runs as many worker processes as the CPUs Ray reserved for it
        actor_settings = self.settings.model_copy(update={"workers": max(1, int(place.num_cpus))})

        def started(items: list[BulkItem]) -> Iterator[BulkItem]:
            for item in items:
                ledger.start(item.source)
                yield item

        with ray_backend.RayJobPool(node_setup, (actor_settings, self.request), _ray_work, place) as pool:
            for item, result in pool.imap_unordered(started(todo)):
                if isinstance(result, ReelscopeError):
                    row = build_row(item, error=result)
                    result = ItemResult(item.source, row, ok=False, transient=bool(getattr(result, "transient", False)))
                elif result.report_json:
                    self._keep_report(result)
                record(result)

    def _keep_report(self, result: ItemResult) -> None:
        """Put a report computed on another node into this store (already there on a shared data dir)."""
        assert result.job_id is not None and result.report_json is not None
        try:
            record = self.store.get(result.job_id)
            if record.status.is_final and record.report_path and Path(record.report_path).exists():
                return  # a data dir shared with the actor: nothing to parse or write
        except JobNotFound:
            pass
        report = AnalysisReport.model_validate_json(result.report_json)
        self.store.create_job(report.job_id, report.source.path, report.source.sha256, list(report.analyzers),
                              {n: a.params for n, a in report.analyzers.items()})
        path = self.store.save_report(report)
        result.row["report_path"] = str(path)
