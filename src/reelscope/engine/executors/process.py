"""ProcessExecutor: long-lived ``spawn`` worker processes that keep their analyzers (and models)
loaded across tasks and jobs, supervised by the parent.

- Each task has a deadline counted from the moment the worker starts it. A worker past its
  deadline is asked for its stack (faulthandler on SIGUSR1), killed and replaced; the task ends
  ``timed_out`` with that stack.
- A worker that dies (segfault, ``os._exit``, OOM kill) is replaced; its task ends ``crashed``
  with the exit code and the tail of the worker's log, where faulthandler writes native crashes.
- Workers are recycled after ``max_tasks_per_worker`` tasks to bound memory growth.
- Workers limit BLAS/OpenCV to one thread each: parallelism comes from running tasks side by side.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from reelscope.analyzers.registry import Registry
from reelscope.core.results import ErrorInfo, Outcome, OutcomeStatus
from reelscope.engine.events import Event, EventSink
from reelscope.engine.task import AnalyzerTask

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
_STARTUP_TIMEOUT_S = 180.0
_LOG_TAIL_CHARS = 4000


def _worker_main(conn: Connection, targets: dict[str, str], preload: list[str], log_path: str) -> None:
    """Entry point of a worker process: load analyzers, then serve tasks until told to stop."""
    import faulthandler
    import sys

    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    os.dup2(log.fileno(), 2)  # native libraries' stderr and faulthandler go to the log
    sys.stderr = log
    faulthandler.enable(file=log, all_threads=True)
    faulthandler.register(signal.SIGUSR1, file=log, all_threads=True, chain=False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us

    import cv2

    cv2.setNumThreads(1)
    from reelscope.analyzers.registry import Registry
    from reelscope.engine.task import execute_task

    registry = Registry(targets)
    instances: dict[str, Any] = {}
    for name in preload:
        try:
            instances[name] = registry.get(name)()
        except Exception as exc:  # the task itself will report it properly
            print(f"preload of {name} failed: {exc!r}", file=log)
    conn.send(("ready", sorted(instances)))
    while True:
        message = conn.recv()
        if message[0] == "stop":
            break
        _, task_id, task = message
        conn.send(("started", task_id))
        outcome = execute_task(task, registry, instances)
        conn.send(("done", task_id, outcome))
    for analyzer in instances.values():
        analyzer.close()


@dataclass
class _Worker:
    number: int
    process: mp.process.BaseProcess
    conn: Connection
    log_path: Path
    loaded: set[str] = field(default_factory=set)
    ready: bool = False
    tasks_done: int = 0
    task: AnalyzerTask | None = None
    task_id: int | None = None
    sent_at: float = 0.0
    deadline: float | None = None  # set when the worker says it started the task

    @property
    def name(self) -> str:
        return f"worker-{self.number}/pid-{self.process.pid}"

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
        except OSError:
            return ""


class ProcessExecutor:
    def __init__(
        self,
        workers: int = 2,
        max_tasks_per_worker: int = 100,
        log_dir: Path | None = None,
        registry: Registry | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.registry = registry or Registry.default()
        self.size = workers
        self.max_tasks_per_worker = max_tasks_per_worker
        self.log_dir = Path(log_dir or Path.cwd() / ".reelscope-logs")
        self.ctx = mp.get_context("spawn")
        self.workers: list[_Worker] = []
        self.preload: list[str] = []
        self._numbers = itertools.count()
        self._task_ids = itertools.count()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, preload: list[str]) -> None:
        self.preload = sorted(set(self.preload) | set(preload))
        while len(self.workers) < self.size:
            self.workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        number = next(self._numbers)
        log_path = self.log_dir / f"worker-{number}.log"
        log_path.write_text("")
        parent_conn, child_conn = self.ctx.Pipe()
        saved = {k: os.environ.get(k) for k in _THREAD_ENV}
        os.environ.update({k: "1" for k in _THREAD_ENV})  # inherited at spawn, read at import
        try:
            process = self.ctx.Process(
                target=_worker_main, args=(child_conn, self.registry.targets, self.preload, str(log_path)), name=f"reelscope-worker-{number}"
            )
            process.daemon = True
            process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        child_conn.close()
        return _Worker(number, process, parent_conn, log_path, sent_at=time.monotonic())

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.conn.send(("stop",))
            except (OSError, ValueError):
                pass
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        self.workers.clear()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -------------------------------------------------------------------------------
    def run(self, tasks: list[AnalyzerTask], on_event: EventSink) -> dict[str, Outcome]:
        # a worker that died while idle (OOM killer, kill -9) is replaced before it gets work
        for worker in list(self.workers):
            if worker.task is None and not worker.process.is_alive():
                self._replace(worker, graceful=False)
        self.start([t.name for t in tasks])
        pending = deque(tasks)
        outcomes: dict[str, Outcome] = {}
        while pending or any(w.task is not None for w in self.workers):
            self._assign(pending, on_event)
            busy = [w for w in self.workers if w.task is not None or not w.ready]
            waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            ready = wait(waitables, timeout=self._next_timeout(busy))
            for worker in list(busy):
                if worker.conn in ready:
                    self._receive(worker, outcomes, on_event)
                elif worker.process.sentinel in ready:
                    self._on_death(worker, outcomes, on_event)
            self._enforce_deadlines(outcomes, on_event)
        return outcomes

    def _assign(self, pending: deque[AnalyzerTask], on_event: EventSink) -> None:
        for worker in self.workers:
            if not pending or worker.task is not None or not worker.ready:
                continue
            # prefer a task whose analyzer this worker already has warm
            task = next((t for t in pending if t.name in worker.loaded), pending[0])
            pending.remove(task)
            worker.task, worker.task_id = task, next(self._task_ids)
            worker.sent_at, worker.deadline = time.monotonic(), None
            try:
                worker.conn.send(("task", worker.task_id, task))
            except (OSError, ValueError):  # it died since we last looked: retry on a new one
                worker.task = worker.task_id = None
                pending.appendleft(task)
                self._replace(worker, graceful=False)
                continue
            on_event(Event("task_started", task.job_id, {"analyzer": task.name, "worker": worker.name}))

    def _next_timeout(self, busy: list[_Worker]) -> float:
        now = time.monotonic()
        limits = [w.deadline - now for w in busy if w.deadline is not None]
        limits += [w.sent_at + _STARTUP_TIMEOUT_S - now for w in busy if not w.ready]
        return max(0.01, min(limits, default=1.0))

    def _receive(self, worker: _Worker, outcomes: dict[str, Outcome], on_event: EventSink) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._on_death(worker, outcomes, on_event)
            return
        if message[0] == "ready":
            worker.ready, worker.loaded = True, set(message[1])
        elif message[0] == "started" and worker.task is not None and message[1] == worker.task_id:
            worker.deadline = time.monotonic() + worker.task.timeout_s
        elif message[0] == "done" and worker.task is not None and message[1] == worker.task_id:
            outcome: Outcome = message[2].model_copy(update={"worker": worker.name})
            self._finish(worker, outcome, outcomes, on_event)
            worker.tasks_done += 1
            if worker.tasks_done >= self.max_tasks_per_worker:
                self._replace(worker, graceful=True)

    def _finish(self, worker: _Worker, outcome: Outcome, outcomes: dict[str, Outcome], on_event: EventSink) -> None:
        task = worker.task
        assert task is not None
        worker.loaded.add(task.name)
        worker.task, worker.task_id, worker.deadline = None, None, None
        outcomes[task.name] = outcome
        on_event(Event("task_finished", task.job_id, {"analyzer": task.name, "outcome": outcome}))

    def _on_death(self, worker: _Worker, outcomes: dict[str, Outcome], on_event: EventSink) -> None:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        how = f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        if worker.task is not None:
            error = ErrorInfo(
                type="WorkerCrashed",
                message=f"worker process died while running {worker.task.name} ({how})",
                fix="see the traceback; a native crash or running out of memory are the usual causes",
                traceback=worker.log_tail() or None,
            )
            outcome = Outcome(
                status=OutcomeStatus.crashed,
                error=error,
                duration_s=round(time.monotonic() - worker.sent_at, 4),
                worker=worker.name,
            )
            self._finish(worker, outcome, outcomes, on_event)
        elif not worker.ready:
            raise RuntimeError(f"a worker died while starting ({how}):\n{worker.log_tail()}")
        self._replace(worker, graceful=False)

    def _enforce_deadlines(self, outcomes: dict[str, Outcome], on_event: EventSink) -> None:
        now = time.monotonic()
        for worker in list(self.workers):
            if not worker.ready and now - worker.sent_at > _STARTUP_TIMEOUT_S:
                raise RuntimeError(f"a worker did not start within {_STARTUP_TIMEOUT_S:.0f} s:\n{worker.log_tail()}")
            if worker.task is None or worker.deadline is None or now < worker.deadline:
                continue
            task = worker.task
            with contextlib.suppress(ProcessLookupError):  # it may die on its own right now
                os.kill(worker.process.pid, signal.SIGUSR1)  # faulthandler dumps every stack
                time.sleep(0.2)
            error = ErrorInfo(
                type="TaskTimedOut",
                message=f"{task.name} ran past its {task.timeout_s:g} s deadline; its worker was killed and replaced",
                fix=f"raise the timeout for {task.name} or lower its sampling rate",
                traceback=worker.log_tail() or None,
            )
            outcome = Outcome(status=OutcomeStatus.timed_out, error=error, duration_s=task.timeout_s, worker=worker.name)
            self._finish(worker, outcome, outcomes, on_event)
            self._replace(worker, graceful=False)

    def _replace(self, worker: _Worker, graceful: bool) -> None:
        if graceful:
            try:
                worker.conn.send(("stop",))
            except (OSError, ValueError):
                pass
            worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        worker.conn.close()
        self.workers[self.workers.index(worker)] = self._spawn()
