"""Executors run AnalyzerTasks and give one Outcome per task.

``submit`` returns a Future at once, so several jobs can share one executor (the API runs a few
jobs at a time over one pool of warm workers); ``cancel(job_id)`` drops that job's waiting tasks
and stops its running ones. ``run`` is the simple form: one wave, wait for all of it.
"""

from __future__ import annotations

from concurrent.futures import CancelledError, Future
from typing import Protocol

from reelscope.core.errors import JobCancelled
from reelscope.core.results import Outcome
from reelscope.engine.events import EventSink
from reelscope.engine.task import AnalyzerTask


class Executor(Protocol):
    def start(self, preload: list[str]) -> None:
        """Get ready (start workers, load models) for analyzers ``preload``; may return early."""

    def submit(self, task: AnalyzerTask, on_event: EventSink) -> Future[Outcome]: ...

    def run(self, tasks: list[AnalyzerTask], on_event: EventSink) -> dict[str, Outcome]: ...

    def cancel(self, job_id: str) -> None: ...

    def close(self) -> None: ...


def gather(futures: dict[str, Future[Outcome]], job_id: str = "") -> dict[str, Outcome]:
    """Wait for every future; a cancelled one means the job was cancelled."""
    outcomes = {}
    for name, future in futures.items():
        try:
            outcomes[name] = future.result()
        except CancelledError as exc:
            for other in futures.values():
                other.cancel()
            raise JobCancelled(f"job {job_id or '?'} was cancelled while {name} was waiting or running") from exc
    return outcomes
