"""Executors run a wave of AnalyzerTasks and return one Outcome per task."""

from __future__ import annotations

from typing import Protocol

from reelscope.core.results import Outcome
from reelscope.engine.events import EventSink
from reelscope.engine.task import AnalyzerTask


class Executor(Protocol):
    def start(self, preload: list[str]) -> None:
        """Get ready (start workers, load models) for analyzers ``preload``; may return early."""

    def run(self, tasks: list[AnalyzerTask], on_event: EventSink) -> dict[str, Outcome]: ...

    def close(self) -> None: ...
