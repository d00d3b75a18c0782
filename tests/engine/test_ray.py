"""The Ray backend on a local Ray instance started here (4 logical CPUs, 1 logical GPU): results
match an in-process run, setup runs once per actor, errors, crashes and deadlines fail only their
item, GPU shares reach the actors, and a missing Ray or an unreachable cluster say how to fix it."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.engine import ray_work

from reelscope.core.errors import (
    BackendUnavailable,
    ModelUnavailable,
    TaskTimedOut,
    VideoPrivate,
    WorkerCrashed,
)
from reelscope.engine.executors import ray as ray_backend
from reelscope.engine.executors.ray import ClusterInfo, RayJobPool, RayPlacement, placement

REPO_ROOT = Path(__file__).resolve().parents[2]
TWO_CPU_ACTORS = RayPlacement(actors=2, num_cpus=1.0, num_gpus=0.0)


@pytest.fixture(scope="module")
def cluster() -> ClusterInfo:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'reelscope[ray]'")
    info = ray_backend.connect(num_cpus=4, num_gpus=1, import_paths=[REPO_ROOT])
    yield info
    ray_backend.shutdown()


def run_all(pool: RayJobPool, items: list) -> dict:
    """Every (item, result) the pool yields, checking each item comes back exactly once."""
    pairs = list(pool.imap_unordered(items))
    assert Counter(str(item) for item, _ in pairs) == Counter(str(item) for item in items)
    return {str(item): result for item, result in pairs}


# -- the pool on a local cluster ---------------------------------------------------------------
def test_connect_reports_the_local_instance(cluster):
    assert cluster.nodes == 1 and cluster.cpus == 4 and cluster.gpus == 1
    assert ray_backend.connect() == cluster  # already connected: the same cluster, no second instance


def test_results_equal_an_in_process_run_and_every_item_comes_back_once(cluster):
    items = list(range(6))
    with RayJobPool(ray_work.setup, ("t",), ray_work.work, TWO_CPU_ACTORS) as pool:
        results = run_all(pool, items)
    in_process = ray_work.setup("t")
    assert results == {str(i): ray_work.work(in_process, i) for i in items}


def test_setup_runs_once_per_actor_and_both_actors_work(cluster):
    with RayJobPool(ray_work.setup, ("t",), ray_work.whoami, TWO_CPU_ACTORS) as pool:
        assert len(pool.wait_ready()) == 2
        results = run_all(pool, list(range(10)))
    pids = {r["pid"] for r in results.values()}
    assert len(pids) == 2 and os.getpid() not in pids
    assert all(r["setup_pid"] == r["pid"] and r["setup_number"] == 1 for r in results.values())


def test_a_reelscope_error_comes_back_as_itself_and_others_as_worker_crashed(cluster):
    items = [1, "raise:private video", 2, "value-error", 3]
    with RayJobPool(ray_work.setup, ("t",), ray_work.work, TWO_CPU_ACTORS) as pool:
        results = run_all(pool, items)
    private = results["raise:private video"]
    assert type(private) is VideoPrivate and private.message == "private video" and private.fix == "log in"
    crashed = results["value-error"]
    assert isinstance(crashed, WorkerCrashed) and "ValueError: boom" in crashed.message
    assert [results[str(i)]["square"] for i in (1, 2, 3)] == [1, 4, 9]


def test_a_crash_fails_only_its_item_which_never_runs_twice(cluster, tmp_path):
    notes = tmp_path / "exits.txt"
    items = [1, 2, f"exit:{notes}", 3, 4, 5, 6]
    with RayJobPool(ray_work.setup, ("t",), ray_work.work, TWO_CPU_ACTORS) as pool:
        pool.wait_ready()
        results = run_all(pool, items)
        assert len(pool.wait_ready()) == 2  # the dead actor was replaced
    crashed = results[f"exit:{notes}"]
    assert isinstance(crashed, WorkerCrashed) and "died" in crashed.message
    assert len(notes.read_text().splitlines()) == 1  # Ray's retries are off
    assert {i: results[str(i)]["square"] for i in (1, 2, 3, 4, 5, 6)} == {i: i * i for i in (1, 2, 3, 4, 5, 6)}


def test_a_deadline_kills_the_actor_and_the_pool_goes_on(cluster, tmp_path):
    pid_file = tmp_path / "sleeper.pid"
    sleeper = f"sleep:60:{pid_file}"
    with RayJobPool(ray_work.setup, ("t",), ray_work.work, TWO_CPU_ACTORS, task_timeout_s=2.0) as pool:
        pool.wait_ready()
        started = time.monotonic()
        results = run_all(pool, [sleeper, 1, 2, 3])
        assert time.monotonic() - started < 20
        assert isinstance(results[sleeper], TaskTimedOut) and "2 s deadline" in results[sleeper].message
        assert [results[str(i)]["square"] for i in (1, 2, 3)] == [1, 4, 9]
        assert _gone(int(pid_file.read_text()))
        again = run_all(pool, [4, 5])  # with a replacement actor
    assert again["4"]["square"] == 16 and again["5"]["square"] == 25


def test_a_deadline_counts_from_when_the_item_starts_not_when_it_was_queued(cluster, tmp_path):
    one_actor = RayPlacement(actors=1, num_cpus=1.0, num_gpus=0.0)
    items = [f"sleep:1.5:{tmp_path / 'a'}", f"sleep:1.5:{tmp_path / 'b'}"]  # 3 s in all, 1.5 s each
    with RayJobPool(ray_work.setup, ("t",), ray_work.work, one_actor, task_timeout_s=2.5) as pool:
        pool.wait_ready()
        results = run_all(pool, items)
    assert list(results.values()) == ["slept", "slept"]


def _gone(pid: int, within_s: float = 10.0) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_leaving_the_loop_early_leaves_the_pool_usable(cluster):
    with RayJobPool(ray_work.setup, ("t",), ray_work.work, TWO_CPU_ACTORS) as pool:
        for _ in pool.imap_unordered(list(range(8))):
            break
        assert set(run_all(pool, [7, 8])) == {"7", "8"}


def test_gpu_shares_reach_the_actors(cluster):
    share = placement(cluster, cpus_per_actor=1, max_actors=2)
    assert share == RayPlacement(actors=2, num_cpus=1.0, num_gpus=0.5)
    with RayJobPool(ray_work.setup, ("t",), ray_work.whoami, share) as pool:
        assert len(pool.wait_ready()) == 2
        results = run_all(pool, list(range(4)))
    assert len({r["pid"] for r in results.values()}) == 2  # two actors on the one (logical) GPU
    assert all(r["gpu_ids"] == ["0"] and r["cuda_visible_devices"] == "0" for r in results.values())


def test_a_failing_setup_surfaces_on_the_items(cluster):
    with RayJobPool(ray_work.broken_setup, ("speech",), ray_work.work, TWO_CPU_ACTORS) as pool:
        results = run_all(pool, [1, 2, 3])
    assert all(type(r) is ModelUnavailable and r.message == "no model for speech" for r in results.values())


def test_one_actor_failing_setup_leaves_the_work_to_the_others(cluster, tmp_path):
    with RayJobPool(ray_work.setup_failing_once, (str(tmp_path),), ray_work.work, TWO_CPU_ACTORS) as pool:
        results = run_all(pool, [1, 2, 3, 4])
        assert len(pool.node_of_actors()) == 1
    assert (tmp_path / "failed-once").exists()
    assert {k: r["square"] for k, r in results.items()} == {"1": 1, "2": 4, "3": 9, "4": 16}


def test_functions_a_worker_cannot_import_fail_the_items_with_a_fix(cluster, tmp_path, monkeypatch):
    module = tmp_path / "only_on_the_driver.py"
    module.write_text("def setup(tag):\n    return tag\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here, not on the actors
    from only_on_the_driver import setup as unshippable_setup

    with RayJobPool(unshippable_setup, ("t",), ray_work.work, TWO_CPU_ACTORS) as pool:
        results = run_all(pool, [1, 2])
    for error in results.values():
        assert type(error) is BackendUnavailable and "only_on_the_driver" in error.message
        assert "import_paths" in error.fix


def test_connecting_elsewhere_while_connected_is_refused(cluster):
    with pytest.raises(BackendUnavailable, match="already connected"):
        ray_backend.connect("10.0.0.1:6379")


def test_an_unreachable_address_fails_fast_with_a_fix(cluster, monkeypatch):
    import ray

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}") as caught:
        ray_backend.connect(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 5 and "ray start --head" in caught.value.fix


def test_ray_errors_translate_at_the_seam():
    ray = pytest.importorskip("ray")
    timed_out = ray_backend._translate(ray, ray.exceptions.GetTimeoutError("slow"), "item x")
    died = ray_backend._translate(ray, ray.exceptions.ActorDiedError(), "item y")
    assert isinstance(timed_out, TaskTimedOut) and "item x" in timed_out.message
    assert isinstance(died, WorkerCrashed) and "item y" in died.message and died.__cause__ is not None


# -- without Ray --------------------------------------------------------------------------------
def test_every_entry_point_says_how_to_install_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when it is not installed
    assert ray_backend.ray_installed() is False
    calls = [
        lambda: ray_backend.connect(),
        lambda: ray_backend.connect("ray://head:10001"),
        ray_backend.shutdown,
        lambda: RayJobPool(ray_work.setup, ("t",), ray_work.work, TWO_CPU_ACTORS),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailable, match="Ray is not installed") as caught:
            call()
        assert caught.value.fix == "pip install 'reelscope[ray]'"


# -- placement arithmetic -----------------------------------------------------------------------
def _cluster(cpus: float, gpus: float = 0.0) -> ClusterInfo:
    return ClusterInfo(address="test", nodes=1, cpus=cpus, gpus=gpus)


@pytest.mark.parametrize(
    ("cpus", "gpus", "cpus_per_actor", "gpus_per_actor", "max_actors", "expected"),
    [
        (8, 0, 2, None, None, (4, 2.0, 0.0)),  # CPUs only: no GPU share
        (7, 0, 2, None, None, (3, 2.0, 0.0)),  # floor
        (1, 0, 2, None, None, (1, 2.0, 0.0)),  # always at least one actor
        (16, 0, 1, None, 3, (3, 1.0, 0.0)),  # capped by max_actors
        (8, 2, 2, None, None, (4, 2.0, 0.5)),  # GPUs shared evenly
        (8, 8, 2, None, None, (4, 2.0, 1.0)),  # at most one GPU each
        (6, 1, 2, None, None, (3, 2.0, 0.3333)),  # rounded down, never over-subscribed
        (16, 2, 2, 1, None, (2, 2.0, 1.0)),  # an explicit GPU share caps the actors at the GPUs
        (8, 2, 2, 0, None, (4, 2.0, 0.0)),  # explicitly no GPU on a GPU cluster
        (0.5, 0, 1, None, None, (1, 1.0, 0.0)),
    ],
)
def test_placement(cpus, gpus, cpus_per_actor, gpus_per_actor, max_actors, expected):
    got = placement(_cluster(cpus, gpus), cpus_per_actor, gpus_per_actor, max_actors)
    assert (got.actors, got.num_cpus, got.num_gpus) == expected
    assert got.actors * got.num_gpus <= max(gpus, 0) + 1e-9


def test_placement_rejects_nonsense():
    with pytest.raises(ValueError):
        placement(_cluster(8), 0)
    with pytest.raises(ValueError):
        placement(_cluster(8, 1), 1, -1)
