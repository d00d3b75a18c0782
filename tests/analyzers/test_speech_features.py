"""The rules speech_transcription derives from timed words: snapping to voice activity, pauses,
fillers in English and German, emphasis against the speaker's own norm."""

from __future__ import annotations

import numpy as np
import pytest

from reelscope.analyzers.audio import speech_features as sf
from reelscope.analyzers.audio import whisper
from reelscope.analyzers.audio.speech_features import Word
from reelscope.core.errors import ModelUnavailable


def words(*items: tuple[float, float, str]) -> list[Word]:
    return [Word(s, e, text, 0.9, 0) for s, e, text in items]


def test_a_word_stretched_over_silence_is_clipped_to_its_voice_span():
    spans = [(0.2, 2.3), (3.2, 4.5)]
    snapped = sf.snap_to_spans(words((1.6, 2.1, "Americans,"), (2.1, 3.7, "ask")), spans)
    assert (snapped[0].start_s, snapped[0].end_s) == (1.6, 2.1)
    assert (snapped[1].start_s, snapped[1].end_s) == (3.2, 3.7)
    # a word outside every span is left as Whisper placed it
    assert sf.snap_to_spans(words((5.0, 5.5, "x")), spans)[0].start_s == 5.0


def test_pauses_are_gaps_of_at_least_the_minimum():
    ws = words((0.0, 0.5, "a"), (0.7, 1.0, "b"), (1.3, 1.6, "c"), (3.0, 3.2, "d"))
    assert sf.pauses(ws, 0.3) == [(1.0, 1.3), (1.6, 3.0)]
    assert sf.pauses(ws, 1.0) == [(1.6, 3.0)]


def test_fillers_in_english_and_german_but_not_ambiguous_words():
    ws = words(
        (0, 1, "Um,"), (1, 2, "you"), (2, 3, "know,"), (3, 4, "I"), (4, 5, "like"), (5, 6, "it."),
        (6, 7, "Ähm"), (7, 8, "also"), (8, 9, "äh,"), (9, 10, "sozusagen"), (10, 11, "halt"),
    )  # fmt: skip
    found = [(a, b, label) for a, b, label in sf.fillers(ws)]
    assert found == [(0, 0, "um"), (1, 2, "you_know"), (6, 6, "aehm"), (8, 8, "aeh"), (9, 9, "sozusagen")]


def _tracks(ws: list[Word], loud: set[int], high: set[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    times = np.arange(0.01, ws[-1].end_s + 0.5, 0.02)
    energy = np.full(times.size, -30.0)
    pitch = np.full(times.size, np.nan)
    rng = np.random.default_rng(0)
    for i, w in enumerate(ws):
        inside = (times >= w.start_s) & (times < w.end_s)
        energy[inside] = (-12.0 if i in loud else -20.0) + rng.normal(0, 1.0)
        pitch[inside] = (180.0 if i in high else 120.0) * 2 ** (rng.normal(0, 0.3) / 12)
    return times, pitch, energy


def test_emphasis_needs_both_louder_and_higher_than_the_norm():
    ws = words(*[(i * 0.5, i * 0.5 + 0.4, f"w{i}") for i in range(12)])
    times, pitch, energy = _tracks(ws, loud={3, 7}, high={3, 9})
    found = sf.emphasis(ws, times, pitch, energy, threshold_z=1.0)
    assert [e.index for e in found] == [3]  # 7 is only loud, 9 only high
    assert found[0].energy_z > 1.0 and found[0].pitch_z > 1.0 and 0.0 < found[0].strength <= 1.0


def test_no_emphasis_without_a_norm():
    ws = words(*[(i * 0.5, i * 0.5 + 0.4, f"w{i}") for i in range(5)])
    times, pitch, energy = _tracks(ws, loud={2}, high={2})
    assert sf.emphasis(ws, times, pitch, energy, threshold_z=1.0) == []


def test_device_placement_int8_on_cpu_float16_on_a_gpu(monkeypatch):
    """The GPU path's choices, checked without a GPU: what CTranslate2 reports decides."""
    monkeypatch.setattr(whisper, "cuda_devices", lambda: 0)
    assert whisper.placement("auto", "auto") == whisper.Placement("cpu", "int8")
    with pytest.raises(ModelUnavailable, match="no CUDA device"):
        whisper.placement("cuda", "auto")
    monkeypatch.setattr(whisper, "cuda_devices", lambda: 1)
    assert whisper.placement("auto", "auto") == whisper.Placement("cuda", "float16")
    assert whisper.placement("cpu", "auto") == whisper.Placement("cpu", "int8")
    assert whisper.placement("auto", "int8_float16") == whisper.Placement("cuda", "int8_float16")
