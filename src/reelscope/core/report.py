"""The report: one JSON document per analysed video."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reelscope.core.jobs import JobStatus
from reelscope.core.media_info import MediaInfo
from reelscope.core.results import ErrorInfo, OutcomeStatus, Segment, Track

SCHEMA_VERSION = "1.0"


class SourceInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    url: str | None = None
    sha256: str
    platform: dict[str, Any] = Field(default_factory=dict)


class AnalyzerReport(BaseModel):
    """One analyzer's part of the report: its honest outcome and, when ok, its results."""

    model_config = ConfigDict(frozen=True)

    status: OutcomeStatus
    version: str
    params: dict[str, Any]
    duration_s: float
    worker: str | None = None
    error: ErrorInfo | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    segments: list[Segment] = Field(default_factory=list)
    tracks: list[Track] = Field(default_factory=list)


class Timings(BaseModel):
    """Wall-clock seconds per stage; ``realtime_factor`` = total wall time / video duration."""

    model_config = ConfigDict(frozen=True)

    probe_s: float
    decode_s: float
    analyze_s: float
    total_s: float
    realtime_factor: float
    waves_s: list[float] = Field(default_factory=list)


class AnalysisReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    reelscope_version: str
    job_id: str
    status: JobStatus
    created_at: datetime
    source: SourceInfo
    media: MediaInfo
    timings: Timings
    analyzers: dict[str, AnalyzerReport]
