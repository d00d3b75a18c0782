"""create_app(settings): the one FastAPI app, over the same Engine, executor and SQLite store the
CLI uses. Its lifespan starts the warm worker pool (every available analyzer preloaded), the job
runners (which first recover jobs a killed server left behind) and the webhook sender, and stops
them in reverse order."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Request

from reelscope import __version__
from reelscope.analyzers.registry import Registry
from reelscope.api.errors import RequestGuard, check_api_key, install_error_handlers
from reelscope.api.metrics import ServiceMetrics
from reelscope.api.service import JobService
from reelscope.api.webhooks import WebhookResult, WebhookSender
from reelscope.core.jobs import JobStatus
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.executors import Executor
from reelscope.engine.executors.factory import executor_for
from reelscope.store.jobs import JobRecord, JobStore

log = logging.getLogger(__name__)


@dataclass
class ApiContext:
    """Everything a route needs, built once per app (no module-level singletons)."""

    settings: Settings
    registry: Registry
    store: JobStore
    executor: Executor
    engine: Engine
    service: JobService
    metrics: ServiceMetrics
    webhooks: WebhookSender
    started_at: float = field(default_factory=time.monotonic)
    summaries: dict[tuple[str, str], Any] = field(default_factory=dict)  # (job_id, updated_at) -> finished view parts


def webhook_secret(settings: Settings) -> bytes:
    """The configured secret, else one generated once and kept (0600) in the data dir."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value().encode()
    path = settings.data_dir / "webhook_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def worker_counts(executor: Executor) -> dict[str, int]:
    """Workers by state, for the metrics; empty for an executor without worker processes."""
    state = getattr(executor, "state", None)
    return state().counts() if state is not None else {}


def build_context(settings: Settings, registry: Registry | None = None, executor: Executor | None = None) -> ApiContext:
    registry = registry or Registry.default()
    store = JobStore(settings.db_path, settings.reports_dir)
    executor = executor or executor_for(settings, registry)
    engine = Engine(settings, executor, store, registry)
    metrics = ServiceMetrics(
        job_counts=store.count_by_status,
        queue_depth=lambda: store.count(JobStatus.queued),
        worker_counts=lambda: worker_counts(executor),
    )

    def on_webhook(result: WebhookResult) -> None:
        metrics.observe_webhook(result.delivered)
        store.set_webhook_state(result.job_id, "delivered" if result.delivered else "failed", result.attempts)

    webhooks = WebhookSender(
        webhook_secret(settings),
        on_result=on_webhook,
        on_retry=lambda job_id, attempts: store.set_webhook_state(job_id, "pending", attempts),
        max_attempts=settings.webhook_max_attempts,
        backoff_base_s=settings.webhook_backoff_base_s,
        allow_private=settings.allow_private_urls,
    )

    def on_finished(record: JobRecord) -> None:
        if record.webhook_url and record.webhook_status == "pending":
            webhooks.enqueue(record.job_id, record.webhook_url, webhook_payload(store, record), attempts_done=record.webhook_attempts)

    service = JobService(settings, engine, on_event=metrics.observe_event, on_finished=on_finished)
    return ApiContext(settings, registry, store, executor, engine, service, metrics, webhooks)


def webhook_payload(store: JobStore, record: JobRecord) -> dict[str, Any]:
    report = store.report(record.job_id)
    return {
        "event": "job.finished",
        "job_id": record.job_id,
        "status": record.status.value,
        "error": record.error,
        "finished_at": record.finished_at,
        "report_url": f"/v1/jobs/{record.job_id}/report",
        "results": {n: a.status.value for n, a in report.analyzers.items()} if report else {},
        "realtime_factor": report.timings.realtime_factor if report else None,
    }


def create_app(settings: Settings, *, registry: Registry | None = None, executor: Executor | None = None) -> FastAPI:
    """The app. Its lifespan builds everything it runs (store, pool, runners, sender) and stops it
    again, so one app can be started more than once (tests do). An ``executor`` passed in belongs
    to the caller, who closes it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = build_context(settings, registry, executor)
        app.state.ctx = ctx
        available = [n for n in ctx.registry.names() if ctx.registry.availability(n).available]
        ctx.executor.start(available)  # models load in the workers while the server starts answering
        ctx.webhooks.start()
        ctx.service.start()
        for record in ctx.store.pending_webhooks():  # deliveries a previous run did not finish
            ctx.webhooks.enqueue(record.job_id, record.webhook_url, webhook_payload(ctx.store, record), attempts_done=record.webhook_attempts)
        try:
            yield
        finally:
            ctx.service.close()
            ctx.webhooks.close()
            if executor is None:
                ctx.executor.close()
            ctx.store.close()

    def require_key(request: Request) -> None:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        check_api_key(request, key)

    def observe_http(method: str, route: str, status: int, seconds: float) -> None:
        ctx = getattr(app.state, "ctx", None)
        if ctx is not None:
            ctx.metrics.observe_http(method, route, status, seconds)

    app = FastAPI(
        title="reelscope",
        version=__version__,
        description="Second-by-second analysis of short-form video. Every error answer has the shape of ErrorBody.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(
        RequestGuard,
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        observe=observe_http,
    )
    from reelscope.api.routes import jobs, system

    app.include_router(jobs.router, dependencies=[Depends(require_key)])
    app.include_router(system.public)
    app.include_router(system.protected, dependencies=[Depends(require_key)])
    return app
