"""What the API reads and writes: request and response bodies (they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reelscope.core.jobs import JobStatus

_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class JobOptions(BaseModel):
    """What to run: ``analyzers`` by name or a ``preset`` (neither: every analyzer), per-analyzer
    ``params``, and an optional ``webhook_url`` POSTed (signed) when the job ends."""

    model_config = ConfigDict(extra="forbid")

    analyzers: list[str] = Field(default_factory=list, max_length=64, description="analyzer names; empty: all")
    preset: str | None = Field(None, max_length=64, description="a named analyzer set (GET /v1/analyzers lists them)")
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="analyzer name -> its params (validated by that analyzer's schema)"
    )
    webhook_url: str | None = Field(None, max_length=2048, description="http(s) URL told when the job ends")

    @model_validator(mode="after")
    def _one_way_to_choose(self) -> JobOptions:
        if self.analyzers and self.preset:
            raise ValueError("give analyzers or a preset, not both")
        return self


class JobRequest(JobOptions):
    """``POST /v1/jobs`` with a JSON body: the media is a ``path`` on the server (under a media
    root) or a ``url`` (a video page, downloaded by the job with yt-dlp). Uploads use multipart instead."""

    path: str | None = Field(None, max_length=4096, description="file on the server, under a configured media root")
    url: str | None = Field(None, max_length=2048, description="video page or file URL (public http(s)); downloaded with yt-dlp when the job runs")

    @model_validator(mode="after")
    def _one_source(self) -> JobRequest:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of path or url (or upload the file as multipart)")
        return self


class ProgressView(BaseModel):
    stage: str = Field(description="queued, probing, decoding or analyzing")
    decode_fraction: float
    analyzers: dict[str, str] = Field(description="analyzer -> pending, running or its outcome status")


class AnalyzerSummary(BaseModel):
    status: str
    duration_s: float | None = None
    error: str | None = None


class JobView(BaseModel):
    job_id: str
    status: JobStatus
    source: str
    media_sha256: str | None
    analyzers: list[str]
    params: dict[str, dict[str, Any]]
    error: str | None
    attempts: int
    created_at: str
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    progress: ProgressView | None = Field(None, description="while running")
    results: dict[str, AnalyzerSummary] | None = Field(None, description="once finished: each analyzer's outcome")
    timings: dict[str, Any] | None = Field(None, description="once finished: stage timings and realtime factor")
    webhook_status: str | None = None
    links: dict[str, str]


class JobList(BaseModel):
    jobs: list[JobView]
    total: int
    limit: int
    offset: int


class AnalyzerView(BaseModel):
    name: str
    version: str
    description: str
    available: bool
    reason: str | None
    fix: str | None
    tags: list[str]
    needs: dict[str, Any]
    timeout_s: float
    params_schema: dict[str, Any]


class AnalyzerList(BaseModel):
    analyzers: list[AnalyzerView]
    presets: dict[str, list[str]]


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. unknown_analyzer")
    message: str
    fix: str | None = None
    status: int
    request_id: str


class ErrorBody(BaseModel):
    """The one error shape of every non-2xx answer."""

    error: ErrorDetail


class Check(BaseModel):
    ok: bool
    detail: str | None = None
    data: dict[str, Any] | None = None


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]
    queue: dict[str, int]
    gpus: list[dict[str, Any]] | None


class Liveness(BaseModel):
    status: str
    version: str
    uptime_s: float


# the shape of every error answer, declared on each route so clients can rely on it
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "malformed request",
        401: "missing or wrong API key",
        403: "path outside the media roots",
        404: "no such job or file",
        409: "conflict with the job's state or an idempotency key",
        413: "request or upload too large",
        415: "unsupported media",
        422: "invalid request, params or media",
        429: "queue full (see Retry-After)",
        500: "internal error",
    }.items()
}
