"""`reelscope analyze --export vtt,srt`: subtitle files written beside the report (or in the current
folder), a typo refused before any work, and a clear note, with exit code 0, when the report has
no transcript to export. speech_transcription is a fake returning a fixed transcript."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fakes import FAKE_TARGETS
from tests.report.transcript_fake import CRASH, MODEL_MISSING, TRANSCRIPT_FAKE_TARGET, fixed_transcript
from typer.testing import CliRunner

from reelscope.analyzers.registry import Registry
from reelscope.cli.main import app
from reelscope.report.subtitles import build_cues, to_srt, to_vtt

runner = CliRunner()


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh store, and a registry holding the fake transcription and the echo fake only."""
    folder = tmp_path / "data"
    monkeypatch.setenv("REELSCOPE_DATA_DIR", str(folder))
    monkeypatch.delenv("REELSCOPE_EXECUTOR", raising=False)
    targets = {"speech_transcription": TRANSCRIPT_FAKE_TARGET, "echo": FAKE_TARGETS["echo"]}
    monkeypatch.setattr(Registry, "default", classmethod(lambda cls: cls(targets)))
    return folder


def flat(text: str) -> str:
    return text.replace("\n", "")


def analyze(*args) -> object:
    return runner.invoke(app, ["analyze", *map(str, args), "--executor", "inline"])


def test_export_writes_both_files_beside_the_report(data_dir, shots_clip, tmp_path):
    clip = shots_clip[0]
    out_dir = tmp_path / "out"
    result = analyze(clip, "-a", "speech_transcription", "--export", "vtt,srt", "-o", out_dir)
    assert result.exit_code == 0, result.output
    cues = build_cues(fixed_transcript())
    vtt, srt = out_dir / f"{clip.stem}.vtt", out_dir / f"{clip.stem}.srt"
    assert vtt.read_text(encoding="utf-8") == to_vtt(cues)
    assert srt.read_text(encoding="utf-8") == to_srt(cues)
    assert "R&amp;D is &lt;3 today!" in vtt.read_text(encoding="utf-8")
    assert (out_dir / f"{clip.stem}.reelscope.json").exists()
    said = flat(result.stdout)
    assert f"vtt: {vtt} ({len(cues)} cues)" in said and f"srt: {srt} ({len(cues)} cues)" in said


def test_export_defaults_to_the_current_folder_and_may_repeat(data_dir, shots_clip, tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = analyze(shots_clip[0], "-a", "speech_transcription", "--export", "vtt", "--export", " SRT,vtt ")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in here.iterdir()) == [f"{shots_clip[0].stem}.srt", f"{shots_clip[0].stem}.vtt"]
    assert flat(result.stdout).count("vtt: ") == 1  # asked twice, written once


def test_an_unknown_format_is_refused_before_any_work(data_dir, shots_clip, tmp_path):
    result = analyze(shots_clip[0], "--export", "vtt,docx", "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and "'docx'" in result.stderr and "vtt, srt" in flat(result.stderr)
    assert "Traceback" not in result.output
    assert not data_dir.exists() and not (tmp_path / "out").exists()  # nothing analysed, nothing written


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["-a", "echo"], ["did not run speech_transcription"]),
        (["--set", "speech_transcription.mode=unavailable"],
         ["speech_transcription ended unavailable", MODEL_MISSING, "(fix: reelscope models download small)"]),
        (["--set", "speech_transcription.mode=fail"], ["speech_transcription ended failed", CRASH]),
    ],
    ids=["not_run", "unavailable", "failed"],
)
def test_without_a_transcript_nothing_is_written_and_the_reason_is_said(data_dir, shots_clip, tmp_path, args, why):
    out_dir = tmp_path / "out"
    result = analyze(shots_clip[0], *args, "--export", "vtt,srt", "-o", out_dir)
    assert result.exit_code == 0, result.output  # the analysis itself went as it went
    said = flat(result.stdout)
    assert "no vtt, srt written" in said and all(part in said for part in why), said
    assert [p.name for p in out_dir.iterdir()] == [f"{shots_clip[0].stem}.reelscope.json"]


def test_silence_gives_valid_empty_files_and_says_no_speech(data_dir, shots_clip, tmp_path):
    out_dir = tmp_path / "out"
    args = ["-a", "speech_transcription", "--set", "speech_transcription.mode=silent", "--export", "vtt,srt", "-o", out_dir]
    result = analyze(shots_clip[0], *args)
    assert result.exit_code == 0, result.output
    assert (out_dir / f"{shots_clip[0].stem}.vtt").read_text(encoding="utf-8") == "WEBVTT\n"
    assert (out_dir / f"{shots_clip[0].stem}.srt").read_text(encoding="utf-8") == ""
    assert flat(result.stdout).count("no speech") == 2


def test_with_json_the_notes_go_to_stderr(data_dir, shots_clip, tmp_path):
    out_dir = tmp_path / "out"
    result = analyze(shots_clip[0], "-a", "speech_transcription", "--export", "srt", "-o", out_dir, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["analyzers"]["speech_transcription"]["status"] == "ok"
    assert f"srt: {out_dir / (shots_clip[0].stem + '.srt')}" in flat(result.stderr)


def test_a_subtitle_file_that_cannot_be_written_is_a_clean_error(data_dir, shots_clip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"{shots_clip[0].stem}.vtt").mkdir()  # a folder where the file should go
    result = analyze(shots_clip[0], "-a", "speech_transcription", "--export", "vtt")
    assert result.exit_code == 7, result.output
    assert "error:" in result.stderr and "cannot write" in result.stderr and "Traceback" not in result.output
