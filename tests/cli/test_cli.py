"""The `reelscope` command through typer's CliRunner: reports written, params applied, JSON
output, exit codes and clean error messages for bad input, `analyzers` and `doctor`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import media_factory as mf
from reelscope.analyzers.registry import BUILTINS
from reelscope.cli.main import app
from reelscope.core.jobs import JobStatus
from reelscope.core.report import AnalysisReport
from reelscope.core.results import OutcomeStatus

runner = CliRunner()


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("REELSCOPE_DATA_DIR", str(folder))
    monkeypatch.delenv("REELSCOPE_EXECUTOR", raising=False)
    return folder


def flat(text: str) -> str:
    """Rich wraps long lines (paths) at the console width when not writing to a terminal."""
    return text.replace("\n", "")


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def analyze_inline(*args: str):
    return invoke("analyze", *args, "--executor", "inline")


def assert_clean_error(result, exit_code: int, fragment: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit)  # typer.Exit, not an escaped exception
    assert "error:" in result.stderr and fragment in flat(result.stderr)
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_analyze_writes_the_report(data_dir, shots_clip, tmp_path):
    path, truth = shots_clip
    out_dir = tmp_path / "out"
    result = analyze_inline(path, "-o", out_dir)
    assert result.exit_code == 0, result.output
    target = out_dir / f"{path.stem}.reelscope.json"
    report = AnalysisReport.model_validate_json(target.read_text())
    assert report.status == JobStatus.succeeded
    assert set(report.analyzers) == set(BUILTINS)
    assert report.analyzers["cut_analysis"].summary["hard_cut_count"] == len(truth.cut_times_s)
    stored = data_dir / "reports" / f"{report.job_id}.json"
    assert AnalysisReport.model_validate_json(stored.read_text()) == report
    assert "cut_analysis" in result.stdout and "succeeded" in result.stdout  # the summary table
    assert str(target) in flat(result.stderr)


def test_set_applies_a_param(data_dir, shots_clip):
    result = analyze_inline(shots_clip[0], "-a", "cut_analysis", "--set", "cut_analysis.min_cut_ratio=2.5", "--json")
    assert result.exit_code == 0, result.output
    report = AnalysisReport.model_validate_json(result.stdout)
    assert list(report.analyzers) == ["cut_analysis"]
    assert report.analyzers["cut_analysis"].params["min_cut_ratio"] == 2.5


def test_json_prints_only_the_report(data_dir, shots_clip):
    result = analyze_inline(shots_clip[0], "-a", "audio_analysis", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["analyzers"]["audio_analysis"]["status"] == OutcomeStatus.ok.value
    assert document["job_id"] in flat(result.stderr)  # "stored report: ..." goes to stderr


def test_second_run_says_it_came_from_the_store(data_dir, shots_clip):
    first = analyze_inline(shots_clip[0], "-a", "cut_analysis", "--json")
    second = analyze_inline(shots_clip[0], "-a", "cut_analysis", "--json")
    assert first.exit_code == second.exit_code == 0
    assert "answered from the store" in second.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)
    forced = analyze_inline(shots_clip[0], "-a", "cut_analysis", "--json", "--force")
    assert "answered from the store" not in forced.stderr
    assert json.loads(forced.stdout)["created_at"] != json.loads(first.stdout)["created_at"]


def test_default_process_executor_end_to_end(data_dir, shots_clip, tmp_path):
    path, _ = shots_clip
    result = invoke("analyze", path, "--workers", "2", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    report = AnalysisReport.model_validate_json((tmp_path / "out" / f"{path.stem}.reelscope.json").read_text())
    assert report.status == JobStatus.succeeded
    assert all(a.status == OutcomeStatus.ok for a in report.analyzers.values())
    workers = {a.worker for a in report.analyzers.values()}
    assert all(w and w.startswith("worker-") for w in workers)  # ran in worker processes
    assert sorted((data_dir / "logs").glob("worker-*.log"))


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "name, maker",
    [
        ("empty.mp4", mf.empty_file),
        ("text.mp4", mf.text_as_mp4),
        ("moov_at_end.mp4", lambda p: mf.truncated_mp4(p, faststart=False)),
        ("zero_duration.mp4", mf.zero_duration),
        ("subtitles.mkv", mf.unsupported_stream),
    ],
)
def test_unreadable_media_exits_4(data_dir, tmp_path, name, maker):
    path, _ = maker(tmp_path / name)
    result = analyze_inline(path)
    assert_clean_error(result, 4, name)


def test_missing_file_exits_3(data_dir, tmp_path):
    result = analyze_inline(tmp_path / "nowhere.mp4")
    assert_clean_error(result, 3, "no such file")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("-a", "no_such_analyzer"), "no_such_analyzer"),
        (("--set", "min_cut_ratio=2.5"), "ANALYZER.PARAM=VALUE"),
        (("--set", "cut_analysis.min_cut_ratio"), "ANALYZER.PARAM=VALUE"),
        (("-a", "cut_analysis", "--set", "cut_analysis.min_cut_ratio=abc"), "min_cut_ratio"),
        (("-a", "cut_analysis", "--set", "cut_analysis.no_such_param=1"), "no_such_param"),
        (("-a", "cut_analysis", "--set", "camera_analysis.rate_hz=5"), "camera_analysis"),
    ],
)
def test_bad_requests_exit_2(data_dir, shots_clip, args, fragment):
    result = analyze_inline(shots_clip[0], *args)
    assert_clean_error(result, 2, fragment)


def test_unknown_analyzer_error_lists_the_known_ones(data_dir, shots_clip):
    result = analyze_inline(shots_clip[0], "-a", "nope")
    assert "fix:" in result.stderr and "cut_analysis" in flat(result.stderr)


# ---------------------------------------------------------------------------- other commands


def test_analyzers_lists_the_builtins(data_dir):
    result = invoke("analyzers")
    assert result.exit_code == 0, result.output
    for name in BUILTINS:
        assert name in result.stdout


def test_analyzers_json(data_dir):
    result = invoke("analyzers", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(BUILTINS) <= set(rows)
    for name in BUILTINS:
        row = rows[name]
        assert row["available"] is True and row["version"]
        assert row["params"]["type"] == "object"
    assert rows["visual_effects"]["after"] == ["cut_analysis"]
    assert rows["audio_analysis"]["audio"] is not None and rows["audio_analysis"]["frames"] is None


def test_doctor(data_dir):
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout
    assert (data_dir / "reelscope.sqlite3").exists()


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip()
