"""/v1/jobs: submit (server path, upload or URL), list, read, cancel, and fetch reports and transcripts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from reelscope.api.schemas import ERROR_RESPONSES, JobList, JobOptions, JobRequest, JobView, ProgressView
from reelscope.api.service import request_fingerprint, server_path
from reelscope.core.errors import (
    BadRequest,
    JobConflict,
    NotInReport,
    RequestTooLarge,
    UnsupportedContentType,
)
from reelscope.core.jobs import JobSpec, JobStatus
from reelscope.core.report import AnalysisReport
from reelscope.core.urls import check_public_url
from reelscope.ingest.download import is_url
from reelscope.report.subtitles import EXPORT_FORMATS, MEDIA_TYPES, build_cues, transcript_output
from reelscope.store.jobs import JobRecord

router = APIRouter(prefix="/v1", tags=["jobs"], responses=ERROR_RESPONSES)

_COPY_CHUNK = 1024 * 1024
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,5}$")
_SUMMARY_CACHE = 4096

_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "the video or audio file"},
                    "options": {"type": "string", "description": "JSON of JobOptions (analyzers, preset, params, webhook_url)"},
                },
            }
        },
    },
}


def _ctx(request: Request):
    return request.app.state.ctx


# -- submit -------------------------------------------------------------------------------------
@router.post(
    "/jobs",
    status_code=202,
    response_model=JobView,
    summary="Submit a job: a server path, a URL (JSON), or an upload (multipart)",
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={200: {"model": JobView, "description": "the same job existed already (same content or key)"}},
)
async def create_job(
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> Response:
    ctx = _ctx(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    url = None
    if content_type == "multipart/form-data":
        options, path, fingerprint = await _from_upload(request, ctx)
        roots = [ctx.settings.uploads_dir]
    elif content_type in ("application/json", ""):
        body = await request.body()
        options = _validated(JobRequest, body)
        if options.url is not None:  # downloaded by the job's runner; refused now if it is not public http(s)
            url = check_public_url(options.url, allow_private=ctx.settings.allow_private_urls)
            roots, path = [], None
            fingerprint = request_fingerprint("url", options.model_dump(mode="json"))
        else:
            roots = list(ctx.settings.media_roots)
            path = server_path(options.path, roots)
            fingerprint = request_fingerprint("path", options.model_dump(mode="json"))
    else:
        raise UnsupportedContentType(f"unsupported Content-Type {content_type!r}", fix="send application/json or multipart/form-data")
    analyzers = tuple(ctx.registry.preset(options.preset)) if options.preset else tuple(options.analyzers)
    webhook_url = None
    if options.webhook_url:
        webhook_url = check_public_url(options.webhook_url, allow_private=ctx.settings.allow_private_urls)
    spec = JobSpec(source=url or str(path), url=url, analyzers=analyzers, params=options.params)
    submitted = await run_in_threadpool(
        ctx.service.submit,
        spec,
        webhook_url=webhook_url,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        allowed_roots=roots,
    )
    view = job_view(ctx, submitted.record)
    return JSONResponse(
        view.model_dump(mode="json"),
        status_code=202 if submitted.created else 200,
        headers={"Location": view.links["self"]},
    )


def _validated(model, raw: bytes | str):
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc


async def _from_upload(request: Request, ctx) -> tuple[JobOptions, Path, str]:
    form = await request.form(max_files=1, max_fields=2, max_part_size=ctx.settings.max_request_bytes)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("the multipart body has no file part named 'file'", fix="curl -F file=@video.mp4 ...")
        options_raw = form.get("options") or "{}"
        if not isinstance(options_raw, str):
            raise BadRequest("the 'options' part must be a JSON string, not a file")
        options = _validated(JobOptions, options_raw)
        path, sha256 = await run_in_threadpool(
            store_upload, upload.file, upload.filename or "", ctx.settings.uploads_dir, ctx.settings.max_upload_bytes
        )
    finally:
        await form.close()
    return options, path, request_fingerprint("upload", sha256, options.model_dump(mode="json"))


def store_upload(source: BinaryIO, filename: str, uploads_dir: Path, max_bytes: int) -> tuple[Path, str]:
    """Copy an upload into the uploads folder under its content hash (the same file uploaded twice
    is kept once), refusing it past ``max_bytes``. Returns (path, sha256)."""
    uploads_dir.mkdir(parents=True, exist_ok=True)
    suffix = Path(filename).suffix.lower()
    suffix = suffix if _SUFFIX.match(suffix) else ".bin"
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=uploads_dir, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_COPY_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise RequestTooLarge(f"the upload is over the {max_bytes}-byte limit", fix="raise REELSCOPE_MAX_UPLOAD_BYTES")
                digest.update(chunk)
                out.write(chunk)
        final = uploads_dir / f"{digest.hexdigest()}{suffix}"
        if final.exists():
            os.unlink(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final, digest.hexdigest()


# -- read ---------------------------------------------------------------------------------------
@router.get("/jobs", response_model=JobList, summary="List jobs, newest first")
def list_jobs(
    request: Request,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JobList:
    ctx = _ctx(request)
    records = ctx.store.list(status, limit, offset)
    return JobList(jobs=[job_view(ctx, r, details=False) for r in records], total=ctx.store.count(status), limit=limit, offset=offset)


@router.get("/jobs/{job_id}", response_model=JobView, summary="A job: status, progress, per-analyzer outcomes, timings")
def get_job(request: Request, job_id: str) -> JobView:
    ctx = _ctx(request)
    return job_view(ctx, ctx.store.get(job_id))


@router.delete("/jobs/{job_id}", response_model=JobView, summary="Cancel a queued or running job")
def cancel_job(request: Request, job_id: str) -> JobView:
    ctx = _ctx(request)
    return job_view(ctx, ctx.service.cancel(job_id))


@router.get(
    "/jobs/{job_id}/report",
    summary="The report JSON (whole, or one analyzer's part with ?analyzer=)",
    responses={200: {"content": {"application/json": {}}, "description": "the report (schema_version 1.0)"}},
)
def get_report(request: Request, job_id: str, analyzer: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    report = json.loads(_report_path(_ctx(request), job_id).read_text(encoding="utf-8"))
    for part in report.get("analyzers", {}).values():
        if part.get("error"):
            part["error"].pop("traceback", None)  # server internals stay in the server's store
    if analyzer is None:
        return JSONResponse(report)
    if analyzer not in report["analyzers"]:
        raise NotInReport(f"job {job_id} did not run {analyzer!r}", fix="it ran: " + ", ".join(report["analyzers"]))
    return JSONResponse({"job_id": job_id, "schema_version": report["schema_version"], "analyzer": analyzer, **report["analyzers"][analyzer]})


_TRANSCRIPT_404 = {404: {**ERROR_RESPONSES[404], "description": "no such job, or no ok speech_transcription in its report"}}


@router.get(
    "/jobs/{job_id}/transcript.vtt",
    summary="The transcript as WebVTT subtitles (needs an ok speech_transcription)",
    response_class=Response,
    responses={200: {"content": {"text/vtt": {}}, "description": "WebVTT cues"}, **_TRANSCRIPT_404},
)
def get_transcript_vtt(request: Request, job_id: str) -> Response:
    return _transcript(request, job_id, "vtt")


@router.get(
    "/jobs/{job_id}/transcript.srt",
    summary="The transcript as SRT subtitles (needs an ok speech_transcription)",
    response_class=Response,
    responses={200: {"content": {"application/x-subrip": {}}, "description": "SubRip cues"}, **_TRANSCRIPT_404},
)
def get_transcript_srt(request: Request, job_id: str) -> Response:
    return _transcript(request, job_id, "srt")


def _transcript(request: Request, job_id: str, fmt: str) -> Response:
    text = _report_path(_ctx(request), job_id).read_text(encoding="utf-8")
    report = AnalysisReport.model_validate_json(text)
    cues = build_cues(transcript_output(report))  # NotInReport (404) when there is no ok transcript
    filename = quote(f"{Path(report.source.path).stem}.{fmt}")  # the name only: server paths stay private
    return Response(
        EXPORT_FORMATS[fmt](cues),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f"inline; filename*=UTF-8''{filename}"},
    )


def _report_path(ctx, job_id: str) -> Path:
    """The report file of a finished job: JobNotFound for an unknown job, JobConflict while it
    runs or when it ended without a report."""
    record = ctx.store.get(job_id)
    if not record.status.is_final or not record.report_path:
        raise JobConflict(
            f"job {job_id} has no report: it is {record.status.value}" + (f" ({record.error})" if record.error else ""),
            fix="poll GET /v1/jobs/{id} until it succeeds" if not record.status.is_final else None,
        )
    return Path(record.report_path)


# -- views --------------------------------------------------------------------------------------
def job_view(ctx, record: JobRecord, details: bool = True) -> JobView:
    progress = ctx.service.progress(record.job_id) if not record.status.is_final else None
    results, timings = (_finished_parts(ctx, record) if details and record.status.is_final else (None, None))
    return JobView(
        job_id=record.job_id,
        status=record.status,
        source=record.source if is_url(record.source) else Path(record.source).name,  # server paths stay private
        media_sha256=record.media_sha256,
        analyzers=record.analyzers,
        params=record.params,
        error=record.error,
        attempts=record.attempts,
        created_at=record.created_at,
        queued_at=record.queued_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        progress=ProgressView(stage=progress.stage, decode_fraction=progress.decode_fraction, analyzers=dict(progress.analyzers))
        if progress
        else None,
        results=results,
        timings=timings,
        webhook_status=record.webhook_status,
        links={"self": f"/v1/jobs/{record.job_id}", "report": f"/v1/jobs/{record.job_id}/report"},
    )


def _finished_parts(ctx, record: JobRecord) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Per-analyzer outcomes and timings of a finished job, read from its report once and cached
    (reports are immutable once final; a re-run changes ``updated_at`` and so the key)."""
    key = (record.job_id, record.updated_at)
    if key in ctx.summaries:
        return ctx.summaries[key]
    report = ctx.store.report(record.job_id)
    parts: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)
    if report is not None:
        results = {
            name: {"status": a.status.value, "duration_s": a.duration_s, "error": a.error.message if a.error else None}
            for name, a in report.analyzers.items()
        }
        parts = (results, report.timings.model_dump(mode="json"))
    if len(ctx.summaries) >= _SUMMARY_CACHE:
        ctx.summaries.pop(next(iter(ctx.summaries)))
    ctx.summaries[key] = parts
    return parts
