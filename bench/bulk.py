"""Bulk throughput: the ../shared/media clips through `BulkRun` with the process backend (local
files, and the same files as URLs from a local HTTP server, so yt-dlp downloads them) and with the
Ray backend on a local Ray instance. Each configuration starts from an empty data dir (cold: worker
start and model loads are included, as in a real bulk run) and then runs again warm-from-store to
show that a resume costs nothing. Prints videos per hour, realtime factor, Ray's overhead per video,
and peak memory of the whole process tree.

    python bench/bulk.py [--workers 2] [--analyzers cut_analysis,audio_analysis] [--skip-ray]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.realtime import PeakMemory
from reelscope.core.settings import Settings
from reelscope.ingest.bulk import BulkOutcome, BulkRequest, BulkRun
from reelscope.ingest.inputs import MEDIA_SUFFIXES, read_items
from reelscope.store.jobs import JobStore

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
console = Console(width=170)


def clips() -> list[Path]:
    return sorted(p for p in MEDIA.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # yt-dlp's generic extractor reads the head of a file, then hangs up: not an error


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def run(label: str, settings: Settings, lines: list[str], request: BulkRequest, backend: str, work: Path) -> dict:
    listing = work / f"{label.replace(' ', '_')}.txt"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = read_items(listing)
    store = JobStore(settings.db_path, settings.reports_dir)
    try:
        with PeakMemory() as memory:
            started = time.perf_counter()
            outcome: BulkOutcome = BulkRun(settings, request, store, backend=backend).run(items, str(listing), work / label)  # type: ignore[arg-type]
            wall_s = time.perf_counter() - started
        resumed_started = time.perf_counter()
        again = BulkRun(settings, request, store, backend=backend).run(items, str(listing), work / label)  # type: ignore[arg-type]
        resume_s = time.perf_counter() - resumed_started
    finally:
        store.close()
    rows = outcome.rows
    ok = [r for r in rows if r["status"] != "failed"]
    video_s = sum(r["duration_s"] or 0 for r in ok)
    return {
        "label": label,
        "videos": len(rows),
        "ok": len(ok),
        "failed": [f"{Path(r['input']).name}: {r['error_code']}" for r in rows if r["status"] == "failed"],
        "video_s": video_s,
        "wall_s": wall_s,
        "videos_per_hour": len(rows) / wall_s * 3600,
        "video_s_per_wall_s": video_s / wall_s,
        "median_job_rtf": statistics.median(r["realtime_factor"] for r in ok) if ok else float("nan"),
        "peak_gib": memory.peak_bytes / 1024**3,
        "analyzers_ok_mean": statistics.mean(len(r["analyzers_ok"]) for r in ok) if ok else 0.0,
        "not_ok": sorted({name for r in ok for name in r["analyzers_not_ok"]}),
        "resume_s": resume_s,
        "resume_skipped": again.skipped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--analyzers", default="", help="comma list; default: every analyzer")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    files = clips()
    if not files:
        raise SystemExit(f"no media under {MEDIA}")
    request = BulkRequest(tuple(a for a in args.analyzers.split(",") if a))
    results = []
    connect_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def settings_for(name: str, **extra) -> Settings:
            return Settings(data_dir=work / name, workers=args.workers, allow_private_urls=True,
                            download_rate_per_minute=6000, **extra)

        results.append(run("process files", settings_for("p"), [str(p) for p in files], request, "process", work))
        server, base = serve(MEDIA)
        try:
            urls = [f"{base}/{p.relative_to(MEDIA).as_posix()}" for p in files]
            results.append(run("process urls", settings_for("u"), urls, request, "process", work))
        finally:
            server.shutdown()
        if not args.skip_ray:
            from reelscope.engine.executors import ray as ray_backend

            started = time.perf_counter()
            cluster = ray_backend.connect(None)
            connect_s = time.perf_counter() - started
            console.print(f"local Ray: {cluster.cpus:g} CPUs, {cluster.nodes} node(s), started in {connect_s:.1f} s")
            # the process backend's shape (one engine, `workers` worker processes), then one engine per CPU
            same_shape = settings_for("r1", ray_cpus_per_actor=args.workers)
            results.append(run("ray files, 1 actor", same_shape, [str(p) for p in files], request, "ray", work))
            per_cpu = settings_for("r2", ray_cpus_per_actor=1)
            results.append(run(f"ray files, {args.workers} actors", per_cpu, [str(p) for p in files], request, "ray", work))
            ray_backend.shutdown()
    table = Table("configuration", "videos (ok)", "analyzers ok per video", "video s", "wall s", "videos/hour",
                  "video s per wall s", "median job RTF", "peak GiB", "resume s (skipped)", title=f"bulk, {args.workers} workers")
    for r in results:
        table.add_row(r["label"], f"{r['videos']} ({r['ok']})", f"{r['analyzers_ok_mean']:.1f}", f"{r['video_s']:.0f}",
                      f"{r['wall_s']:.1f}", f"{r['videos_per_hour']:.0f}", f"{r['video_s_per_wall_s']:.2f}",
                      f"{r['median_job_rtf']:.3f}", f"{r['peak_gib']:.2f}", f"{r['resume_s']:.2f} ({r['resume_skipped']})")
    console.print(table)
    by = {r["label"]: r for r in results}
    n = by["process files"]["videos"]
    for label in [k for k in by if k.startswith("ray")]:
        console.print(f"{label}: wall time vs process backend {(by[label]['wall_s'] - by['process files']['wall_s']) / n:+.2f} s per video"
                      f" (plus {connect_s:.1f} s to start Ray)")
    if "process urls" in by:
        n = by["process files"]["videos"]
        console.print(f"download overhead per video (local server): {(by['process urls']['wall_s'] - by['process files']['wall_s']) / n:+.2f} s")
    for r in results:
        if r["failed"]:
            console.print(f"{r['label']} failures: {', '.join(r['failed'])}")
        if r["not_ok"]:
            console.print(f"{r['label']}: analyzers not ok on some video: {', '.join(r['not_ok'])}")


if __name__ == "__main__":
    main()
