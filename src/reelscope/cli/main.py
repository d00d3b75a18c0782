"""The `reelscope` command: analyze, download, bulk, analyzers, models, doctor, serve, status.

Settings are built once here (flags over ``REELSCOPE_*`` environment over defaults) and passed
down. Every ReelscopeError ends the command with its own exit code and a one-line fix.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from reelscope import __version__
from reelscope.analyzers.registry import Registry
from reelscope.cli import ingest, models, server
from reelscope.cli.params import build_settings, exit_for, parse_set_flags
from reelscope.core.errors import InvalidParams, NotInReport, ReelscopeError, StoreError
from reelscope.core.jobs import JobSpec
from reelscope.core.report import AnalysisReport
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.events import Event
from reelscope.engine.executors.factory import executor_for
from reelscope.ingest.download import downloader_for, is_url
from reelscope.report.subtitles import EXPORT_FORMATS, build_cues, transcript_output
from reelscope.store.jobs import JobStore, atomic_write_text

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Second-by-second analysis of short-form video.")
console = Console(stderr=True, soft_wrap=True)  # paths stay whole for copy and grep
out = Console()

_STATUS_STYLE = {"ok": "green", "skipped": "yellow", "unavailable": "yellow", "failed": "red", "timed_out": "red", "crashed": "red"}



@app.command()
def analyze(
    source: Annotated[str, typer.Argument(metavar="PATH|URL", help="video or audio file, or a video page URL to download first")],
    analyzer: Annotated[list[str], typer.Option("-a", "--analyzer", help="run only these (repeatable); default: all")] = [],  # noqa: B006
    set_: Annotated[list[str], typer.Option("--set", help="ANALYZER.PARAM=VALUE (repeatable)")] = [],  # noqa: B006
    output_dir: Annotated[Path | None, typer.Option("-o", "--output-dir", help="also write the report JSON here")] = None,
    executor: Annotated[str | None, typer.Option(help="process (default) or inline")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes (default: CPU count)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="store and work folder (default ~/.local/share/reelscope)")] = None,
    force: Annotated[bool, typer.Option("--force", help="recompute even if the store has this report")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report JSON to stdout instead of a table")] = False,
    export: Annotated[
        list[str],
        typer.Option(
            "--export",
            metavar="FORMATS",
            help="also write the transcript as subtitles, vtt and/or srt (comma list, repeatable), into -o or the current folder",
        ),
    ] = [],  # noqa: B006
) -> None:
    """Analyse one video (a local file, or a URL downloaded first) and write its report."""
    try:
        formats = _export_formats(export)  # a typo fails now, not after minutes of analysis
        settings = build_settings(executor=executor, workers=workers, data_dir=data_dir)
        spec = JobSpec(source=source, analyzers=tuple(analyzer), params=parse_set_flags(set_))
        if is_url(source):
            spec = _downloaded(spec, settings)
        path = Path(spec.source)
        store = JobStore(settings.db_path, settings.reports_dir)
        ex = executor_for(settings)
        try:
            report = _run_with_progress(Engine(settings, ex, store), spec, force, quiet=as_json)
        finally:
            ex.close()
            store.close()
    except ReelscopeError as exc:
        raise exit_for(exc) from exc
    if output_dir is not None:
        target = output_dir / f"{path.stem}.reelscope.json"
        atomic_write_text(target, report.model_dump_json(indent=1))
        console.print(f"report: {target}")
    notes = _write_subtitles(report, formats, output_dir or Path.cwd(), path.stem)
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        _print_summary(report)
    for note in notes:  # stdout holds only the JSON with --json
        (console if as_json else out).print(note)
    console.print(f"stored report: {settings.reports_dir / (report.job_id + '.json')}")


def _downloaded(spec: JobSpec, settings: Settings) -> JobSpec:
    """Download ``spec.source`` (a URL) and return the spec for the local file, with the URL and
    the platform's metadata for the report's source section."""
    console.print(f"downloading {escape(spec.source)} ...")
    downloaded = downloader_for(settings).download(spec.source)
    note = " (already downloaded)" if downloaded.cached else ""
    console.print(f"downloaded: {escape(str(downloaded.path))}{note}")
    return spec.model_copy(update={"source": str(downloaded.path), "url": spec.source, "platform": downloaded.platform})


def _export_formats(values: list[str]) -> list[str]:
    """``["vtt,srt", "vtt"]`` -> ``["vtt", "srt"]``; InvalidParams (exit 2) for an unknown one."""
    formats = [f.strip().lower() for value in values for f in value.split(",") if f.strip()]
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        known = ", ".join(EXPORT_FORMATS)
        raise InvalidParams(f"unknown export format {', '.join(map(repr, unknown))}", fix=f"--export takes: {known}")
    return list(dict.fromkeys(formats))


def _write_subtitles(report: AnalysisReport, formats: list[str], folder: Path, stem: str) -> list[str]:
    """Write ``<folder>/<stem>.<format>`` for each format; the lines saying what was written, or
    why nothing was (the analysis itself succeeded, so a missing transcript is a note, not an error)."""
    if not formats:
        return []
    try:
        cues = build_cues(transcript_output(report))
    except NotInReport as exc:
        fix = f" (fix: {exc.fix})" if exc.fix else ""
        return [f"[yellow]no {', '.join(formats)} written: {escape(exc.message + fix)}[/yellow]"]
    notes = []
    for fmt in formats:
        target = folder / f"{stem}.{fmt}"
        try:
            atomic_write_text(target, EXPORT_FORMATS[fmt](cues))
        except OSError as exc:
            error = StoreError(f"cannot write {target}: {exc.strerror or exc}", fix="choose a writable folder with -o")
            raise exit_for(error) from exc
        detail = f"{len(cues)} cues" if cues else "no speech: the transcript has no words, the file has no cues"
        notes.append(f"{fmt}: {escape(str(target))} ({detail})")
    return notes


def _run_with_progress(engine: Engine, spec: JobSpec, force: bool, quiet: bool) -> AnalysisReport:
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=quiet or not console.is_terminal, transient=True) as progress:
        decode_bar = progress.add_task("decode", total=1.0)
        analyze_bar = progress.add_task("analyze", total=None, visible=False)

        def on_event(event: Event) -> None:
            if event.kind == "decode_progress":
                progress.update(decode_bar, completed=event.data["fraction"])
            elif event.kind == "job_started":
                progress.update(analyze_bar, total=len(event.data["analyzers"]), visible=True)
            elif event.kind == "task_started":
                progress.update(analyze_bar, description=f"analyze: {event.data['analyzer']}")
            elif event.kind == "task_finished":
                progress.advance(analyze_bar)
            elif event.kind == "cached":
                console.print("[dim]answered from the store (same media, analyzers and params); --force recomputes[/dim]")

        return engine.run(spec, on_event, force=force)


def _findings(summary: dict[str, Any], limit: int = 4) -> str:
    parts = []
    for key, value in summary.items():
        if isinstance(value, (int, float, str, bool)) or value is None:
            parts.append(f"{key}={value}")
        if len(parts) == limit:
            break
    return ", ".join(parts)


def _print_summary(report: AnalysisReport) -> None:
    media = report.media
    out.print(
        f"[bold]{Path(report.source.path).name}[/bold]  {media.duration_s:.2f} s  {media.width}x{media.height}"
        f"  job {report.job_id}  [bold]{report.status.value}[/bold]"
    )
    table = Table("analyzer", "status", "seconds", "findings / error")
    for name, result in report.analyzers.items():
        style = _STATUS_STYLE.get(result.status.value, "")
        detail = _findings(result.summary) if result.error is None else f"{result.error.message} {result.error.fix or ''}"
        table.add_row(name, f"[{style}]{result.status.value}[/{style}]", f"{result.duration_s:.2f}", detail)
    out.print(table)
    t = report.timings
    out.print(
        f"probe {t.probe_s:.2f} s, decode {t.decode_s:.2f} s, analyze {t.analyze_s:.2f} s, total {t.total_s:.2f} s"
        f" = {t.realtime_factor:.3f}x realtime"
    )


@app.command("analyzers")
def list_analyzers(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
    """List every analyzer, whether it can run here, and if not what to install."""
    registry = Registry.default()
    rows = [registry.describe(name) for name in registry.names()]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(Column("analyzer", no_wrap=True), "version", "available", "reads", "description / fix")
    for row in rows:
        reads = ", ".join(x for x in ("frames" if row.get("frames") else "", "audio" if row.get("audio") else "") if x)
        if row.get("after"):
            reads += " + " + ", ".join(row["after"])
        detail = row.get("description", "") if row["available"] else f"[yellow]{row['reason']}[/yellow] — {row['fix']}"
        table.add_row(row["name"], row.get("version", "?"), "yes" if row["available"] else "[yellow]no[/yellow]", reads, detail)
    out.print(table)


@app.command()
def doctor(
    data_dir: Annotated[Path | None, typer.Option(help="data folder to check")] = None,
    selftest: Annotated[
        bool, typer.Option("--selftest", help="also analyse a generated clip with every available analyzer")
    ] = False,
    executor: Annotated[str | None, typer.Option(help="self-test executor: process (default) or inline")] = None,
    workers: Annotated[int | None, typer.Option(help="self-test worker processes (default: CPU count)")] = None,
) -> None:
    """Check the install: decoder, data folder, every analyzer. Exits 1 if something is broken.

    With --selftest, also run one real job on a generated 4 s clip (two shots, a hard cut, a beating
    tone) through the engine and check the known answers; exits 1 if any available analyzer fails."""
    import av

    settings = build_settings(data_dir=data_dir, executor=executor, workers=workers)
    problems = 0
    table = Table("check", "result", "detail")
    try:
        from reelscope.media.probe import probe
        from reelscope.media.synth import write_selftest_clip

        with tempfile.TemporaryDirectory() as tmp:  # proves encode and decode both work
            clip = Path(tmp) / "doctor.mp4"
            write_selftest_clip(clip, duration_s=0.5, width=64, height=64)
            info = probe(clip)
        table.add_row("decoder", "[green]ok[/green]", f"PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}, decoded a {info.width}x{info.height} test clip")
    except Exception as exc:  # doctor reports, never crashes
        problems += 1
        table.add_row("decoder", "[red]broken[/red]", f"{exc!r} — reinstall: pip install --force-reinstall av")
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.data_dir):
            pass
        JobStore(settings.db_path, settings.reports_dir).close()
        table.add_row("data folder", "[green]ok[/green]", f"{settings.data_dir} is writable, store opens")
    except Exception as exc:
        problems += 1
        table.add_row("data folder", "[red]broken[/red]", f"{settings.data_dir}: {exc} — set REELSCOPE_DATA_DIR to a writable folder")
    table.add_row("cpu", "[green]ok[/green]", f"{os.cpu_count()} cores; {settings.workers} workers")
    registry = Registry.default()
    for name in registry.names():
        availability = registry.availability(name)
        if availability.available:
            table.add_row(f"analyzer {name}", "[green]available[/green]", "")
        else:
            table.add_row(f"analyzer {name}", "[yellow]unavailable[/yellow]", f"{availability.reason} — {availability.fix}")
    out.print(table)
    if selftest and not _run_selftest(settings):
        problems += 1
    if problems:
        raise typer.Exit(1)


def _run_selftest(settings: Settings) -> bool:
    """Print the self-test table and summary; True when it passed."""
    from reelscope.cli.selftest import run_selftest  # writes media with PyAV: kept off the CLI's start-up

    console.print(f"self-test: analysing a generated clip with every analyzer ({settings.executor} executor) ...")
    result = run_selftest(settings)
    table = Table("analyzer", "status", "seconds", "note", title="self-test")
    for row in result.rows:
        style = _STATUS_STYLE.get(row.status, "")
        seconds = "" if row.duration_s is None else f"{row.duration_s:.2f}"
        table.add_row(row.analyzer, f"[{style}]{row.status}[/{style}]", seconds, row.note)
    out.print(table)
    failed = [row.analyzer for row in result.rows if row.failed]
    unavailable = sum(row.status == "unavailable" for row in result.rows)
    verdict = "[green]passed[/green]" if result.passed else f"[red]failed[/red]: {', '.join(failed)}"
    out.print(f"self-test {verdict} in {result.wall_s:.2f} s ({unavailable} analyzer(s) unavailable here)")
    return result.passed


app.command()(ingest.download)
app.command()(ingest.bulk)
app.command()(server.serve)
app.command()(server.status)
app.add_typer(models.app, name="models")


@app.callback(invoke_without_command=True)
def main(version: Annotated[bool, typer.Option("--version", help="print the version")] = False) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit(0)


if __name__ == "__main__":
    sys.exit(app())
