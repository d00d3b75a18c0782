"""What the Ray backend costs and whether it spreads: a local instance, then a two-node cluster
(a head and a worker node, both started with ``ray start`` on this machine).

    python bench/ray_cluster.py [--items N] [--cpus-per-node C]

Local part: time of ``connect()`` (ray.init of a new instance), of the first job actor up (its
process start and setup), and the per-item overhead of RayJobPool with a ``work`` that does
nothing (wall time / items, one and two actors).
Cluster part: time until each ``ray start`` node is up and seen by the cluster, time to join it,
then one 1-CPU actor per cluster CPU (placed with Ray's SPREAD strategy) runs items that sleep a
little and report their node; the table shows the actors and items per node. The nodes run under
``ray start --block`` in child processes of this script and are stopped by signalling those
processes (never ``ray stop``, which would stop every Ray instance on the machine).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from reelscope.engine.executors import ray as ray_backend  # noqa: E402
from reelscope.engine.executors.ray import RayJobPool, RayPlacement  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))
NODE_START_TIMEOUT_S = 120.0


def setup_node(tag: str) -> dict:
    return {"tag": tag, "pid": os.getpid()}


def nothing(context: dict, item: int) -> int:
    return item


def where(context: dict, item: float) -> tuple[str, int]:
    import ray

    time.sleep(item)  # long enough that both actors get items
    return ray.get_runtime_context().get_node_id(), os.getpid()


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started


def local_part(items: int) -> list[tuple[str, str]]:
    rows = []
    info, init_s = timed(ray_backend.connect, num_cpus=2, import_paths=[REPO_ROOT])
    rows.append(("local connect() (ray.init, new instance)", f"{init_s:.2f} s"))
    for actors in (1, 2):
        with RayJobPool(setup_node, ("bench",), nothing, RayPlacement(actors, 1.0, 0.0)) as pool:
            nodes, ready_s = timed(pool.wait_ready)
            assert len(nodes) == actors, nodes
            rows.append((f"{actors} actor(s) up (process + setup)", f"{ready_s:.2f} s"))
            list(pool.imap_unordered(range(20)))  # warm the path
            done, run_s = timed(lambda p=pool: list(p.imap_unordered(range(items))))
            assert sorted(r for _, r in done) == list(range(items))
            rows.append((f"empty work() per item, {actors} actor(s), {items} items", f"{run_s / items * 1e3:.2f} ms"))
    ray_backend.shutdown()
    return rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def start_node(args: list[str], log_path: Path) -> subprocess.Popen:
    log = log_path.open("w")
    command = [RAY, "start", "--block", "--disable-usage-stats", *args]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_node(process: subprocess.Popen) -> None:
    """SIGTERM to our `ray start --block`: it stops the processes of its node, and only those."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session, started above
            process.wait()


def wait_for(check, what: str, timeout_s: float = NODE_START_TIMEOUT_S) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"{what} not up within {timeout_s:.0f} s")
        time.sleep(0.1)
    return time.perf_counter() - started


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def alive_nodes() -> int:
    import ray

    return sum(1 for node in ray.nodes() if node.get("Alive"))


def cluster_part(items: int, cpus_per_node: int, workdir: Path) -> tuple[list[tuple[str, str]], Table]:
    import ray

    rows = []
    ip = ray.util.get_node_ip_address()
    port = free_port()
    address = f"{ip}:{port}"
    head = start_node(
        [
            "--head",
            f"--port={port}",
            f"--num-cpus={cpus_per_node}",
            "--include-dashboard=false",
            f"--temp-dir={workdir}",
        ],
        workdir / "head.log",
    )
    worker = None
    try:
        rows.append(
            ("`ray start --head` until its GCS port answers", f"{wait_for(lambda: port_open(ip, port), 'head'):.2f} s")
        )
        info, join_s = timed(ray_backend.connect, address, import_paths=[REPO_ROOT])
        rows.append(("connect(address) to the running head", f"{join_s:.2f} s"))
        worker_args = [f"--address={address}", f"--num-cpus={cpus_per_node}", f"--temp-dir={workdir}"]
        worker = start_node(worker_args, workdir / "worker.log")
        worker_s = wait_for(lambda: alive_nodes() >= 2, "worker node")
        rows.append(("`ray start --address` until the cluster sees 2 nodes", f"{worker_s:.2f} s"))
        info = ray_backend.connect(address)  # the same cluster, fresh counts
        rows.append(("cluster", f"{info.nodes} nodes, {info.cpus:g} CPUs, {info.gpus:g} GPUs"))
        plan = ray_backend.placement(info, cpus_per_actor=1)
        with RayJobPool(setup_node, ("bench",), where, plan) as pool:
            nodes, ready_s = timed(pool.wait_ready)
            rows.append((f"{plan.actors} actors up on the cluster", f"{ready_s:.2f} s on {len(set(nodes))} node(s)"))
            results, run_s = timed(lambda: list(pool.imap_unordered([0.2] * items)))
        per_node = Counter(node for _, (node, _pid) in results)
        pids = {node: {pid for _, (n, pid) in results if n == node} for node in per_node}
        rows.append((f"{items} items of 0.2 s on {plan.actors} actors", f"{run_s:.2f} s wall"))
        table = Table(title="items per node")
        for column in ("node id", "items", "actor pids"):
            table.add_column(column)
        for node, count in per_node.most_common():
            table.add_row(node[:16], str(count), ", ".join(map(str, sorted(pids[node]))))
        return rows, table
    finally:
        ray_backend.shutdown()
        for process in (worker, head):
            if process is not None:
                stop_node(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--cpus-per-node", type=int, default=2)
    args = parser.parse_args()
    console = Console()
    rows = local_part(args.items)
    with tempfile.TemporaryDirectory(prefix="rs-ray-", dir="/tmp") as workdir:
        cluster_rows, per_node = cluster_part(max(8, args.items // 20), args.cpus_per_node, Path(workdir))
    table = Table(title="Ray backend on this machine")
    table.add_column("what")
    table.add_column("measured", justify="right")
    for what, value in rows + cluster_rows:
        table.add_row(what, value)
    console.print(table)
    console.print(per_node)


if __name__ == "__main__":
    main()
