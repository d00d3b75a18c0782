"""`run_selftest` and `reelscope doctor --selftest`: the real analyzers pass on the generated clip;
a raising analyzer, an analyzer that gets a known answer wrong, a skipped one or a broken engine
each fail it; an unavailable one does not; the user's data folder and the temp folders are left
clean."""

from __future__ import annotations

import tempfile

import pytest
from tests.fakes import FAKE_TARGETS, GHOST_TARGET
from typer.testing import CliRunner

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.analyzers.registry import BUILTINS, Registry
from reelscope.cli.main import app
from reelscope.cli.selftest import SelftestRow, _row, run_selftest
from reelscope.core.needs import AnalyzerSpec, Needs
from reelscope.core.report import AnalyzerReport
from reelscope.core.results import AnalyzerOutput, ErrorInfo, OutcomeStatus, Segment
from reelscope.core.settings import Settings
from reelscope.engine.executors.inline import InlineExecutor
from reelscope.media.synth import SelftestTruth

runner = CliRunner()


# Stand-ins registered under the real names, each getting the clip's known answer wrong in one way.
class CutsInTheWrongPlace(Analyzer):
    spec = AnalyzerSpec(name="cut_analysis", version="0.0.1", description="a cut at 1.0 s", needs=Needs())

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        cut = Segment(kind="transition", start_s=1.0, end_s=1.0, label="hard_cut")
        return AnalyzerOutput(summary={"hard_cut_count": 1}, segments=[cut])


class ExtraDissolve(Analyzer):
    spec = AnalyzerSpec(name="cut_analysis", version="0.0.1", description="the cut plus a dissolve", needs=Needs())

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        segments = [
            Segment(kind="transition", start_s=2.0, end_s=2.0, label="hard_cut"),
            Segment(kind="transition", start_s=3.0, end_s=3.5, label="dissolve"),
        ]
        return AnalyzerOutput(summary={"transition_count": 2}, segments=segments)


class HearsSilence(Analyzer):
    spec = AnalyzerSpec(name="audio_analysis", version="0.0.1", description="reports silence", needs=Needs())

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        return AnalyzerOutput(summary={"integrated_lufs": None, "tempo_bpm": None})


class WrongTempo(Analyzer):
    spec = AnalyzerSpec(name="audio_analysis", version="0.0.1", description="loud, at 100 BPM", needs=Needs())

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        return AnalyzerOutput(summary={"integrated_lufs": -20.0, "tempo_bpm": 100.0})


def settings_for(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "user-data", executor="inline")


def inline_with(registry: Registry):
    return lambda settings: InlineExecutor(registry)


def rows_by_name(result) -> dict[str, SelftestRow]:
    return {row.analyzer: row for row in result.rows}


def test_the_real_analyzers_pass_and_nothing_is_left_behind(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    registry = Registry.default()
    closed = []

    def factory(settings: Settings) -> InlineExecutor:
        assert settings.data_dir.is_relative_to(scratch)  # a throw-away store, not the user's
        executor = InlineExecutor(registry)
        close = executor.close
        executor.close = lambda: (closed.append(True), close())  # type: ignore[method-assign]
        return executor

    result = run_selftest(settings_for(tmp_path), registry=registry, executor_factory=factory)
    rows = rows_by_name(result)
    assert result.passed, result.rows
    assert list(rows) == registry.names()
    assert all(row.status in ("ok", "unavailable") for row in result.rows)
    if rows["cut_analysis"].status == "ok":
        assert rows["cut_analysis"].note == "hard cut at 2.00 s (truth 2.00 s)"
    if rows["audio_analysis"].status == "ok":
        assert "LUFS" in rows["audio_analysis"].note and "150 BPM" in rows["audio_analysis"].note
    assert all(row.duration_s is not None and row.duration_s > 0 for row in result.rows if row.status == "ok")
    assert result.wall_s > 0
    assert closed == [True]
    assert not (tmp_path / "user-data").exists()
    assert list(scratch.iterdir()) == []


def test_a_raising_analyzer_fails_it_and_an_unavailable_one_does_not(tmp_path):
    registry = Registry(
        {
            "cut_analysis": BUILTINS["cut_analysis"],
            "raising": FAKE_TARGETS["raising"],
            "ghost": GHOST_TARGET,
        }
    )
    result = run_selftest(settings_for(tmp_path), registry=registry, executor_factory=inline_with(registry))
    rows = rows_by_name(result)
    assert not result.passed
    assert rows["raising"].status == "failed" and rows["raising"].note == "boom" and rows["raising"].failed
    assert rows["ghost"].status == "unavailable" and not rows["ghost"].failed
    assert rows["ghost"].note == "package reelscope_no_such_package is not installed — pip install reelscope-ghost"
    assert rows["ghost"].duration_s is None
    assert rows["cut_analysis"].status == "ok"

    without_raising = Registry({k: v for k, v in registry.targets.items() if k != "raising"})
    again = run_selftest(
        settings_for(tmp_path), registry=without_raising, executor_factory=inline_with(without_raising)
    )
    assert again.passed, again.rows


@pytest.mark.parametrize(
    ("impostor", "expected"),
    [
        (CutsInTheWrongPlace, "expected a hard cut at 2.00 s (±0.1 s) and no other; found hard_cut at 1.00 s"),
        (ExtraDissolve, "found hard_cut at 2.00 s, dissolve at 3.00 s"),
        (HearsSilence, "expected audible sound (integrated loudness above -60 LUFS); found None"),
        (WrongTempo, "expected a tempo of 150 BPM (±5%); found 100.0"),
    ],
)
def test_a_wrong_known_answer_fails_the_row(tmp_path, impostor, expected):
    name = impostor.spec.name
    registry = Registry({name: f"{__name__}:{impostor.__name__}"})
    result = run_selftest(settings_for(tmp_path), registry=registry, executor_factory=inline_with(registry))
    (row,) = result.rows
    assert not result.passed
    assert (row.analyzer, row.status) == (name, "failed")
    assert expected in row.note


def test_an_available_analyzer_that_skips_fails_the_row():
    skipped = AnalyzerReport(
        status=OutcomeStatus.skipped,
        version="1.0.0",
        params={},
        duration_s=0.0,
        error=ErrorInfo(type="NothingToAnalyze", message="the media has no audio track"),
    )
    truth = SelftestTruth(duration_s=4.0, cut_times_s=(2.0,), tone_hz=440.0, fps=30.0)
    row = _row("audio_analysis", skipped, truth)
    assert row.status == "skipped" and row.failed
    assert row.note == "skipped although the clip has video and audio: the media has no audio track"


def test_a_broken_engine_is_a_failing_row_not_a_crash(tmp_path):
    registry = Registry({"cut_analysis": BUILTINS["cut_analysis"], "ghost": GHOST_TARGET})

    def no_executor(settings: Settings):
        raise RuntimeError("cannot start workers\nsecond line")

    result = run_selftest(settings_for(tmp_path), registry=registry, executor_factory=no_executor)
    rows = rows_by_name(result)
    assert not result.passed
    assert rows["cut_analysis"].status == "failed"
    assert rows["cut_analysis"].note.endswith("RuntimeError: cannot start workers")
    assert rows["ghost"].status == "unavailable"


@pytest.fixture()
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("REELSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REELSCOPE_EXECUTOR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps table cells at the default 80


def test_cli_selftest_passes_and_prints_the_table(cli_env):
    result = runner.invoke(app, ["doctor", "--selftest", "--executor", "inline"])
    assert result.exit_code == 0, result.output
    assert "self-test" in result.stdout and "passed" in result.stdout
    for name in Registry.default().names():
        assert name in result.stdout
    assert "hard cut at 2.00 s" in result.stdout


def test_cli_selftest_exits_1_when_an_analyzer_fails(cli_env, monkeypatch):
    targets = {"cut_analysis": BUILTINS["cut_analysis"], "raising": FAKE_TARGETS["raising"]}
    monkeypatch.setattr(Registry, "default", classmethod(lambda cls: cls(targets)))
    result = runner.invoke(app, ["doctor", "--selftest", "--executor", "inline"])
    assert result.exit_code == 1, result.output
    assert "failed: raising" in result.stdout and "boom" in result.stdout


def test_doctor_without_selftest_runs_no_job(cli_env, monkeypatch):
    monkeypatch.setattr("reelscope.cli.selftest.run_selftest", lambda *a, **k: pytest.fail("self-test ran"))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "self-test" not in result.stdout
