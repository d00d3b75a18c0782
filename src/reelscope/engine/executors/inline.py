"""InlineExecutor: runs tasks one after another in this process (tests, debugging). It cannot
enforce deadlines or survive a crash; the ProcessExecutor does both. A lock makes concurrent
jobs take turns, since analyzer instances are shared."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from reelscope.analyzers.base import Analyzer
from reelscope.analyzers.registry import Registry
from reelscope.core.results import Outcome
from reelscope.engine.events import Event, EventSink
from reelscope.engine.executors import gather
from reelscope.engine.task import AnalyzerTask, execute_task


class InlineExecutor:
    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry.default()
        self.instances: dict[str, Analyzer] = {}
        self._lock = threading.Lock()
        self._cancelled: set[str] = set()

    def start(self, preload: list[str]) -> None:
        return None

    def submit(self, task: AnalyzerTask, on_event: EventSink) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        with self._lock:
            if task.job_id in self._cancelled:
                future.cancel()
                return future
            on_event(Event("task_started", task.job_id, {"analyzer": task.name, "worker": "inline"}))
            outcome = execute_task(task, self.registry, self.instances)
        future.set_result(outcome)
        on_event(Event("task_finished", task.job_id, {"analyzer": task.name, "outcome": outcome}))
        return future

    def run(self, tasks: list[AnalyzerTask], on_event: EventSink) -> dict[str, Outcome]:
        return gather({t.name: self.submit(t, on_event) for t in tasks}, tasks[0].job_id if tasks else "")

    def cancel(self, job_id: str) -> None:
        """Tasks of ``job_id`` submitted from now on are cancelled (a running one finishes)."""
        self._cancelled.add(job_id)

    def close(self) -> None:
        with self._lock:
            for analyzer in self.instances.values():
                analyzer.close()
            self.instances.clear()
