"""Bulk rows, their JSONL/Parquet files, and the run totals, built from real AnalysisReport objects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from reelscope.core.errors import NetworkError, VideoPrivate
from reelscope.core.jobs import JobStatus
from reelscope.core.media_info import MediaInfo
from reelscope.core.report import AnalysisReport, AnalyzerReport, SourceInfo, Timings
from reelscope.core.results import ErrorInfo, OutcomeStatus
from reelscope.ingest.inputs import BulkItem
from reelscope.ingest.summary import BASE_COLUMNS, build_row, run_stats, summary_table, write_jsonl, write_parquet

URL = "https://www.tiktok.com/@someone/video/7300000000000000001"


def analyzer(status: OutcomeStatus, summary: dict[str, Any] | None = None, error: str | None = None) -> AnalyzerReport:
    info = ErrorInfo(type="ModelUnavailable", message=error, fix="reelscope models fetch") if error else None
    return AnalyzerReport(status=status, version="1.0", params={}, duration_s=0.2, error=info, summary=summary or {})


def make_report(
    *, duration_s: float = 12.0, realtime_factor: float = 0.5, status: JobStatus = JobStatus.partially_succeeded,
    url: str | None = URL, job_id: str = "job-a", cuts: int = 4,
) -> AnalysisReport:
    path = "/data/downloads/videos/7300000000000000001.mp4"
    return AnalysisReport(
        reelscope_version="0.1.0", job_id=job_id, status=status, created_at=datetime.now(UTC),
        source=SourceInfo(
            path=path, url=url, sha256="a" * 64,
            platform={"id": "7300000000000000001", "uploader": "someone", "view_count": 1200, "hashtags": ["fyp", "cats"],
                      "music": {"title": "song"}},
        ),
        media=MediaInfo(path=path, file_size_bytes=1000, sha256="a" * 64, container="mp4", duration_s=duration_s,
                        has_video=True, has_audio=True),
        timings=Timings(probe_s=0.1, decode_s=1.0, analyze_s=4.0, total_s=duration_s * realtime_factor,
                        realtime_factor=realtime_factor),
        analyzers={
            "cut_analysis": analyzer(OutcomeStatus.ok, {
                "cut_count": cuts, "cuts_per_minute": 20.0, "has_jump_cuts": True, "pacing": "fast", "note": None,
                "loudness": float("nan"), "shots": [1, 2, 3], "transitions": {"hard_cut": 3, "fade": 1},
                "status": "this key must not hide the outcome",
            }),
            "audio_analysis": analyzer(OutcomeStatus.skipped),
            "speech_transcription": analyzer(OutcomeStatus.unavailable, error="no whisper model small"),
        },
    )


CAMPAIGN = BulkItem(position=3, source=URL, is_url=True, columns={"campaign": "spring", "status": "draft"})
LOCAL = BulkItem(position=0, source="/videos/missing.mp4", is_url=False)


# -- rows -------------------------------------------------------------------------------------
def test_a_row_from_a_report_flattens_status_timings_platform_and_findings() -> None:
    row = build_row(CAMPAIGN, report=make_report(), wall_s=7.12345, attempts=2)
    assert list(row)[: len(BASE_COLUMNS)] == list(BASE_COLUMNS)
    assert {k: row[k] for k in BASE_COLUMNS if k != "finished_at"} == {
        "position": 3, "input": URL, "kind": "url", "status": "partially_succeeded", "job_id": "job-a",
        "error_code": None, "error": None, "attempts": 2, "wall_s": 7.123, "duration_s": 12.0, "realtime_factor": 0.5,
        "analyzers_ok": ["cut_analysis"], "analyzers_not_ok": ["speech_transcription"],
        "path": "/data/downloads/videos/7300000000000000001.mp4", "url": URL,
    }
    assert datetime.fromisoformat(row["finished_at"]).tzinfo is not None
    extra = {k: v for k, v in row.items() if k not in BASE_COLUMNS}
    assert extra == {
        "platform.id": "7300000000000000001", "platform.uploader": "someone", "platform.view_count": 1200,
        "cut_analysis.cut_count": 4, "cut_analysis.cuts_per_minute": 20.0, "cut_analysis.has_jump_cuts": True,
        "cut_analysis.pacing": "fast", "cut_analysis.note": None, "cut_analysis.loudness": None,
        "cut_analysis.shots_count": 3, "cut_analysis.status": "ok",
        "audio_analysis.status": "skipped",
        "speech_transcription.status": "unavailable", "speech_transcription.error": "no whisper model small",
        "input.campaign": "spring", "input.status": "draft",
    }
    assert "cached" not in row


def test_a_failed_row_carries_the_error_and_no_findings() -> None:
    row = build_row(LOCAL, error=VideoPrivate("the video is private"), wall_s=0.5, attempts=1, job_id="job-x")
    assert row["status"] == "failed" and row["error_code"] == "video_private" and row["error"] == "the video is private"
    assert row["kind"] == "path" and row["url"] is None and row["job_id"] == "job-x"
    assert all(row[k] is None for k in ("duration_s", "realtime_factor", "analyzers_ok", "analyzers_not_ok", "path"))
    assert set(row) == set(BASE_COLUMNS)
    url_row = build_row(BulkItem(1, "ftp://example.com/x", True), error=NetworkError("refused"))
    assert url_row["url"] == "ftp://example.com/x" and url_row["error_code"] == "network_error"


def test_a_cached_row_says_so_and_a_report_without_url_keeps_the_inputs() -> None:
    row = build_row(BulkItem(0, URL, True), report=make_report(url=None), cached=True)
    assert row["cached"] is True and row["url"] == URL and row["status"] == "partially_succeeded"


def test_a_row_needs_a_report_or_an_error() -> None:
    with pytest.raises(ValueError, match="needs a report or an error"):
        build_row(LOCAL)


# -- files ------------------------------------------------------------------------------------
def sample_rows() -> list[dict[str, Any]]:
    return [
        build_row(CAMPAIGN, report=make_report(), wall_s=6.0),
        build_row(BulkItem(4, "/videos/b.mp4", False), report=make_report(duration_s=20.0, realtime_factor=1.5,
                  status=JobStatus.succeeded, url=None, job_id="job-b", cuts=7), wall_s=30.0),
        build_row(BulkItem(5, "/videos/c.mp4", False), report=make_report(duration_s=30.0, realtime_factor=0.1,
                  job_id="job-c"), cached=True),
        build_row(BulkItem(6, URL + "9", True), error=NetworkError("connection reset"), attempts=4, wall_s=12.0),
        build_row(BulkItem(7, URL + "8", True), error=VideoPrivate("private")),
        build_row(BulkItem(8, "/videos/f.mp4", False), report=make_report(duration_s=5.0, realtime_factor=4.0,
                  job_id="job-f"), wall_s=20.0),
    ]


def test_jsonl_round_trips_and_replaces_atomically(tmp_path: Path) -> None:
    rows = sample_rows()
    target = tmp_path / "out" / "summary.jsonl"
    write_jsonl(rows[:1], target)
    write_jsonl(rows, target)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows
    assert "NaN" not in target.read_text()

    loop: list[Any] = []
    loop.append(loop)  # json cannot encode this: the write fails half way
    with pytest.raises(ValueError):
        write_jsonl([rows[0], {"bad": loop}], target)
    assert [json.loads(line) for line in target.read_text().splitlines()] == rows  # the old file is intact
    assert sorted(p.name for p in target.parent.iterdir()) == ["summary.jsonl"]  # no temp file left behind


def test_parquet_round_trip_keeps_types_nulls_and_values(tmp_path: Path) -> None:
    rows = sample_rows()
    rows[0]["mixed"], rows[1]["mixed"] = 3, "three"      # int and str: stored as strings
    rows[0]["number"], rows[1]["number"] = 3, 2.5        # int and float: unified to double
    rows[0]["flag"], rows[1]["flag"] = True, "yes"       # bool and str: strings, JSON-spelled
    target = tmp_path / "summary.parquet"
    write_parquet(rows, target)
    table = pq.read_table(target)

    assert table.column_names[: len(BASE_COLUMNS)] == list(BASE_COLUMNS)
    rest = table.column_names[len(BASE_COLUMNS):]
    assert rest == sorted(rest) and set(rest) == {k for r in rows for k in r} - set(BASE_COLUMNS)
    schema = table.schema
    assert schema.field("position").type == pa.int64() and schema.field("wall_s").type == pa.float64()
    assert schema.field("analyzers_ok").type == pa.list_(pa.string())
    assert schema.field("cached").type == pa.bool_() and schema.field("cut_analysis.cut_count").type == pa.int64()
    assert schema.field("mixed").type == pa.string() and schema.field("number").type == pa.float64()
    assert schema.field("cut_analysis.note").type == pa.null()

    back = table.to_pylist()
    assert back[2]["cached"] is True and back[0]["cached"] is None          # null where a row lacks it
    assert back[3]["duration_s"] is None and back[3]["error_code"] == "network_error"
    assert [b["mixed"] for b in back[:3]] == ["3", "three", None]
    assert [b["flag"] for b in back[:2]] == ["true", "yes"]
    assert [b["number"] for b in back[:2]] == [3.0, 2.5]
    for original, read in zip(rows, back, strict=True):
        same = {k: v for k, v in original.items() if k not in ("mixed", "flag", "number")}
        assert {k: read[k] for k in same} == same


def test_an_empty_run_writes_the_base_columns(tmp_path: Path) -> None:
    write_parquet([], tmp_path / "empty.parquet")
    table = pq.read_table(tmp_path / "empty.parquet")
    assert table.column_names == list(BASE_COLUMNS) and table.num_rows == 0


# -- totals -----------------------------------------------------------------------------------
def test_run_stats_counts_rates_and_analyzers() -> None:
    stats = run_stats(sample_rows(), wall_s=100.0)
    assert stats == {
        "videos": 6,
        "by_status": {"partially_succeeded": 3, "succeeded": 1, "failed": 2},
        "cached": 1,
        "failed_by_code": {"network_error": 1, "video_private": 1},
        "video_s": 67.0,                    # 12 + 20 + 30 + 5: every row with a report
        "processed_video_s": 37.0,          # the cached 30 s excluded
        "wall_s": 100.0,
        "videos_per_hour": 216.0,           # 6 / 100 s
        "processed_per_hour": 180.0,        # 5 / 100 s: failures did work, the cached row did not
        "realtime_factor_mean": 2.0,        # (0.5 + 1.5 + 4.0) / 3, the cached 0.1 excluded
        "realtime_factor_median": 1.5,
        "analyzers": {                      # "input.status" (a CSV column) is not an analyzer
            "audio_analysis": {"ok": 0, "skipped": 4, "not_ok": 0},
            "cut_analysis": {"ok": 4, "skipped": 0, "not_ok": 0},
            "speech_transcription": {"ok": 0, "skipped": 0, "not_ok": 4},
        },
    }


def test_stats_are_the_same_from_the_parquet_file(tmp_path: Path) -> None:
    rows = sample_rows()
    write_parquet(rows, tmp_path / "s.parquet")
    assert run_stats(pq.read_table(tmp_path / "s.parquet").to_pylist(), 100.0) == run_stats(rows, 100.0)


def test_no_wall_time_gives_no_rates() -> None:
    stats = run_stats([build_row(LOCAL, error=VideoPrivate("x"))], wall_s=0.0)
    assert stats["videos_per_hour"] is None and stats["processed_per_hour"] is None
    assert stats["realtime_factor_mean"] is None and stats["video_s"] == 0


def render(stats: dict[str, Any]) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(summary_table(stats))
    return console.export_text()


def test_the_summary_table_shows_the_totals() -> None:
    table = summary_table(run_stats(sample_rows(), wall_s=100.0))
    assert table.title == "bulk run"
    text = render(run_stats(sample_rows(), wall_s=100.0))
    lines = {" ".join(line.replace("│", " ").split()) for line in text.splitlines()}
    for expected in ("videos 6", "failed 2", "failed: network_error 1", "answered from the store 1",
                     "video time 67.0 s", "wall time 100.0 s", "videos / hour 216.0", "processed / hour 180.0",
                     "realtime factor mean 2.000", "realtime factor median 1.500",
                     "speech_transcription ok 0 · skipped 0 · not ok 4"):
        assert expected in lines, (expected, text)
    empty = {" ".join(line.replace("│", " ").split()) for line in render(run_stats([], wall_s=0.0)).splitlines()}
    assert {"videos 0", "videos / hour -", "realtime factor mean -"} <= empty
