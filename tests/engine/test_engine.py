"""Engine.run end to end with the InlineExecutor and a real JobStore: the report, job ids derived
from content and params, answers from the store, skipped analyzers, bad requests and bad media,
partial success, waves, and work-file cleanup."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from tests.fakes import FAKE_TARGETS

import media_factory as mf
from reelscope.analyzers.registry import BUILTINS, Registry
from reelscope.core.errors import DecodeFailed, InvalidParams, UnknownAnalyzer, UnsupportedMedia
from reelscope.core.jobs import JobSpec, JobStatus
from reelscope.core.report import AnalysisReport
from reelscope.core.results import OutcomeStatus
from reelscope.core.settings import Settings
from reelscope.engine.engine import Engine
from reelscope.engine.events import Event
from reelscope.engine.executors.inline import InlineExecutor
from reelscope.store.jobs import JobStore

FRAME_ANALYZERS = ("cut_analysis", "camera_analysis", "color_analysis", "content_quality", "visual_effects")


class Harness:
    def __init__(self, data_dir: Path, registry: Registry | None = None, **settings) -> None:
        self.registry = registry or Registry(BUILTINS)
        self.settings = Settings(data_dir=data_dir, executor="inline", **settings)
        self.store = JobStore(self.settings.db_path, self.settings.reports_dir)
        self.engine = Engine(self.settings, InlineExecutor(self.registry), self.store, self.registry)

    def run(self, source: Path, analyzers: tuple[str, ...] = (), params: dict | None = None, force: bool = False):
        events: list[Event] = []
        spec = JobSpec(source=str(source), analyzers=analyzers, params=params or {})
        report = self.engine.run(spec, events.append, force=force)
        return report, events

    def close(self) -> None:
        self.engine.executor.close()
        self.store.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    h = Harness(tmp_path_factory.mktemp("data"))
    yield h
    h.close()


@pytest.fixture()
def fresh(tmp_path):
    h = Harness(tmp_path / "data", Registry({**BUILTINS, **FAKE_TARGETS}))
    yield h
    h.close()


@pytest.fixture(scope="module")
def full_run(harness, shots_clip):
    path, truth = shots_clip
    started = time.perf_counter()
    report, events = harness.run(path)
    return report, events, truth, time.perf_counter() - started


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


# ---------------------------------------------------------------------------- the report


def test_full_run_reports_every_analyzer_with_version_and_params(full_run, harness):
    report, _, truth, _ = full_run
    assert report.status == JobStatus.succeeded
    assert list(report.analyzers) == list(BUILTINS)
    for name, result in report.analyzers.items():
        cls = harness.registry.get(name)
        assert result.status == OutcomeStatus.ok, (name, result.error)
        assert result.version == cls.spec.version
        assert result.params == cls.Params().model_dump(mode="json")
        assert result.summary, name
        assert result.worker == f"pid-{os.getpid()}"
    assert report.media.duration_s == pytest.approx(truth.duration_s, abs=0.05)
    assert report.source.sha256 == report.media.sha256


def test_the_report_holds_the_known_cuts(full_run):
    report, _, truth, _ = full_run
    cuts = [s for s in report.analyzers["cut_analysis"].segments if s.kind == "transition"]
    assert [s.label for s in cuts] == ["hard_cut"] * len(truth.cut_times_s)
    assert [s.start_s for s in cuts] == pytest.approx(list(truth.cut_times_s), abs=1 / truth.fps + 1e-6)


def test_timings_add_up(full_run):
    report, _, _, wall_s = full_run
    t = report.timings
    assert t.realtime_factor == pytest.approx(t.total_s / report.media.duration_s, abs=1e-3)
    assert t.analyze_s == pytest.approx(sum(t.waves_s), abs=1e-3)
    assert len(t.waves_s) == len([e for e in full_run[1] if e.kind == "wave_started"])
    assert 0 < t.probe_s + t.decode_s + t.analyze_s <= t.total_s + 1e-3
    assert t.total_s <= wall_s + 1e-3


def test_events_follow_the_job(full_run):
    report, events, _, _ = full_run
    seen = kinds(events)
    assert seen[0] == "probed" and seen[-1] == "job_finished"
    assert seen.index("job_started") < seen.index("decoded") < seen.index("wave_started")
    assert seen.count("task_started") == seen.count("task_finished") == len(BUILTINS)
    assert events[-1].data["report"] == report
    assert all(e.job_id == report.job_id for e in events)
    fractions = [e.data["fraction"] for e in events if e.kind == "decode_progress"]
    assert fractions == sorted(fractions)
    # an analyzer that reads another's output (needs.after) runs in a later wave
    wave_of = {n: i for i, e in enumerate(e for e in events if e.kind == "wave_started") for n in e.data["analyzers"]}
    assert sorted(wave_of) == sorted(BUILTINS)
    for name in BUILTINS:
        for dependency in Registry(BUILTINS).get(name).spec.needs.after:
            assert wave_of[dependency] < wave_of[name], (dependency, name)


def test_the_store_holds_the_final_report(full_run, harness):
    report, *_ = full_run
    record = harness.store.get(report.job_id)
    assert record.status == JobStatus.succeeded
    assert record.analyzers == list(BUILTINS)
    assert harness.store.report(report.job_id) == report


# ---------------------------------------------------------------------------- ids and caching


def test_a_second_run_is_answered_from_the_store(full_run, harness, shots_clip):
    first, *_ = full_run
    started = time.perf_counter()
    again, events = harness.run(shots_clip[0])
    assert time.perf_counter() - started < 1.0
    assert kinds(events) == ["probed", "cached"]
    assert events[1].data["report"] == again
    assert again == first
    assert again.model_dump_json() == first.model_dump_json()


def test_job_id_follows_the_content_not_the_name(full_run, harness, shots_clip, tmp_path):
    first, *_ = full_run
    copy = tmp_path / "renamed copy.mp4"
    shutil.copyfile(shots_clip[0], copy)
    again, events = harness.run(copy)
    assert again.job_id == first.job_id
    assert "cached" in kinds(events)


def test_job_id_changes_with_params_and_analyzers(harness, shots_clip, full_run):
    path = shots_clip[0]
    plain, _ = harness.run(path, ("cut_analysis",))
    same, _ = harness.run(path, ("cut_analysis",), {"cut_analysis": {"min_cut_ratio": 3.0}})  # the default
    tuned, _ = harness.run(path, ("cut_analysis",), {"cut_analysis": {"min_cut_ratio": 2.5}})
    assert plain.job_id == same.job_id
    assert len({plain.job_id, tuned.job_id, full_run[0].job_id}) == 3
    assert tuned.analyzers["cut_analysis"].params["min_cut_ratio"] == 2.5


def test_force_recomputes(fresh, shots_clip):
    first, _ = fresh.run(shots_clip[0], ("cut_analysis",))
    forced, events = fresh.run(shots_clip[0], ("cut_analysis",), force=True)
    assert "cached" not in kinds(events) and "job_started" in kinds(events)
    assert forced.job_id == first.job_id
    assert forced.created_at > first.created_at
    assert forced.analyzers["cut_analysis"].segments == first.analyzers["cut_analysis"].segments
    assert fresh.store.report(first.job_id) == forced


# ---------------------------------------------------------------------------- what cannot run


def test_audio_only_file_skips_frame_analyzers(harness, factory):
    path, truth = factory("engine_tones.wav", mf.tone_clip)
    report, _ = harness.run(path)
    assert report.status == JobStatus.succeeded
    for name in FRAME_ANALYZERS:
        result = report.analyzers[name]
        assert result.status == OutcomeStatus.skipped
        assert result.error.type == "NothingToAnalyze" and "video" in result.error.message
        assert result.version == "1.0.0" and result.params  # still says what would have run
    assert report.analyzers["audio_analysis"].status == OutcomeStatus.ok
    assert report.media.duration_s == pytest.approx(truth.duration_s, abs=0.05)


def test_video_without_audio_skips_audio_analysis(harness, factory):
    path, _ = factory("engine_silent.mp4", mf.no_audio_clip)
    report, _ = harness.run(path, ("cut_analysis", "audio_analysis"))
    assert report.status == JobStatus.succeeded
    assert report.analyzers["cut_analysis"].status == OutcomeStatus.ok
    skipped = report.analyzers["audio_analysis"]
    assert skipped.status == OutcomeStatus.skipped and "audio" in skipped.error.message


# ---------------------------------------------------------------------------- bad requests


def test_unknown_analyzer_is_refused_before_any_work(fresh, shots_clip):
    with pytest.raises(UnknownAnalyzer) as caught:
        fresh.run(shots_clip[0], ("cut_analysis", "no_such_thing"))
    assert "no_such_thing" in caught.value.message and "cut_analysis" in caught.value.fix
    assert fresh.store.list() == []


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"cut_analysis": {"min_cut_ratio": "abc"}}, "min_cut_ratio"),
        ({"cut_analysis": {"no_such_param": 1}}, "no_such_param"),
        ({"cut_analysis": {"min_cut_ratio": 0.5}}, "min_cut_ratio"),  # below its minimum of 1
        ({"camera_analysis": {"rate_hz": 5}}, "camera_analysis"),  # not in this job
    ],
)
def test_bad_params_are_refused(fresh, shots_clip, params, fragment):
    with pytest.raises(InvalidParams) as caught:
        fresh.run(shots_clip[0], ("cut_analysis",), params)
    assert fragment in caught.value.message
    assert fresh.store.list() == []


@pytest.mark.parametrize(
    "maker",
    [mf.empty_file, mf.text_as_mp4, mf.zero_duration, lambda p: mf.truncated_mp4(p, faststart=False)],
    ids=["empty", "text", "zero_duration", "truncated_moov_at_end"],
)
def test_unreadable_media_raises_before_a_job_exists(fresh, tmp_path, maker):
    path, _ = maker(tmp_path / "bad.mp4")
    with pytest.raises((UnsupportedMedia, DecodeFailed)):
        fresh.run(path, ("cut_analysis",))
    assert fresh.store.list() == []


def test_a_decode_failure_marks_the_job_failed(fresh, shots_clip, monkeypatch):
    def broken_decode(*args, **kwargs):
        raise DecodeFailed("the decoder gave up half way")

    monkeypatch.setattr("reelscope.engine.engine.decode", broken_decode)
    events: list[Event] = []
    with pytest.raises(DecodeFailed):
        fresh.engine.run(JobSpec(source=str(shots_clip[0]), analyzers=("cut_analysis",)), events.append)
    job_id = events[0].job_id
    record = fresh.store.get(job_id)
    assert record.status == JobStatus.failed
    assert record.error == "decode_failed: the decoder gave up half way"
    assert fresh.store.report(job_id) is None
    assert events[-1].kind == "job_finished" and events[-1].data["status"] == JobStatus.failed
    assert not (fresh.settings.work_dir / job_id).exists()


# ---------------------------------------------------------------------------- analyzers' outcomes


def test_a_failing_analyzer_makes_the_job_partial_not_failed(fresh, shots_clip):
    report, _ = fresh.run(shots_clip[0], ("cut_analysis", "raising"))
    assert report.status == JobStatus.partially_succeeded
    assert report.analyzers["cut_analysis"].status == OutcomeStatus.ok
    failed = report.analyzers["raising"]
    assert failed.status == OutcomeStatus.failed
    assert failed.error.type == "ValueError" and failed.error.message == "boom"
    assert failed.version == "0.1.0" and failed.summary == {}
    assert fresh.store.get(report.job_id).status == JobStatus.partially_succeeded
    assert AnalysisReport.model_validate_json(report.model_dump_json()) == report


def test_waves_give_later_analyzers_the_earlier_outputs(fresh, shots_clip):
    _, truth = shots_clip
    report, events = fresh.run(shots_clip[0], ("dependent", "echo"), {"echo": {"tag": "hello"}})
    waves = [e.data["analyzers"] for e in events if e.kind == "wave_started"]
    assert waves == [["echo"], ["dependent"]]
    assert events[kinds(events).index("job_started")].data["waves"] == waves
    summary = report.analyzers["dependent"].summary
    assert summary == {"inputs": ["echo"], "echo_n_frames": truth.n_frames, "echo_tag": "hello"}
    assert len(report.timings.waves_s) == 2


def test_a_missing_dependency_still_runs_and_says_so(fresh, shots_clip):
    report, _ = fresh.run(shots_clip[0], ("dependent",))
    assert report.status == JobStatus.succeeded
    assert report.analyzers["dependent"].summary == {"inputs": [], "echo_n_frames": None, "echo_tag": None}


def test_a_plugin_that_cannot_import_is_unavailable_and_the_rest_runs(tmp_path, shots_clip):
    registry = Registry({"cut_analysis": BUILTINS["cut_analysis"], "broken": "no_such_module_here:Analyzer"})
    h = Harness(tmp_path / "data", registry)
    try:
        report, _ = h.run(shots_clip[0], params={"broken": {"anything": 1}})
    finally:
        h.close()
    assert report.analyzers["cut_analysis"].status == OutcomeStatus.ok
    broken = report.analyzers["broken"]
    assert broken.status == OutcomeStatus.unavailable and "no_such_module_here" in broken.error.message
    assert broken.params == {"anything": 1} and report.status == JobStatus.partially_succeeded


# ---------------------------------------------------------------------------- work files


def test_work_files_are_removed_after_the_job(fresh, shots_clip):
    report, _ = fresh.run(shots_clip[0], ("cut_analysis",))
    assert not (fresh.settings.work_dir / report.job_id).exists()


def test_keep_work_files_keeps_them(tmp_path, shots_clip):
    h = Harness(tmp_path / "data", keep_work_files=True)
    try:
        report, _ = h.run(shots_clip[0], ("cut_analysis", "audio_analysis"))
    finally:
        h.close()
    kept = sorted(p.name for p in (h.settings.work_dir / report.job_id).iterdir())
    assert kept and any(name.endswith(".npy") for name in kept)
