"""What analyzers return and how each run ended.

Conventions: times are float seconds from the start of the video, rounded to milliseconds,
half-open ``[start_s, end_s)``; boxes are normalized ``[x, y, w, h]`` of the displayed frame;
scores and confidences are 0..1; labels are lowercase snake_case English.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def round_s(value: float) -> float:
    """Millisecond precision for every time we publish."""
    return round(float(value), 3)


class Segment(BaseModel):
    """An interval or (when ``start_s == end_s``) an instant event.

    ``kind`` groups segments inside one analyzer's output (``shot``, ``scene``, ``transition`` ...);
    ``label`` says what the segment is (``hard_cut``, ``pan_left`` ...).
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    start_s: float
    end_s: float
    label: str
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("start_s", "end_s")
    @classmethod
    def _ms(cls, value: float) -> float:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"time must be finite and >= 0, got {value}")
        return round_s(value)

    @model_validator(mode="after")
    def _ordered(self) -> Segment:
        if self.end_s < self.start_s:
            raise ValueError(f"end_s {self.end_s} < start_s {self.start_s}")
        return self


class Track(BaseModel):
    """A dense series: ``values[i]`` was measured at ``times_s[i]``. ``unit`` names the unit
    (``lufs``, ``ratio``, ``px_per_s`` ...)."""

    model_config = ConfigDict(frozen=True)

    name: str
    unit: str
    times_s: list[float]
    values: list[float | None]

    @field_validator("times_s")
    @classmethod
    def _ms(cls, values: list[float]) -> list[float]:
        return [round_s(v) for v in values]

    @field_validator("values")
    @classmethod
    def _finite(cls, values: list[float | None]) -> list[float | None]:
        # NaN/inf are not JSON; a missing measurement is None.
        return [None if v is None or not math.isfinite(v) else round(float(v), 6) for v in values]

    @model_validator(mode="after")
    def _same_length(self) -> Track:
        if len(self.times_s) != len(self.values):
            raise ValueError(f"track {self.name}: {len(self.times_s)} times vs {len(self.values)} values")
        return self


class AnalyzerOutput(BaseModel):
    model_config = ConfigDict(frozen=True)

    summary: dict[str, Any] = Field(default_factory=dict)
    segments: list[Segment] = Field(default_factory=list)
    tracks: list[Track] = Field(default_factory=list)

    def segments_of(self, kind: str) -> list[Segment]:
        return [s for s in self.segments if s.kind == kind]

    def track(self, name: str) -> Track | None:
        return next((t for t in self.tracks if t.name == name), None)


class OutcomeStatus(str, Enum):
    ok = "ok"
    failed = "failed"
    timed_out = "timed_out"
    crashed = "crashed"
    skipped = "skipped"
    unavailable = "unavailable"


class ErrorInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    message: str
    fix: str | None = None
    traceback: str | None = None


class Outcome(BaseModel):
    """How one analyzer's run ended. ``output`` is set only when ``status == ok``."""

    model_config = ConfigDict(frozen=True)

    status: OutcomeStatus
    output: AnalyzerOutput | None = None
    error: ErrorInfo | None = None
    duration_s: float = 0.0
    worker: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Outcome:
        if (self.status == OutcomeStatus.ok) != (self.output is not None):
            raise ValueError("output is required for status ok and forbidden otherwise")
        if self.status in (OutcomeStatus.failed, OutcomeStatus.timed_out, OutcomeStatus.crashed) and self.error is None:
            raise ValueError(f"status {self.status.value} needs an error")
        return self
