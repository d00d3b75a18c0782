"""Analyzers, health and metrics. ``/health`` (liveness) and ``/health/ready`` stay open for
probes; ``/v1/analyzers`` and ``/metrics`` need the API key when one is set.

Readiness is never claimed when it is not true: the store must take a write, every worker must
be up, every available analyzer must have loaded in the workers, the queue must have room, and
a present GPU must answer."""

from __future__ import annotations

import os
import tempfile
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from reelscope import __version__
from reelscope.api.schemas import ERROR_RESPONSES, AnalyzerList, AnalyzerView, Check, Liveness, Readiness
from reelscope.engine.gpu import gpu_statuses

public = APIRouter(tags=["health"])
protected = APIRouter(tags=["system"], responses=ERROR_RESPONSES)


@public.get("/health", response_model=Liveness, summary="Liveness: the process answers")
def health(request: Request) -> Liveness:
    ctx = request.app.state.ctx
    return Liveness(status="ok", version=__version__, uptime_s=round(time.monotonic() - ctx.started_at, 3))


@public.get(
    "/health/ready",
    response_model=Readiness,
    summary="Readiness: store writable, workers up, analyzers loaded, GPU answering (503 otherwise)",
    responses={503: {"model": Readiness, "description": "not ready; the failing checks say why"}},
)
def ready(request: Request) -> Response:
    readiness = readiness_of(request.app.state.ctx)
    return JSONResponse(readiness.model_dump(mode="json"), status_code=200 if readiness.ready else 503)


def readiness_of(ctx) -> Readiness:
    checks = {"store": _store_check(ctx), "workers": _workers_check(ctx), "analyzers": _analyzers_check(ctx)}
    depth, limit = ctx.service.queue_depth(), ctx.settings.max_queued_jobs
    checks["queue"] = Check(ok=depth < limit, detail=None if depth < limit else f"full: {depth} of {limit} jobs waiting")
    gpus = None
    try:
        statuses = gpu_statuses()
        if statuses is not None:
            gpus = [vars(g) for g in statuses]
            checks["gpu"] = Check(ok=True, data={"count": len(gpus)})
    except RuntimeError as exc:
        checks["gpu"] = Check(ok=False, detail=str(exc))
    queue = {"queued": depth, "running": ctx.service.running(), "max_queued": limit, "max_running": ctx.settings.max_concurrent_jobs}
    return Readiness(ready=all(c.ok for c in checks.values()), checks=checks, queue=queue, gpus=gpus)


def _store_check(ctx) -> Check:
    try:
        ctx.store.check_writable()
        for folder in (ctx.settings.reports_dir, ctx.settings.work_dir, ctx.settings.uploads_dir):
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=folder, prefix=".ready-")
            os.close(fd)
            os.unlink(name)
    except Exception as exc:  # any failure here means "not ready", with the reason
        return Check(ok=False, detail=f"{type(exc).__name__}: {exc}")
    return Check(ok=True)


def _workers_check(ctx) -> Check:
    state = getattr(ctx.executor, "state", None)
    if state is None:
        return Check(ok=True, detail="in-process executor: no worker processes")
    pool = state()
    counts = pool.counts()
    data = {k: counts[k] for k in ("configured", "ready", "busy")} | {"queued_tasks": pool.queued_tasks}
    if pool.start_error:
        return Check(ok=False, detail=pool.start_error[-2000:], data=data)
    if counts["ready"] < pool.size:
        return Check(ok=False, detail=f"{counts['ready']} of {pool.size} workers ready (starting or restarting)", data=data)
    return Check(ok=True, data=data)


def _analyzers_check(ctx) -> Check:
    available, unavailable, broken = [], {}, {}
    for name in ctx.registry.names():
        availability = ctx.registry.availability(name)
        if availability.available:
            available.append(name)
        else:
            unavailable[name] = f"{availability.reason} (fix: {availability.fix})"
    state = getattr(ctx.executor, "state", None)
    if state is not None:
        for worker in state().workers:
            for name, error in worker.load_errors.items():
                broken[name] = f"{worker.name}: {error}"
    data = {"available": available, "unavailable": unavailable, "failed_to_load": broken}
    if broken:
        return Check(ok=False, detail="analyzers failed to load in the workers: " + ", ".join(sorted(broken)), data=data)
    return Check(ok=True, data=data)


@protected.get("/v1/analyzers", response_model=AnalyzerList, summary="Every analyzer: availability, needs, params schema")
def analyzers(request: Request) -> AnalyzerList:
    registry = request.app.state.ctx.registry
    views = []
    for name in registry.names():
        row = registry.describe(name)
        views.append(
            AnalyzerView(
                name=name,
                version=row.get("version", "?"),
                description=row.get("description", ""),
                available=row["available"],
                reason=row["reason"],
                fix=row["fix"],
                tags=row.get("tags", []),
                needs={"frames": row.get("frames"), "audio": row.get("audio"), "after": row.get("after", [])},
                timeout_s=row.get("timeout_s", 0.0),
                params_schema=row.get("params", {}),
            )
        )
    return AnalyzerList(analyzers=views, presets=registry.presets())


@protected.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    body, content_type = request.app.state.ctx.metrics.render()
    return Response(body, media_type=content_type)
