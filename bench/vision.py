"""Vision benchmarks: realtime factor of every vision analyzer at its default sampling through warm
workers on a 30 s 1080x1920 clip with a face and text overlays (bench/clips.face_text_clip) and on
../shared/media/people/short_hamilton_clip.mp4; cost per sampled frame per analyzer; peak memory
with all vision models warm; OCR character error rate on the overlays; face detection rate on the
GRID clips.

    python bench/vision.py [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import jiwer
import psutil
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import speech_truth as st

from bench.clips import FACE_TEXT_CAPTIONS, face_text_clip
from bench.realtime import PeakMemory
from bench.speech import worker_memory
from reelscope.analyzers.registry import Registry
from reelscope.core.jobs import JobSpec
from reelscope.core.report import AnalysisReport
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.executors.process import ProcessExecutor
from reelscope.store.jobs import JobStore

VISION = ("face_analysis", "body_pose", "hand_gestures", "background_segmentation", "object_detection", "text_overlay")


def sampled_frames(report: AnalysisReport, name: str) -> int | None:
    part = report.analyzers[name]
    if part.status.value != "ok":
        return None
    return part.summary.get("frames_analyzed") or part.summary.get("frames_sampled")


def run_table(console: Console, engine: Engine, path: Path, names: tuple[str, ...]) -> AnalysisReport:
    spec = JobSpec(source=str(path), analyzers=names)
    engine.run(spec)  # cold: loads what the workers have not loaded yet
    warm = min((engine.run(spec, force=True) for _ in range(2)), key=lambda r: r.timings.total_s)
    duration = warm.media.duration_s
    t = warm.timings
    console.print(f"[bold]{path.name}[/bold]: {duration:.1f} s {warm.media.width}x{warm.media.height}; warm total "
                  f"{t.total_s:.2f} s = [bold]{t.total_s / duration:.3f}x[/bold] realtime (decode {t.decode_s:.2f} s, "
                  f"waves {', '.join(f'{w:.2f}' for w in t.waves_s)} s)")  # fmt: skip
    table = Table("analyzer", "status", "seconds", "RTF", "frames", "ms per sampled frame")
    for name in names:
        part = warm.analyzers[name]
        frames = sampled_frames(warm, name)
        per = f"{part.duration_s / frames * 1000:.1f}" if frames else "-"
        table.add_row(name, part.status.value, f"{part.duration_s:.2f}", f"{part.duration_s / duration:.3f}x",
                      str(frames or "-"), per)  # fmt: skip
    console.print(table)
    return warm


def ocr_table(console: Console, report: AnalysisReport) -> None:
    part = report.analyzers["text_overlay"]
    table = Table("truth", "shown s", "read", "read s", "CER", title="OCR on the overlays")
    captions = [s for s in part.segments if s.kind == "caption"]
    total_err, total_chars = 0.0, 0
    for start_s, end_s, text, _ in FACE_TEXT_CAPTIONS:
        overlapping = [c for c in captions if min(c.end_s, end_s) - max(c.start_s, start_s) > 0.5]
        best = min(overlapping, key=lambda c: jiwer.cer(text, c.attributes["text"]), default=None)
        read = best.attributes["text"] if best else ""
        cer = jiwer.cer(text, read) if read else 1.0
        total_err += cer * len(text)
        total_chars += len(text)
        table.add_row(text, f"{start_s:.0f}-{end_s:.0f}", read, f"{best.start_s:.1f}-{best.end_s:.1f}" if best else "-",
                      f"{cer:.1%}")  # fmt: skip
    table.add_row("all", "", f"{len(captions)} captions", "", f"{total_err / total_chars:.1%}")
    console.print(table)


def grid_faces(console: Console, engine: Engine) -> None:
    table = Table("GRID clip", "sampled frames", "frames with a face", "rate", "tracks", title="face detection on GRID")
    for name in st.ground_truth()["grid_corpus"]:
        if name.startswith("_"):
            continue
        report = engine.run(JobSpec(source=str(st.SHARED_MEDIA / "grid_corpus" / name), analyzers=("face_analysis",)))
        summary = report.analyzers["face_analysis"].summary
        frames = summary.get("frames_analyzed", 0)
        with_face = round(summary.get("face_on_screen_share", 0.0) * frames)  # share of sampled frames
        table.add_row(name, str(frames), str(with_face), f"{with_face / frames:.1%}" if frames else "-",
                      str(summary.get("track_count")))  # fmt: skip
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    console = Console(width=200)
    registry = Registry.default()
    names = tuple(n for n in VISION if n in registry.names() and registry.availability(n).available)
    data_dir = Path(tempfile.mkdtemp(prefix="reelscope-bench-vision-"))
    settings = Settings(data_dir=data_dir, workers=args.workers)
    store = JobStore(settings.db_path, settings.reports_dir)
    clip = face_text_clip()
    with PeakMemory() as memory:
        started = time.perf_counter()
        executor = ProcessExecutor(settings.workers, settings.max_tasks_per_worker, data_dir / "logs", registry)
        engine = Engine(settings, executor, store, registry)
        console.print(f"vision analyzers: {', '.join(names)}; {args.workers} workers on {psutil.cpu_count()} cores")
        report = run_table(console, engine, clip, names)
        console.print(f"(first job including worker start and model loads: {time.perf_counter() - started:.1f} s)")
        run_table(console, engine, st.SHARED_MEDIA / "people" / "short_hamilton_clip.mp4", names)
        per_worker = worker_memory()
        if "text_overlay" in names:
            ocr_table(console, report)
        if "face_analysis" in names:
            grid_faces(console, engine)
        executor.close()
    mem = Table("worker pid", "RSS MiB (all vision models warm)", "peak RSS MiB")
    for pid, rss, peak in per_worker:
        mem.add_row(str(pid), f"{rss:.0f}", f"{peak:.0f}")
    console.print(mem)
    console.print(f"peak memory of the whole tree: {memory.peak_bytes / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
