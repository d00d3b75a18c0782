"""The rows and the totals of a bulk run: one flat row per video, JSONL and Parquet files, a table.

A row carries the video's status and error, its timings, and the key findings of every analyzer
flattened into ``"<analyzer>.<key>"`` columns, so a bulk run's Parquet file answers questions
like "mean cut rate per campaign" without opening a single report.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from reelscope.core.errors import ReelscopeError
from reelscope.core.report import AnalysisReport
from reelscope.core.results import OutcomeStatus
from reelscope.ingest.inputs import BulkItem
from reelscope.store.jobs import atomic_write_bytes, atomic_write_text

BASE_COLUMNS: tuple[str, ...] = (
    "position", "input", "kind", "status", "job_id", "error_code", "error", "attempts", "wall_s",
    "duration_s", "realtime_factor", "analyzers_ok", "analyzers_not_ok", "path", "url", "finished_at",
)

# Prefixes of flattened columns that are not analyzers (a CSV column named "status" gives "input.status").
_NOT_ANALYZERS = ("input", "platform")
_NOT_OK = {OutcomeStatus.failed, OutcomeStatus.timed_out, OutcomeStatus.crashed, OutcomeStatus.unavailable}


def build_row(
    item: BulkItem,
    *,
    report: AnalysisReport | None = None,
    error: ReelscopeError | None = None,
    wall_s: float = 0.0,
    attempts: int = 1,
    cached: bool = False,
    job_id: str | None = None,
) -> dict[str, Any]:
    """One video's row. Without a report the row is ``failed`` and ``error`` says why; ``job_id``
    names the job when it is known but no report exists (a job that failed in the engine).

    ``analyzers_ok`` / ``analyzers_not_ok`` list analyzer names (sorted); a skipped analyzer (its
    input is absent, e.g. audio analysis of a silent video) is in neither and shows as
    ``"<analyzer>.status" == "skipped"``.
    """
    if report is None and error is None:
        raise ValueError(f"row {item.position} ({item.source}) needs a report or an error")
    row: dict[str, Any] = {
        "position": item.position,
        "input": item.source,
        "kind": "url" if item.is_url else "path",
        "status": report.status.value if report is not None else "failed",
        "job_id": report.job_id if report is not None else job_id,
        "error_code": error.code if error is not None else None,
        "error": error.message if error is not None else None,
        "attempts": attempts,
        "wall_s": round(wall_s, 3),
        "duration_s": None,
        "realtime_factor": None,
        "analyzers_ok": None,
        "analyzers_not_ok": None,
        "path": None,
        "url": item.source if item.is_url else None,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if report is not None:
        row.update(_report_columns(report))
        row["url"] = row["url"] or (item.source if item.is_url else None)
    for name, value in item.columns.items():
        row[f"input.{name}"] = value
    if cached:
        row["cached"] = True
    return row


def _report_columns(report: AnalysisReport) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "duration_s": report.media.duration_s,
        "realtime_factor": report.timings.realtime_factor,
        "analyzers_ok": sorted(n for n, a in report.analyzers.items() if a.status == OutcomeStatus.ok),
        "analyzers_not_ok": sorted(n for n, a in report.analyzers.items() if a.status in _NOT_OK),
        "path": report.source.path,
        "url": report.source.url,
    }
    for key, value in report.source.platform.items():
        if _is_scalar(value):
            columns[f"platform.{key}"] = _clean(value)
    for name, analyzer in sorted(report.analyzers.items()):
        for key, value in analyzer.summary.items():
            if _is_scalar(value):
                columns[f"{name}.{key}"] = _clean(value)
            elif isinstance(value, list | tuple):
                columns[f"{name}.{key}_count"] = len(value)
            # dicts (histograms, per-label tables) do not flatten into one cell; the report has them
        # written after the summary so an analyzer's own "status" key cannot hide its outcome
        columns[f"{name}.status"] = analyzer.status.value
        if analyzer.error is not None:
            columns[f"{name}.error"] = analyzer.error.message
    return columns


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _clean(value: Any) -> Any:
    # NaN and infinity are not JSON, and mean "no measurement" in a summary.
    return None if isinstance(value, float) and not math.isfinite(value) else value


# -- files --------------------------------------------------------------------------------------
_SHARED = 0o644  # a summary is meant to be shared; temp files start as 0600


def write_jsonl(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """One JSON object per line, in row order."""
    text = "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)
    atomic_write_text(Path(path), text, mode=_SHARED)


def write_parquet(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """One column per key in any row: the base columns first, then the rest sorted; null where a
    row lacks the key. A column whose values pyarrow cannot give one type (int and str) is stored
    as strings, non-strings JSON-encoded."""
    import pyarrow as pa  # imported here: pyarrow takes a while to load and only this needs it
    import pyarrow.parquet as pq

    keys = {key for row in rows for key in row}
    names = list(BASE_COLUMNS) + sorted(keys - set(BASE_COLUMNS))
    arrays = []
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays.append(pa.array([v if v is None or isinstance(v, str) else json.dumps(v, default=str) for v in values],
                                   type=pa.string()))
    table = pa.Table.from_arrays(arrays, names=names)
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue().to_pybytes(), mode=_SHARED)


# -- totals -------------------------------------------------------------------------------------
def run_stats(rows: Sequence[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """Totals of a run. ``processed`` rows are those not answered from the store (``cached``);
    failures count as processed. Rates are ``None`` when ``wall_s`` is not positive."""
    processed = [r for r in rows if not r.get("cached")]
    with_report = [r for r in rows if r.get("duration_s") is not None]
    factors = [r["realtime_factor"] for r in processed if r.get("realtime_factor") is not None]
    analyzers: dict[str, dict[str, int]] = {}
    for row in rows:
        for key, value in row.items():
            name, dot, field = key.partition(".")  # analyzer names hold no dots; summary keys might
            if dot and field == "status" and name not in _NOT_ANALYZERS and value is not None:
                counts = analyzers.setdefault(name, {"ok": 0, "skipped": 0, "not_ok": 0})
                counts[value if value in ("ok", "skipped") else "not_ok"] += 1

    def per_hour(count: int) -> float | None:
        return round(count / wall_s * 3600, 2) if wall_s > 0 else None

    return {
        "videos": len(rows),
        "by_status": dict(Counter(r["status"] for r in rows)),
        "cached": len(rows) - len(processed),
        "failed_by_code": dict(Counter(r.get("error_code") or "unknown" for r in rows if r["status"] == "failed")),
        "video_s": round(sum(r["duration_s"] for r in with_report), 3),
        "processed_video_s": round(sum(r["duration_s"] for r in with_report if not r.get("cached")), 3),
        "wall_s": round(wall_s, 3),
        "videos_per_hour": per_hour(len(rows)),
        "processed_per_hour": per_hour(len(processed)),
        "realtime_factor_mean": round(statistics.fmean(factors), 4) if factors else None,
        "realtime_factor_median": round(statistics.median(factors), 4) if factors else None,
        "analyzers": dict(sorted(analyzers.items())),
    }


def summary_table(stats: dict[str, Any]) -> Table:
    """The run's totals as a two-column table for the terminal."""
    table = Table(title="bulk run", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("videos", str(stats["videos"]))
    for status, count in sorted(stats["by_status"].items()):
        table.add_row(f"  {status}", str(count))
    table.add_row("  answered from the store", str(stats["cached"]))
    for code, count in sorted(stats["failed_by_code"].items()):
        table.add_row(f"  failed: {code}", str(count))
    table.add_row("video time", _seconds(stats["video_s"]))
    table.add_row("wall time", _seconds(stats["wall_s"]))
    table.add_row("videos / hour", _number(stats["videos_per_hour"]))
    table.add_row("processed / hour", _number(stats["processed_per_hour"]))
    table.add_row("realtime factor mean", _number(stats["realtime_factor_mean"], ".3f"))
    table.add_row("realtime factor median", _number(stats["realtime_factor_median"], ".3f"))
    for name, counts in stats["analyzers"].items():
        table.add_row(f"{name}", f"ok {counts['ok']} · skipped {counts['skipped']} · not ok {counts['not_ok']}")
    return table


def _seconds(value: float) -> str:
    return f"{value:,.1f} s"


def _number(value: float | None, spec: str = ",.1f") -> str:
    return "-" if value is None else format(value, spec)
