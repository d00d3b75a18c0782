"""`reelscope download URL...` and `reelscope bulk FILE|DIR`: getting many videos in and through.

Both keep going past a bad item: each URL or video gets its own row with its status or error, and
the exit code says whether all of them worked (0), some failed (1), or the run was interrupted (130).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reelscope.cli.params import build_settings, exit_for, parse_set_flags
from reelscope.core.errors import InvalidParams, ReelscopeError
from reelscope.core.settings import Settings
from reelscope.ingest.bulk import BulkOutcome, BulkRequest, BulkRun, ItemResult
from reelscope.ingest.download import Downloaded, downloader_for
from reelscope.ingest.inputs import read_items
from reelscope.ingest.summary import summary_table
from reelscope.store.jobs import JobStore

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)



def download(
    urls: Annotated[list[str], typer.Argument(help="video page URLs (TikTok, Reels, Shorts, any site yt-dlp supports)")],
    download_dir: Annotated[Path | None, typer.Option("--download-dir", help="default <data dir>/downloads")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="data folder (rate-limit state, default downloads)")] = None,
    force: Annotated[bool, typer.Option("--force", help="fetch again even if this URL was downloaded before")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object per URL instead of a table")] = False,
) -> None:
    """Download videos with their thumbnails and platform metadata into videos/, metadata/, thumbnails/."""
    try:
        settings = build_settings(data_dir=data_dir, download_dir=download_dir)
        downloader = downloader_for(settings)
    except ReelscopeError as exc:
        raise exit_for(exc) from exc
    results: list[tuple[str, Downloaded | ReelscopeError]] = []
    for url in urls:
        try:
            results.append((url, downloader.download(url, force=force)))
        except ReelscopeError as exc:  # one bad URL never stops the others
            results.append((url, exc))
    if as_json:
        for url, result in results:
            out.print_json(json.dumps(_download_json(url, result), default=str))
    else:
        _print_downloads(results)
    errors = [r for _, r in results if isinstance(r, ReelscopeError)]
    if errors:
        raise typer.Exit(errors[0].exit_code)


def _download_json(url: str, result: Downloaded | ReelscopeError) -> dict[str, Any]:
    if isinstance(result, ReelscopeError):
        return {"url": url, "ok": False, "error": result.to_dict()}
    return {
        "url": url, "ok": True, "path": str(result.path), "metadata_path": str(result.metadata_path),
        "thumbnail_path": str(result.thumbnail_path) if result.thumbnail_path else None,
        "cached": result.cached, "attempts": result.attempts, "wall_s": round(result.wall_s, 3), "platform": result.platform,
    }


def _print_downloads(results: list[tuple[str, Downloaded | ReelscopeError]]) -> None:
    table = Table("url", "result", "platform / id", "duration", "file / error")
    for url, result in results:
        if isinstance(result, ReelscopeError):
            fix = f" — {result.fix}" if result.fix else ""
            table.add_row(escape(url), f"[red]{result.code}[/red]", "", "", escape(result.message + fix))
            continue
        meta = result.platform
        duration = f"{meta['duration_s']:.1f} s" if meta.get("duration_s") else ""
        state = "[green]cached[/green]" if result.cached else f"[green]ok[/green] ({result.attempts} tries)" if result.attempts > 1 else "[green]ok[/green]"
        table.add_row(escape(url), state, f"{meta.get('platform')} / {meta.get('id')}", duration, escape(str(result.path)))
    out.print(table)


def bulk(
    source: Annotated[Path, typer.Argument(help="a list file (one URL or path per line), a CSV, or a folder of videos")],
    output_dir: Annotated[Path | None, typer.Option("-o", "--output-dir", help="summary.jsonl/.parquet/run.json here (default ./reelscope-bulk-<run id>)")] = None,
    analyzer: Annotated[list[str], typer.Option("-a", "--analyzer", help="run only these (repeatable); default: all")] = [],  # noqa: B006
    set_: Annotated[list[str], typer.Option("--set", help="ANALYZER.PARAM=VALUE (repeatable)")] = [],  # noqa: B006
    backend: Annotated[str, typer.Option(help="process (this machine's warm workers) or ray (a Ray cluster)")] = "process",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (host:6379, ray://host:10001, auto); default: a local Ray")] = None,
    jobs: Annotated[int | None, typer.Option(help="videos in flight at once (process backend; default 2)")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes (default: CPU count)")] = None,
    executor: Annotated[str | None, typer.Option(help="process (default) or inline")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="store, reports, downloads (default ~/.local/share/reelscope)")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="also redo items that failed for good (private, removed, unreadable)")] = False,
    force: Annotated[bool, typer.Option("--force", help="redo every item and recompute stored reports")] = False,
) -> None:
    """Analyse many videos; run it again to resume (finished videos are not redone)."""
    try:
        if backend not in ("process", "ray"):
            raise InvalidParams(f"unknown backend {backend!r}", fix="--backend process or --backend ray")
        settings = build_settings(executor=executor, workers=workers, data_dir=data_dir, bulk_concurrent_jobs=jobs, ray_address=address)
        items = read_items(source)
        request = BulkRequest(tuple(analyzer), parse_set_flags(set_), force=force, retry_failed=retry_failed)
        input_name = str(source.resolve())
        target = output_dir or Path.cwd() / f"reelscope-bulk-{request.run_id(input_name)[:8]}"
        outcome = _run_bulk(settings, request, items, input_name, target, backend)  # type: ignore[arg-type]
    except ReelscopeError as exc:
        raise exit_for(exc) from exc
    _print_outcome(outcome)
    if outcome.interrupted:
        raise typer.Exit(130)
    if any(row["status"] == "failed" for row in outcome.rows):
        raise typer.Exit(1)


def _run_bulk(settings: Settings, request: BulkRequest, items: list, input_name: str, target: Path, backend: str) -> BulkOutcome:
    store = JobStore(settings.db_path, settings.reports_dir)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, disable=not console.is_terminal, transient=True) as progress:
            bar = progress.add_task(f"bulk ({backend})", total=len(items))

            def on_result(result: ItemResult) -> None:
                progress.advance(bar)
                console.print(_result_line(result))

            def on_plan(skipped: int, total: int, resumed: bool) -> None:
                if skipped:
                    console.print(f"resuming: {skipped} of {total} videos finished in an earlier run are not redone")
                progress.update(bar, completed=skipped)

            run = BulkRun(settings, request, store, backend=backend, on_result=on_result, on_plan=on_plan)  # type: ignore[arg-type]
            return run.run(items, input_name, target)
    finally:
        store.close()


def _result_line(result: ItemResult) -> str:
    row = result.row
    name = escape(Path(row["input"]).name if row.get("kind") == "path" else row["input"])
    if result.ok:
        rtf = f"{row['realtime_factor']:.3f}x" if row.get("realtime_factor") is not None else ""
        note = " (from the store)" if row.get("cached") else ""
        return f"[green]{row['status']}[/green] {name} {rtf}{note}"
    return f"[red]failed[/red] {name}: {escape(str(row.get('error_code')))}: {escape(str(row.get('error')))}"


def _print_outcome(outcome: BulkOutcome) -> None:
    out.print(summary_table(outcome.stats))
    state = "interrupted — run the same command again to resume" if outcome.interrupted else "finished"
    out.print(
        f"run {outcome.run_id} {state}: {len(outcome.rows)} rows"
        f" ({outcome.skipped} from earlier runs){' [resumed]' if outcome.resumed else ''}"
    )
    out.print(f"summary: {escape(str(outcome.jsonl_path))}  {escape(str(outcome.parquet_path))}")
