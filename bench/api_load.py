"""The API under load, against a real `reelscope serve` on 127.0.0.1.

    python bench/api_load.py [--jobs 50] [--workers N] [--max-queued 20] [--clip-s 3]

1. Starts the server and measures the time until /health/ready says ready (every CPU analyzer
   preloaded in every warm worker) and the memory of the server with its workers.
2. Submits ``--jobs`` distinct short clips at once (one thread each). A full queue answers 429;
   the client waits Retry-After and submits again, as a client should.
3. While they run, pollers GET /v1/jobs/{id} in a loop: p50/p99 latency under that load.
4. Checks that every job finished, none was lost and none duplicated, and prints throughput.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reelscope.media.synth import write_selftest_clip  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "api_clips"


def distinct_clips(n: int, base_s: float) -> list[Path]:
    """``n`` short 360x640 clips that differ in length (so in content and job id)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = CACHE / f"clip_{base_s:.1f}s_{i:03d}.mp4"
        if not path.exists():
            write_selftest_clip(path, duration_s=base_s + i * 0.04, width=360, height=640)
        paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, USS) of a process and its children, MiB. USS counts memory no other process shares."""
    rss = uss = 0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            info = proc.memory_full_info()
            rss, uss = rss + info.rss, uss + info.uss
        except psutil.Error:
            pass
    return rss / 2**20, uss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--max-concurrent-jobs", type=int, default=2)
    parser.add_argument("--max-queued", type=int, default=20, help="small, so the 429 path is exercised")
    parser.add_argument("--clip-s", type=float, default=3.0)
    parser.add_argument("--pollers", type=int, default=4)
    args = parser.parse_args()
    console = Console()
    clips = distinct_clips(args.jobs, args.clip_s)
    data_dir = Path(tempfile.mkdtemp(prefix="reelscope-api-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REELSCOPE_MAX_QUEUED_JOBS": str(args.max_queued)}
    command = [
        sys.executable, "-m", "reelscope.cli.main", "serve", "--port", str(port), "--media-root", str(CACHE),
        "--data-dir", str(data_dir), "--workers", str(args.workers), "--max-concurrent-jobs", str(args.max_concurrent_jobs),
        "--log-level", "warning",
    ]
    started = time.monotonic()
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() - started > 300:
                raise SystemExit("the server did not become ready")
            time.sleep(0.05)
        ready_s = time.monotonic() - started
        idle_rss, idle_uss = tree_memory_mib(server.pid)
        run_load(console, url, clips, args, ready_s, idle_rss, idle_uss, server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def run_load(console, url, clips, args, ready_s, idle_rss, idle_uss, pid) -> None:
    client = httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=200))
    refusals = []
    ids: list[str] = []
    lock = threading.Lock()

    def submit(clip: Path) -> str:
        while True:
            answer = client.post("/v1/jobs", json={"path": clip.name})
            if answer.status_code == 429:
                with lock:
                    refusals.append(clip.name)
                time.sleep(float(answer.headers.get("retry-after", "1")))
                continue
            answer.raise_for_status()
            job_id = answer.json()["job_id"]
            with lock:
                ids.append(job_id)
            return job_id

    latencies_ms: list[float] = []
    peak = {"rss": 0.0, "uss": 0.0}
    done = threading.Event()

    def poll() -> None:
        local = httpx.Client(base_url=url, timeout=10)
        while not done.is_set():
            with lock:
                job_id = random.choice(ids) if ids else None
            if job_id is None:
                time.sleep(0.01)
                continue
            t0 = time.perf_counter()
            local.get(f"/v1/jobs/{job_id}").raise_for_status()
            with lock:
                latencies_ms.append((time.perf_counter() - t0) * 1000)

    def watch_memory() -> None:
        while not done.is_set():
            rss, uss = tree_memory_mib(pid)
            peak["rss"], peak["uss"] = max(peak["rss"], rss), max(peak["uss"], uss)
            time.sleep(0.2)

    helpers = [threading.Thread(target=poll, daemon=True) for _ in range(args.pollers)]
    helpers.append(threading.Thread(target=watch_memory, daemon=True))
    for thread in helpers:
        thread.start()
    load_started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(clips)) as pool:
        submitted = list(pool.map(submit, clips))
    accepted_s = time.monotonic() - load_started
    statuses: dict[str, str] = {}
    while len(statuses) < len(submitted):
        for job_id in submitted:
            if job_id not in statuses:
                status = client.get(f"/v1/jobs/{job_id}").json()["status"]
                if status not in ("queued", "running"):
                    statuses[job_id] = status
        time.sleep(0.2)
    total_s = time.monotonic() - load_started
    done.set()
    for thread in helpers:
        thread.join()
    listed = client.get("/v1/jobs", params={"limit": 500}).json()
    rtf = [client.get(f"/v1/jobs/{j}").json()["timings"]["realtime_factor"] for j in submitted]
    video_s = sum(client.get(f"/v1/jobs/{j}").json()["timings"]["total_s"] / r for j, r in zip(submitted, rtf, strict=True))

    console.print(
        f"[bold]API load[/bold]: {len(clips)} distinct {args.clip_s:.0f}–{args.clip_s + (len(clips) - 1) * 0.04:.1f} s"
        f" 360x640 clips, {args.workers} workers, {args.max_concurrent_jobs} jobs at once, queue limit {args.max_queued},"
        f" {psutil.cpu_count()} cores"
    )
    table = Table("measure", "value")
    table.add_row("server start → ready (all CPU analyzers warm)", f"{ready_s:.2f} s")
    table.add_row("memory, idle (server + workers)", f"RSS {idle_rss:.0f} MiB, USS {idle_uss:.0f} MiB")
    table.add_row("memory, peak under load", f"RSS {peak['rss']:.0f} MiB, USS {peak['uss']:.0f} MiB")
    table.add_row("submissions", f"{len(clips)}; 429 answers {len(refusals)}, all accepted after Retry-After")
    table.add_row("all accepted after", f"{accepted_s:.2f} s")
    table.add_row("finished", ", ".join(f"{s}: {list(statuses.values()).count(s)}" for s in sorted(set(statuses.values()))))
    table.add_row("lost / duplicated", f"{len(clips) - len(set(submitted))} / {listed['total'] - len(set(submitted))}")
    table.add_row("wall time, first submit → last finish", f"{total_s:.1f} s")
    table.add_row("throughput", f"{len(clips) / total_s * 60:.1f} videos/min ({video_s / total_s:.1f} s of video per s)")
    table.add_row("per-job realtime factor, median", f"{statistics.median(rtf):.3f}x")
    quantiles = statistics.quantiles(latencies_ms, n=100)
    table.add_row(
        f"GET /v1/jobs/{{id}} latency under load ({len(latencies_ms)} requests, {args.pollers} pollers)",
        f"p50 {quantiles[49]:.1f} ms, p99 {quantiles[98]:.1f} ms, max {max(latencies_ms):.1f} ms",
    )
    console.print(table)
    if len(set(submitted)) != len(clips) or listed["total"] != len(clips) or set(statuses.values()) != {"succeeded"}:
        raise SystemExit("lost, duplicated or failed jobs: see the table")


if __name__ == "__main__":
    main()
