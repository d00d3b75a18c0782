"""A fake speech_transcription for the CLI and API export tests: it returns a fixed output in the
speech_transcription contract (or none, or fails), so exports are checked without a model.

Registered as ``TRANSCRIPT_FAKE_TARGET`` under the name ``speech_transcription``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.core.errors import ModelUnavailable
from reelscope.core.needs import AnalyzerSpec, Needs
from reelscope.core.results import AnalyzerOutput, Segment, Track

TRANSCRIPT_FAKE_TARGET = "tests.report.transcript_fake:FakeTranscription"
MODEL_MISSING = "the whisper model small is not in the model folder"
CRASH = "the decoder gave up on frame 12"

# (text, start_s, end_s, sentence index); "R&D" and "<3" need escaping in WebVTT
_WORDS = [
    ("Hello", 0.20, 0.45, 0), ("everyone,", 0.45, 0.90, 0), ("welcome", 1.00, 1.30, 0), ("back.", 1.30, 1.60, 0),
    ("Um,", 1.90, 2.10, 1), ("R&D", 2.15, 2.40, 1), ("is", 2.40, 2.50, 1), ("<3", 2.50, 2.70, 1), ("today!", 2.70, 2.95, 1),
]
_SENTENCES = [(0, 0.20, 1.60), (1, 1.90, 2.95)]


def fixed_transcript() -> AnalyzerOutput:
    """Two sentences, nine words, in the shape speech_transcription reports."""
    sentences = []
    for index, start_s, end_s in _SENTENCES:
        words = [w for w in _WORDS if w[3] == index]
        sentences.append(
            Segment(
                kind="sentence", start_s=start_s, end_s=end_s, label="sentence",
                attributes={
                    "text": " ".join(w[0] for w in words), "language": "en", "word_count": len(words),
                    "words_per_minute": 60 * len(words) / (end_s - start_s), "avg_logprob": -0.2, "no_speech_prob": 0.01,
                },
            )
        )
    words = [
        Segment(
            kind="word", start_s=start_s, end_s=end_s, label="word", score=0.9,
            attributes={"text": text, "sentence": index, "filler": text == "Um,", "emphasized": text == "today!"},
        )
        for text, start_s, end_s, index in _WORDS
    ]
    extras = [
        Segment(kind="speech", start_s=0.15, end_s=1.65, label="speech"),
        Segment(kind="speech", start_s=1.85, end_s=3.0, label="speech"),
        Segment(kind="pause", start_s=1.60, end_s=1.90, label="pause", attributes={"duration_s": 0.3}),
        Segment(kind="filler", start_s=1.90, end_s=2.10, label="um", attributes={"text": "Um,"}),
        Segment(kind="emphasis", start_s=2.70, end_s=2.95, label="emphasis", score=0.8,
                attributes={"text": "today!", "energy_z": 2.1, "pitch_z": 1.4}),
    ]
    times_s = [round(0.02 * i, 3) for i in range(150)]
    tracks = [
        Track(name="pitch_hz", unit="hz", times_s=times_s, values=[180.0 if 0.2 <= t < 2.95 else None for t in times_s]),
        Track(name="voice_energy_dbfs", unit="dbfs", times_s=times_s, values=[-20.0 if 0.2 <= t < 2.95 else -60.0 for t in times_s]),
    ]
    summary = {
        "model": "fake", "language": "en", "language_probability": 0.99, "text": " ".join(w[0] for w in _WORDS),
        "word_count": len(_WORDS), "speech_s": 2.65, "speaking_time_share": 0.88, "words_per_minute": 204.0,
        "pause_count": 1, "mean_pause_s": 0.3, "longest_pause_s": 0.3, "filler_count": 1, "fillers": {"um": 1},
        "emphasized_word_count": 1, "duration_s": 3.0,
    }
    return AnalyzerOutput(summary=summary, segments=[*sentences, *words, *extras], tracks=tracks)


def silent_transcript() -> AnalyzerOutput:
    """What speech_transcription reports for a clip with nobody speaking: no words at all."""
    return AnalyzerOutput(summary={"model": "fake", "language": None, "text": "", "word_count": 0, "duration_s": 3.0})


class FakeTranscription(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        mode: Literal["speech", "silent", "unavailable", "fail"] = "speech"

    spec = AnalyzerSpec(name="speech_transcription", version="0.0.1", description="a fixed transcript", needs=Needs())

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        mode = context.params.mode  # type: ignore[attr-defined]
        if mode == "unavailable":
            raise ModelUnavailable(MODEL_MISSING, fix="reelscope models download small")
        if mode == "fail":
            raise RuntimeError(CRASH)
        return fixed_transcript() if mode == "speech" else silent_transcript()
