"""InlineExecutor: runs tasks one after another in this process (tests, debugging). It cannot
enforce deadlines or survive a crash; the ProcessExecutor does both."""

from __future__ import annotations

from reelscope.analyzers.base import Analyzer
from reelscope.analyzers.registry import Registry
from reelscope.core.results import Outcome
from reelscope.engine.events import Event, EventSink
from reelscope.engine.task import AnalyzerTask, execute_task


class InlineExecutor:
    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry.default()
        self.instances: dict[str, Analyzer] = {}

    def start(self, preload: list[str]) -> None:
        return None

    def run(self, tasks: list[AnalyzerTask], on_event: EventSink) -> dict[str, Outcome]:
        outcomes = {}
        for task in tasks:
            on_event(Event("task_started", task.job_id, {"analyzer": task.name, "worker": "inline"}))
            outcome = execute_task(task, self.registry, self.instances)
            outcomes[task.name] = outcome
            on_event(Event("task_finished", task.job_id, {"analyzer": task.name, "outcome": outcome}))
        return outcomes

    def close(self) -> None:
        for analyzer in self.instances.values():
            analyzer.close()
        self.instances.clear()
