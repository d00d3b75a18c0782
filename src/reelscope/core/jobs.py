"""A job: which media, which analyzers with which params, and where it stands."""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    partially_succeeded = "partially_succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (JobStatus.queued, JobStatus.running)


class JobSpec(BaseModel):
    """A request: ``source`` is a local path; ``analyzers`` empty means every available analyzer;
    ``params`` maps analyzer name to its params (validated by that analyzer's Params model)."""

    model_config = ConfigDict(frozen=True)

    source: str
    analyzers: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # where ``source`` was downloaded from, and the platform's metadata: copied into the report's
    # source section, never part of the job id (the same video from two URLs is one analysis)
    url: str | None = None
    platform: dict[str, Any] = Field(default_factory=dict)


def derive_job_id(media_sha256: str, analyzers: dict[str, tuple[str, dict[str, Any]]]) -> str:
    """Job id from the media content and ``{name: (version, effective params)}``.

    The same video with the same analyzers, versions and params always gets the same id, so a
    repeated request is answered from the store and bulk runs resume for free.
    """
    canonical = json.dumps(
        {"media": media_sha256, "analyzers": {n: [v, p] for n, (v, p) in sorted(analyzers.items())}},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]
