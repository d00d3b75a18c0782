"""Speech and sound benchmarks: word error rate per Whisper tier on the real clips with reference
transcripts, realtime factor of speech_transcription per core on 60 s of real speech, realtime
factor of the whole audio side (audio_analysis + speech_transcription + speech_emotion) on a 30 s
clip through warm worker processes, and memory with both Whisper tiers loaded.

    python bench/speech.py [--workers 2] [--skip-wer]

realtime factor = seconds / audio duration (0.1x = ten times faster than real time). "CPU s" is the
process CPU time of the analyzer call on one thread (Whisper runs with cpu_threads=1).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import speech_truth as st

from bench.clips import speech_clip
from bench.realtime import PeakMemory
from reelscope.analyzers.audio.speech_transcription import SpeechTranscription
from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.registry import Registry
from reelscope.core.jobs import JobSpec
from reelscope.core.media_info import MediaInfo
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.executors.process import ProcessExecutor
from reelscope.media.bundle import AudioClip
from reelscope.store.jobs import JobStore

TIERS = ("tiny.en", "base")
AUDIO_SIDE = ("audio_analysis", "speech_transcription", "speech_emotion")


def transcribe(analyzer: SpeechTranscription, path: Path, model: str):
    samples = st.decode(path)
    info = MediaInfo(
        path=str(path), file_size_bytes=0, sha256="0" * 64, container="x", duration_s=samples.size / st.RATE_HZ,
        has_video=False, has_audio=True,
    )  # fmt: skip
    params = SpeechTranscription.validate_params({"model": model})
    cpu, wall = time.process_time(), time.perf_counter()
    out = analyzer.analyze(MediaView(info, None, AudioClip(samples, st.RATE_HZ)), AnalysisContext(params=params))
    return out, time.process_time() - cpu, time.perf_counter() - wall, samples.size / st.RATE_HZ


def wer_table(console: Console, analyzer: SpeechTranscription) -> None:
    table = Table("clip", "reference", *(f"{t} WER" for t in TIERS), *(f"{t} hypothesis" for t in TIERS),
                  title="word error rate (lower case, no punctuation, digits spelt out)")  # fmt: skip
    totals = {t: [] for t in TIERS}
    for rel, truth in st.transcripts().items():
        rates, texts = [], []
        for tier in TIERS:
            out, *_ = transcribe(analyzer, st.SHARED_MEDIA / rel, tier)
            rate = st.wer(truth, out.summary["text"])
            totals[tier].append(rate)
            rates.append(f"{rate:.1%}")
            texts.append(out.summary["text"])
        table.add_row(rel, truth, *rates, *texts)
    table.add_row("mean", "", *(f"{sum(v) / len(v):.1%}" for v in totals.values()), "", "")
    console.print(table)


def rtf_table(console: Console, analyzer: SpeechTranscription) -> None:
    path = speech_clip(60.0)
    table = Table("tier", "audio s", "words", "CPU s", "wall s", "RTF per core (CPU)", "RTF (wall)",
                  title=f"speech_transcription on {path.name} (real speech, best of 2)")  # fmt: skip
    for tier in TIERS:
        runs = [transcribe(analyzer, path, tier) for _ in range(2)]
        out, cpu, wall, duration = min(runs, key=lambda r: r[1])
        table.add_row(tier, f"{duration:.1f}", str(out.summary["word_count"]), f"{cpu:.2f}", f"{wall:.2f}",
                      f"{cpu / duration:.3f}x", f"{wall / duration:.3f}x")  # fmt: skip
    console.print(table)


def worker_memory() -> list[tuple[int, float, float]]:
    """(pid, RSS MiB, peak RSS MiB) of every worker process of this one."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
            peak_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
            out.append((child.pid, child.memory_info().rss / 2**20, peak_kib / 1024))
        except (psutil.Error, OSError, StopIteration):
            pass
    return out


def audio_side(console: Console, workers: int) -> None:
    path = speech_clip(30.0, music_bed_db=12.0)
    data_dir = Path(tempfile.mkdtemp(prefix="reelscope-bench-speech-"))
    settings = Settings(data_dir=data_dir, workers=workers)
    registry = Registry.default()
    store = JobStore(settings.db_path, settings.reports_dir)
    with PeakMemory() as memory:
        started = time.perf_counter()
        executor = ProcessExecutor(settings.workers, settings.max_tasks_per_worker, data_dir / "logs", registry)
        engine = Engine(settings, executor, store, registry)
        spec = JobSpec(source=str(path), analyzers=AUDIO_SIDE)
        engine.run(spec)
        cold_s = time.perf_counter() - started
        warm = min((engine.run(spec, force=True) for _ in range(3)), key=lambda r: r.timings.total_s)
        # both tiers in every worker: two tiny.en jobs at once land on two different idle workers
        other = speech_clip(60.0)
        jobs = [
            JobSpec(source=str(p), analyzers=("speech_transcription",), params={"speech_transcription": {"model": "tiny.en"}})
            for p in (path, other)
        ]
        threads = [threading.Thread(target=engine.run, args=(j,), kwargs={"force": True}) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        per_worker = worker_memory()
        executor.close()
    duration = warm.media.duration_s
    console.print(f"[bold]{path.name}[/bold]: {duration:.1f} s real speech over a music bed; {workers} workers, "
                  f"{psutil.cpu_count()} cores")  # fmt: skip
    table = Table("run", "wall s", "realtime factor")
    table.add_row("audio side, warm workers (best of 3)", f"{warm.timings.total_s:.2f}", f"{warm.timings.total_s / duration:.3f}x")
    table.add_row("audio side, cold (workers started and models loaded in this run)", f"{cold_s:.2f}", f"{cold_s / duration:.3f}x")
    console.print(table)
    stages = Table("stage (warm)", "wall s")
    t = warm.timings
    for label, seconds in (("probe", t.probe_s), ("decode", t.decode_s), *((f"wave {i + 1}", w) for i, w in enumerate(t.waves_s))):
        stages.add_row(label, f"{seconds:.3f}")
    console.print(stages)
    per = Table("analyzer (warm)", "status", "seconds", "realtime factor")
    for name, result in warm.analyzers.items():
        per.add_row(name, result.status.value, f"{result.duration_s:.3f}", f"{result.duration_s / duration:.4f}x")
    console.print(per)
    mem = Table("worker pid", "RSS MiB (both tiers loaded)", "peak RSS MiB", title="memory of the warm workers")
    for pid, rss, peak in per_worker:
        mem.add_row(str(pid), f"{rss:.0f}", f"{peak:.0f}")
    console.print(mem)
    console.print(f"peak memory of the whole tree (parent + workers): {memory.peak_bytes / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-wer", action="store_true")
    args = parser.parse_args()
    console = Console(width=200)
    analyzer = SpeechTranscription()
    if not args.skip_wer:
        wer_table(console, analyzer)
    rtf_table(console, analyzer)
    del analyzer
    audio_side(console, args.workers)


if __name__ == "__main__":
    main()
