"""Progress events the Engine emits (for progress bars, logs and metrics)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """``kind`` is one of: job_started, cached, probed, decode_progress, decoded, wave_started,
    task_started, task_finished, job_finished."""

    kind: str
    job_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)


EventSink = Callable[[Event], None]


def ignore_events(event: Event) -> None:
    """The sink used when nobody listens."""
