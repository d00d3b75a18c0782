"""Realtime factor of the full analysis next to the decode-only floor, per stage and per analyzer,
with peak memory of the whole process tree, and the time to answer a repeat from the store.

    python bench/realtime.py [VIDEO] [--workers N]

Without VIDEO it uses the generated 30 s 1080x1920 30 fps H.264 + AAC short (bench/clips.py).
realtime factor = wall time / video duration (lower is faster; 0.1x = ten times faster than real time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import psutil
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.clips import short_clip
from reelscope.analyzers.registry import Registry
from reelscope.core.jobs import JobSpec
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.executors.process import ProcessExecutor
from reelscope.store.jobs import JobStore


class PeakMemory:
    """Samples the RSS of this process plus all its children every 20 ms."""

    def __init__(self) -> None:
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            time.sleep(0.02)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def decode_floor_s(path: Path) -> float:
    """Wall time to decode every video and audio frame with PyAV (frame threading), converting
    nothing: the least any analysis of every frame can cost."""
    started = time.perf_counter()
    with av.open(str(path)) as container:
        streams = list(container.streams.video[:1]) + list(container.streams.audio[:1])
        for stream in streams:
            stream.thread_type = "AUTO"
        for _ in container.decode(*streams):
            pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    path = args.video or short_clip()
    console = Console()
    data_dir = Path(tempfile.mkdtemp(prefix="reelscope-bench-"))
    settings = Settings(data_dir=data_dir, **({"workers": args.workers} if args.workers else {}))
    store = JobStore(settings.db_path, settings.reports_dir)
    registry = Registry.default()
    names = [n for n in registry.names() if registry.availability(n).available]

    floors = [decode_floor_s(path) for _ in range(3)]
    floor = min(floors)

    with PeakMemory() as memory:
        cold_started = time.perf_counter()
        executor = ProcessExecutor(settings.workers, settings.max_tasks_per_worker, data_dir / "logs", registry)
        engine = Engine(settings, executor, store, registry)
        cold = engine.run(JobSpec(source=str(path), analyzers=tuple(names)))
        cold_wall = time.perf_counter() - cold_started
        warm_runs = [engine.run(JobSpec(source=str(path), analyzers=tuple(names)), force=True) for _ in range(2)]
        warm = min(warm_runs, key=lambda r: r.timings.total_s)
        cached_started = time.perf_counter()
        again = engine.run(JobSpec(source=str(path), analyzers=tuple(names)))
        cached_s = time.perf_counter() - cached_started
        executor.close()
    duration = warm.media.duration_s

    media = warm.media
    console.print(
        f"[bold]{path.name}[/bold]: {duration:.1f} s, {media.width}x{media.height}, {media.avg_fps} fps,"
        f" {media.video_codec}/{media.audio_codec}, {media.file_size_bytes * 8 / duration / 1e6:.1f} Mbps;"
        f" {settings.workers} workers on {psutil.cpu_count()} cores"
    )
    table = Table("measure", "wall s", "realtime factor", "x decode floor")
    rows = [
        ("decode floor (PyAV, all frames, no conversion)", floor),
        ("reelscope decode pass (all planned streams + audio)", warm.timings.decode_s),
        ("full analysis, warm workers", warm.timings.total_s),
        ("full analysis, cold (workers started in this run)", cold_wall),
    ]
    for label, seconds in rows:
        table.add_row(label, f"{seconds:.2f}", f"{seconds / duration:.3f}x", f"{seconds / floor:.2f}")
    table.add_row("repeat answered from the store", f"{cached_s:.3f}", "", "")
    console.print(table)

    stages = Table("stage (warm run)", "wall s")
    t = warm.timings
    stages.add_row("probe (incl. sha256)", f"{t.probe_s:.3f}")
    stages.add_row("decode", f"{t.decode_s:.3f}")
    for i, wave_s in enumerate(t.waves_s):
        stages.add_row(f"analyzer wave {i + 1}", f"{wave_s:.3f}")
    stages.add_row("total", f"{t.total_s:.3f}")
    console.print(stages)

    per = Table("analyzer (warm run)", "status", "seconds", "realtime factor")
    for name, result in warm.analyzers.items():
        per.add_row(name, result.status.value, f"{result.duration_s:.3f}", f"{result.duration_s / duration:.4f}x")
    console.print(per)
    console.print(f"peak memory (parent + workers, RSS): {memory.peak_bytes / 2**20:.0f} MiB")
    assert again.job_id == cold.job_id


if __name__ == "__main__":
    main()
