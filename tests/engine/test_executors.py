"""Executors against misbehaving fake analyzers: deadlines, crashes, exceptions, warm reuse and
recycling of ProcessExecutor workers, and InlineExecutor agreeing on the non-crashing cases."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from tests.fakes import FAKE_TARGETS, SLEEPY_TIMEOUT_S, EchoAnalyzer

from reelscope.analyzers.registry import Registry
from reelscope.core.results import OutcomeStatus
from reelscope.engine.events import Event
from reelscope.engine.executors.inline import InlineExecutor
from reelscope.engine.executors.process import ProcessExecutor
from reelscope.engine.task import AnalyzerTask
from reelscope.media.bundle import BundleRef
from reelscope.media.decode import decode
from reelscope.media.plan import build_frame_plan
from reelscope.media.probe import probe

REGISTRY = Registry(FAKE_TARGETS)


@pytest.fixture(scope="module")
def decoded(shots_clip, tmp_path_factory) -> tuple[BundleRef, tuple[str, float | None], int]:
    """The shots clip decoded the way EchoAnalyzer asks: (bundle, frames key, frame count)."""
    path, truth = shots_clip
    info = probe(path)
    plan = build_frame_plan({"echo": EchoAnalyzer.spec.needs.frames}, {}, info)
    ref = decode(info, plan, tmp_path_factory.mktemp("bundle"))
    return ref, plan.frames_for["echo"], truth.n_frames


def make_task(name: str, decoded, params: dict | None = None, timeout_s: float = 30.0) -> AnalyzerTask:
    ref, frames, _ = decoded
    if name == "echo":
        return AnalyzerTask(name=name, params=params or {}, bundle=ref, timeout_s=timeout_s, frames=frames, job_id="j")
    # the other fakes read nothing: a bundle with no streams is enough
    empty = BundleRef(work_dir=ref.work_dir, media=ref.media)
    return AnalyzerTask(name=name, params=params or {}, bundle=empty, timeout_s=timeout_s, job_id="j")


def sleepy_task(decoded) -> AnalyzerTask:
    return make_task("sleepy", decoded, {"seconds": 30}, timeout_s=SLEEPY_TIMEOUT_S)


def pid_of(worker: str | None) -> int:
    assert worker is not None
    return int(worker.rsplit("pid-", 1)[1])


@pytest.fixture(scope="module")
def executor(tmp_path_factory):
    ex = ProcessExecutor(workers=2, registry=REGISTRY, log_dir=tmp_path_factory.mktemp("logs"))
    ex.start(["echo"])
    yield ex
    ex.close()


def assert_echo_ok(executor, decoded) -> None:
    outcome = executor.run([make_task("echo", decoded)], lambda e: None)["echo"]
    assert outcome.status == OutcomeStatus.ok, outcome.error
    assert outcome.output.summary["n_frames"] == decoded[2]
    assert outcome.output.summary["pid"] == pid_of(outcome.worker)


def test_echo_reads_the_decoded_frames_in_a_worker(executor, decoded):
    events: list[Event] = []
    outcome = executor.run([make_task("echo", decoded)], events.append)["echo"]
    assert outcome.status == OutcomeStatus.ok
    summary = outcome.output.summary
    assert summary["n_frames"] == decoded[2] == 36
    assert summary["frame_shape"] == [112, 64]  # native size, gray
    assert summary["pid"] != os.getpid()
    assert [e.kind for e in events] == ["task_started", "task_finished"]
    assert events[1].data["outcome"] == outcome


def test_deadline_kills_the_worker_with_its_stack_and_the_next_task_runs(executor, decoded):
    pids_before = {w.process.pid for w in executor.workers}
    outcome = executor.run([sleepy_task(decoded)], lambda e: None)["sleepy"]
    assert outcome.status == OutcomeStatus.timed_out
    assert outcome.error.type == "TaskTimedOut"
    assert "deadline" in outcome.error.message
    # faulthandler's dump of the worker's stack names the function it was stuck in
    assert "sleep_past_the_deadline" in outcome.error.traceback
    assert outcome.duration_s == pytest.approx(SLEEPY_TIMEOUT_S)
    assert pid_of(outcome.worker) in pids_before
    assert pid_of(outcome.worker) not in {w.process.pid for w in executor.workers}  # replaced
    assert len(executor.workers) == 2
    assert_echo_ok(executor, decoded)


def test_an_exception_is_a_failed_outcome_with_its_traceback(executor, decoded):
    pids_before = {w.process.pid for w in executor.workers}
    outcome = executor.run([make_task("raising", decoded)], lambda e: None)["raising"]
    assert outcome.status == OutcomeStatus.failed
    assert outcome.output is None
    assert outcome.error.type == "ValueError"
    assert outcome.error.message == "boom"
    assert "fakes.py" in outcome.error.traceback and 'raise ValueError("boom")' in outcome.error.traceback
    assert {w.process.pid for w in executor.workers} == pids_before  # an exception kills nobody


def test_os_exit_is_a_crash_and_later_tasks_still_run(executor, decoded):
    outcome = executor.run([make_task("exiting", decoded)], lambda e: None)["exiting"]
    assert outcome.status == OutcomeStatus.crashed
    assert outcome.error.type == "WorkerCrashed"
    assert "exit code 3" in outcome.error.message
    assert all(w.process.is_alive() for w in executor.workers)
    assert_echo_ok(executor, decoded)
    assert_echo_ok(executor, decoded)


def test_segfault_is_a_crash_naming_the_signal(executor, decoded):
    outcome = executor.run([make_task("segfault", decoded)], lambda e: None)["segfault"]
    assert outcome.status == OutcomeStatus.crashed
    assert "SIGSEGV" in outcome.error.message
    assert "Segmentation fault" in (outcome.error.traceback or "")  # faulthandler wrote it to the log
    assert_echo_ok(executor, decoded)


def test_a_mixed_wave_returns_one_outcome_per_task(executor, decoded):
    tasks = [
        sleepy_task(decoded),
        make_task("raising", decoded),
        make_task("exiting", decoded),
        make_task("echo", decoded),
        make_task("segfault", decoded),
        make_task("dependent", decoded),
    ]
    events: list[Event] = []
    outcomes = executor.run(tasks, events.append)
    assert {n: o.status for n, o in outcomes.items()} == {
        "sleepy": OutcomeStatus.timed_out,
        "raising": OutcomeStatus.failed,
        "exiting": OutcomeStatus.crashed,
        "echo": OutcomeStatus.ok,
        "segfault": OutcomeStatus.crashed,
        "dependent": OutcomeStatus.ok,
    }
    assert outcomes["dependent"].output.summary["inputs"] == []  # no inputs were given
    finished = [e.data["analyzer"] for e in events if e.kind == "task_finished"]
    assert sorted(finished) == sorted(t.name for t in tasks)
    assert_echo_ok(executor, decoded)


def test_warm_worker_reuses_one_analyzer_instance(tmp_path, decoded):
    with ProcessExecutor(workers=1, registry=REGISTRY, log_dir=tmp_path) as ex:
        first = ex.run([make_task("echo", decoded)], lambda e: None)["echo"]
        second = ex.run([make_task("echo", decoded, {"tag": "again"})], lambda e: None)["echo"]
    a, b = first.output.summary, second.output.summary
    assert a["pid"] == b["pid"] == pid_of(first.worker) == pid_of(second.worker)
    assert a["instances_created"] == b["instances_created"] == 1
    assert (a["calls"], b["calls"]) == (1, 2)  # the same object served both tasks
    assert b["tag"] == "again"  # params travel with each task, not with the instance


def test_workers_are_recycled_after_max_tasks(tmp_path, decoded):
    with ProcessExecutor(workers=1, max_tasks_per_worker=1, registry=REGISTRY, log_dir=tmp_path) as ex:
        first = ex.run([make_task("echo", decoded)], lambda e: None)["echo"]
        second = ex.run([make_task("echo", decoded)], lambda e: None)["echo"]
    assert first.status == second.status == OutcomeStatus.ok
    assert first.output.summary["pid"] != second.output.summary["pid"]
    assert first.output.summary["calls"] == second.output.summary["calls"] == 1


def test_inline_executor_agrees_on_the_non_crashing_fakes(executor, decoded):
    def tasks() -> list[AnalyzerTask]:
        return [
            make_task("echo", decoded),
            make_task("raising", decoded),
            make_task("sleepy", decoded, {"seconds": 0.0}),
            make_task("dependent", decoded),
        ]

    inline = InlineExecutor(REGISTRY)
    events: list[Event] = []
    try:
        local = inline.run(tasks(), events.append)
    finally:
        inline.close()
    remote = executor.run(tasks(), lambda e: None)
    assert set(local) == set(remote) == {"echo", "raising", "sleepy", "dependent"}
    for name in local:
        assert local[name].status == remote[name].status, name
        assert (local[name].error and local[name].error.type) == (remote[name].error and remote[name].error.type)
    assert local["raising"].status == OutcomeStatus.failed and "boom" in local["raising"].error.traceback
    assert local["echo"].output.summary["n_frames"] == remote["echo"].output.summary["n_frames"] == decoded[2]
    assert local["echo"].output.summary["pid"] == os.getpid()
    assert local["sleepy"].output.summary == remote["sleepy"].output.summary == {"slept_s": 0.0}
    assert [e.data["worker"] for e in events if e.kind == "task_started"] == ["inline"] * 4


def test_invalid_params_in_a_task_fail_that_task_only(executor, decoded):
    outcomes = executor.run(
        [make_task("sleepy", decoded, {"seconds": "long"}), make_task("echo", decoded)], lambda e: None
    )
    assert outcomes["sleepy"].status == OutcomeStatus.failed
    assert outcomes["sleepy"].error.type == "ValidationError"
    assert outcomes["echo"].status == OutcomeStatus.ok


def test_close_stops_every_worker(tmp_path, decoded):
    ex = ProcessExecutor(workers=2, registry=REGISTRY, log_dir=tmp_path)
    ex.run([make_task("echo", decoded)], lambda e: None)
    processes = [w.process for w in ex.workers]
    ex.close()
    assert ex.workers == []
    assert not any(p.is_alive() for p in processes)
    assert sorted(Path(tmp_path).glob("worker-*.log"))  # each worker had a log


def test_an_idle_worker_that_died_is_replaced_before_its_next_task(tmp_path, decoded):
    with ProcessExecutor(workers=1, registry=REGISTRY, log_dir=tmp_path) as ex:
        first = ex.run([make_task("echo", decoded)], lambda e: None)["echo"]
        victim = ex.workers[0].process
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=5)
        second = ex.run([make_task("echo", decoded)], lambda e: None)["echo"]
    assert second.status == OutcomeStatus.ok
    assert second.output.summary["pid"] != first.output.summary["pid"]
