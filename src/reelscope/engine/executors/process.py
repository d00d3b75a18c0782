"""ProcessExecutor: one pool of long-lived ``spawn`` worker processes that keep their analyzers
(and models) loaded across tasks and jobs, supervised by one thread in the parent.

- ``submit`` may be called from any thread (several jobs share the pool); the supervisor thread
  alone talks to the workers, so no pipe is ever used by two threads.
- Each task has a deadline counted from the moment the worker starts it. A worker past its
  deadline is asked for its stack (faulthandler on SIGUSR1), killed and replaced; the task ends
  ``timed_out`` with that stack.
- A worker that dies (segfault, ``os._exit``, OOM kill) is replaced; its task ends ``crashed``
  with the exit code and the tail of the worker's log, where faulthandler writes native crashes.
- ``cancel(job_id)`` drops the job's waiting tasks and kills (and replaces) workers running its
  tasks: an analyzer cannot be interrupted safely any other way.
- Workers are recycled after ``max_tasks_per_worker`` tasks to bound memory growth.
- Workers limit BLAS/OpenCV to one thread each: parallelism comes from running tasks side by side.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from reelscope.analyzers.registry import Registry
from reelscope.core.errors import WorkerCrashed
from reelscope.core.results import ErrorInfo, Outcome, OutcomeStatus
from reelscope.engine.events import Event, EventSink
from reelscope.engine.executors import gather
from reelscope.engine.task import AnalyzerTask

log = logging.getLogger(__name__)

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
_STARTUP_TIMEOUT_S = 180.0
_LOG_TAIL_CHARS = 4000


def _worker_main(conn: Connection, targets: dict[str, str], preload: list[str], log_path: str) -> None:
    """Entry point of a worker process: load analyzers, then serve tasks until told to stop."""
    import faulthandler
    import sys

    log_file = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    os.dup2(log_file.fileno(), 2)  # native libraries' stderr and faulthandler go to the log
    sys.stderr = log_file
    faulthandler.enable(file=log_file, all_threads=True)
    faulthandler.register(signal.SIGUSR1, file=log_file, all_threads=True, chain=False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us

    import cv2

    cv2.setNumThreads(1)
    from reelscope.analyzers.registry import Registry
    from reelscope.engine.task import execute_task

    registry = Registry(targets)
    instances: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name in preload:
        try:
            instances[name] = registry.get(name)()
        except Exception as exc:  # the task itself will report it properly
            failed[name] = f"{type(exc).__name__}: {exc}"
            print(f"preload of {name} failed: {exc!r}", file=log_file)
    conn.send(("ready", sorted(instances), failed))
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
class _Pending:
    task: AnalyzerTask
    future: Future[Outcome]
    on_event: EventSink


@dataclass
class _Worker:
    number: int
    process: mp.process.BaseProcess
    conn: Connection
    log_path: Path
    loaded: set[str] = field(default_factory=set)
    load_errors: dict[str, str] = field(default_factory=dict)
    ready: bool = False
    tasks_done: int = 0
    job: _Pending | None = None
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


@dataclass(frozen=True)
class WorkerState:
    name: str
    pid: int | None
    alive: bool
    ready: bool
    busy_with: str | None
    tasks_done: int
    loaded: tuple[str, ...]
    load_errors: dict[str, str]


@dataclass(frozen=True)
class PoolState:
    """A snapshot for health checks and metrics."""

    size: int
    workers: tuple[WorkerState, ...]
    queued_tasks: int
    start_error: str | None

    def counts(self) -> dict[str, int]:
        """Workers by state: configured, alive, ready (alive and started), busy."""
        return {
            "configured": self.size,
            "alive": sum(w.alive for w in self.workers),
            "ready": sum(w.alive and w.ready for w in self.workers),
            "busy": sum(w.busy_with is not None for w in self.workers),
        }


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
        self._queue: deque[_Pending] = deque()  # supervisor only
        # shared with callers, guarded by _lock:
        self._lock = threading.Lock()
        self._inbox: deque[_Pending] = deque()
        self._cancels: list[str] = []
        self._want_workers = False
        self._closing = False
        self._start_error: str | None = None
        self._wake_r, self._wake_w = mp.Pipe(duplex=False)
        self._thread: threading.Thread | None = None

    # -- the callers' side (any thread) --------------------------------------------------------
    def start(self, preload: list[str]) -> None:
        with self._lock:
            if self._closing:
                raise RuntimeError("this executor is closed")
            self.preload = sorted(set(self.preload) | set(preload))
            self._want_workers = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._supervise, name="reelscope-supervisor", daemon=True)
                self._thread.start()
        self._wake()

    def submit(self, task: AnalyzerTask, on_event: EventSink) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self.start([])
        with self._lock:
            self._inbox.append(_Pending(task, future, on_event))
        self._wake()
        return future

    def run(self, tasks: list[AnalyzerTask], on_event: EventSink) -> dict[str, Outcome]:
        return gather({t.name: self.submit(t, on_event) for t in tasks}, tasks[0].job_id if tasks else "")

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancels.append(job_id)
        self._wake()

    def state(self) -> PoolState:
        workers = tuple(
            WorkerState(
                name=w.name,
                pid=w.process.pid,
                alive=w.process.is_alive(),
                ready=w.ready,
                busy_with=w.job.task.name if w.job else None,
                tasks_done=w.tasks_done,
                loaded=tuple(sorted(w.loaded)),
                load_errors=dict(w.load_errors),
            )
            for w in list(self.workers)
        )
        with self._lock:
            queued = len(self._inbox)
        return PoolState(self.size, workers, queued + len(self._queue), self._start_error)

    def close(self) -> None:
        with self._lock:
            self._closing = True
            thread = self._thread
        self._wake()
        if thread is not None:
            thread.join(timeout=30)
        for worker in self.workers:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(("stop",))
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        self.workers.clear()
        for pending in list(self._queue) + list(self._inbox):
            pending.future.cancel()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._wake_w.send_bytes(b"!")

    # -- the supervisor thread -----------------------------------------------------------------
    def _supervise(self) -> None:
        while True:
            try:
                if not self._take_inbox():
                    return
                self._ensure_workers()
                self._assign()
                waitables: list[Any] = [self._wake_r]
                for worker in self.workers:
                    waitables += [worker.conn, worker.process.sentinel]
                ready = wait(waitables, timeout=self._next_timeout())
                if self._wake_r in ready:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                for worker in list(self.workers):
                    if worker.conn in ready:
                        self._receive(worker)
                    elif worker.process.sentinel in ready:
                        self._on_death(worker)
                self._enforce_deadlines()
            except Exception:  # the pool must outlive any bug in one round
                log.exception("supervisor round failed")
                time.sleep(0.1)

    def _take_inbox(self) -> bool:
        """Move new tasks and cancellations in; False once the executor is closing."""
        with self._lock:
            if self._closing:
                return False
            self._queue.extend(self._inbox)
            self._inbox.clear()
            cancels, self._cancels = self._cancels, []
        for job_id in cancels:
            for pending in [p for p in self._queue if p.task.job_id == job_id]:
                self._queue.remove(pending)
                pending.future.cancel()
            for worker in list(self.workers):
                if worker.job is not None and worker.job.task.job_id == job_id:
                    worker.job.future.cancel()
                    worker.job = None
                    self._replace(worker, graceful=False)
        return True

    def _ensure_workers(self) -> None:
        if not (self._want_workers or self._queue):
            return
        while len(self.workers) < self.size:
            self.workers.append(self._spawn())
        self._want_workers = False

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
                target=_worker_main,
                args=(child_conn, self.registry.targets, self.preload, str(log_path)),
                name=f"reelscope-worker-{number}",
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

    def _assign(self) -> None:
        while self._queue and self._queue[0].future.cancelled():
            self._queue.popleft()
        for worker in self.workers:
            if not self._queue or worker.job is not None or not worker.ready:
                continue
            if not worker.process.is_alive():  # died while idle: replace before it gets work
                self._replace(worker, graceful=False)
                continue
            # prefer a task whose analyzer this worker already has warm
            pending = next((p for p in self._queue if p.task.name in worker.loaded), self._queue[0])
            self._queue.remove(pending)
            if pending.future.cancelled():
                continue
            worker.job, worker.task_id = pending, next(self._task_ids)
            worker.sent_at, worker.deadline = time.monotonic(), None
            try:
                worker.conn.send(("task", worker.task_id, pending.task))
            except (OSError, ValueError):  # it died since we last looked: retry on a new one
                worker.job = worker.task_id = None
                self._queue.appendleft(pending)
                self._replace(worker, graceful=False)
                continue
            self._emit(pending, Event("task_started", pending.task.job_id, {"analyzer": pending.task.name, "worker": worker.name}))

    def _next_timeout(self) -> float:
        now = time.monotonic()
        limits = [w.deadline - now for w in self.workers if w.deadline is not None]
        limits += [w.sent_at + _STARTUP_TIMEOUT_S - now for w in self.workers if not w.ready]
        return max(0.01, min(limits, default=1.0))

    def _receive(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._on_death(worker)
            return
        if message[0] == "ready":
            worker.ready, worker.loaded, worker.load_errors = True, set(message[1]), dict(message[2])
            self._start_error = None
        elif message[0] == "started" and worker.job is not None and message[1] == worker.task_id:
            worker.deadline = time.monotonic() + worker.job.task.timeout_s
        elif message[0] == "done" and worker.job is not None and message[1] == worker.task_id:
            outcome: Outcome = message[2].model_copy(update={"worker": worker.name})
            worker.tasks_done += 1
            self._finish(worker, outcome, replace="graceful" if worker.tasks_done >= self.max_tasks_per_worker else None)

    def _finish(self, worker: _Worker, outcome: Outcome, replace: str | None = None) -> None:
        """Hand the outcome to the caller, after replacing the worker if ``replace`` ("graceful"
        or "kill"), so whoever sees the outcome also sees the pool whole again."""
        pending = worker.job
        assert pending is not None
        worker.loaded.add(pending.task.name)
        worker.job, worker.task_id, worker.deadline = None, None, None
        if replace is not None:
            self._replace(worker, graceful=replace == "graceful")
        if pending.future.cancelled():
            return
        pending.future.set_result(outcome)
        self._emit(pending, Event("task_finished", pending.task.job_id, {"analyzer": pending.task.name, "outcome": outcome}))

    def _emit(self, pending: _Pending, event: Event) -> None:
        try:
            pending.on_event(event)
        except Exception:  # a listener's bug must not stop the pool
            log.exception("event listener failed on %s", event.kind)

    def _on_death(self, worker: _Worker) -> None:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        how = f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        if worker.job is not None:
            error = ErrorInfo(
                type="WorkerCrashed",
                message=f"worker process died while running {worker.job.task.name} ({how})",
                fix="see the traceback; a native crash or running out of memory are the usual causes",
                traceback=worker.log_tail() or None,
            )
            outcome = Outcome(
                status=OutcomeStatus.crashed,
                error=error,
                duration_s=round(time.monotonic() - worker.sent_at, 4),
                worker=worker.name,
            )
            self._finish(worker, outcome, replace="kill")
        elif not worker.ready:
            self._failed_to_start(worker, f"a worker died while starting ({how})")
        else:
            self._replace(worker, graceful=False)

    def _failed_to_start(self, worker: _Worker, what: str) -> None:
        """A worker that cannot start would fail again at once: fail the waiting tasks instead of
        respawning in a loop; the next submit tries again."""
        tail = worker.log_tail()
        self._start_error = f"{what}:\n{tail}"
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        worker.conn.close()
        self.workers.remove(worker)
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.cancelled():
                pending.future.set_exception(WorkerCrashed(self._start_error, fix="see the worker log above"))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for worker in list(self.workers):
            if not worker.ready and now - worker.sent_at > _STARTUP_TIMEOUT_S:
                self._failed_to_start(worker, f"a worker did not start within {_STARTUP_TIMEOUT_S:.0f} s")
                continue
            if worker.job is None or worker.deadline is None or now < worker.deadline:
                continue
            task = worker.job.task
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
            self._finish(worker, outcome, replace="kill")

    def _replace(self, worker: _Worker, graceful: bool) -> None:
        if graceful:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(("stop",))
            worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        worker.conn.close()
        self.workers[self.workers.index(worker)] = self._spawn()
