"""speech_transcription: what is said, when, how fast and how fluently. Runs Whisper once per video;
speech_emotion and the later multimodal analyzers read its output instead of transcribing again.

Voice activity first (silero VAD): audio with no speech never reaches Whisper, which is where
Whisper invents text (music, silence, noise). Then faster-whisper (CTranslate2; int8 on CPU,
float16 on GPU) with word timestamps and language detection, on the VAD-selected audio. Whisper
segments that Whisper itself rates as probably-not-speech are dropped. Words are snapped to the
voice-activity spans, then pauses, fillers (EN, DE), emphasis (pitch and loudness above the
speaker's norm, from pYIN and RMS) and rates are derived from them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.audio import prosody, speech_features, whisper
from reelscope.analyzers.audio.speech_features import Word
from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.core.errors import ModelUnavailable
from reelscope.core.needs import AnalyzerSpec, AudioRequest, Needs, PackageRequirement
from reelscope.core.results import AnalyzerOutput, Segment, Track

SAMPLE_RATE_HZ = 16000
# Whisper's own hallucination rule (openai/whisper transcribe.py): a segment it rates as likely
# silence AND decodes with low confidence is not speech.
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0


class SpeechTranscription(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        model: str = Field(
            whisper.DEFAULT_MODEL,
            min_length=1,
            description="base (multilingual, default), tiny.en (English, ~3x faster), an absolute path to a "
            "CTranslate2 Whisper folder, or a faster-whisper hub name (small, large-v3 ...) already cached",
        )
        language: str | None = Field(
            None, min_length=2, max_length=8, description="ISO 639-1 code (en, de ...); None: detect it"
        )
        beam_size: int = Field(5, ge=1, le=10, description="beam search width (1 = greedy, faster)")
        device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: the GPU when CTranslate2 sees one")
        compute_type: Literal["auto", "int8", "int8_float16", "float16", "float32"] = Field(
            "auto", description="auto: int8 on CPU, float16 on GPU"
        )
        vad_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="silero speech probability for voice")
        min_pause_s: float = Field(0.3, gt=0.0, le=5.0, description="shortest silent gap between words reported")
        emphasis_z: float = Field(
            1.0, gt=0.0, le=5.0, description="robust z-score above the speaker's norm, in both pitch and loudness"
        )

    spec = AnalyzerSpec(
        name="speech_transcription",
        version="1.0.0",
        description=(
            "Voice activity (silero), then Whisper with word timestamps and language detection; sentences, "
            "words per minute, pauses, fillers (EN, DE), emphasised words, speaking-time share, pitch and level."
        ),
        needs=Needs(audio=AudioRequest(sample_rate_hz=SAMPLE_RATE_HZ)),
        timeout_s=600.0,
        requires=(PackageRequirement("faster_whisper", "faster-whisper"), PackageRequirement("librosa")),
        tags=("audio", "speech"),
    )

    @classmethod
    def unavailable_reason(cls) -> tuple[str, str] | None:
        return whisper.packaged_problem(whisper.DEFAULT_MODEL)

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str], object] = {}
        # warm worker: load the default tier now, so the first job does not pay for it
        try:
            self._model(self.Params())
        except ModelUnavailable:
            pass  # reported per task, with the fix

    def _model(self, params: Params):  # noqa: ANN202 - faster_whisper.WhisperModel
        where = whisper.placement(params.device, params.compute_type)
        key = (params.model, where.device, where.compute_type)
        if key not in self._models:
            self._models[key] = whisper.load(params.model, where)
        return self._models[key]

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        params = context.params
        assert isinstance(params, SpeechTranscription.Params)
        if view.audio is None or view.audio.samples.shape[0] == 0:
            return _no_speech(0.0, params.model, [])
        audio = np.asarray(view.audio.samples, dtype=np.float32)
        sr = int(view.audio.sample_rate_hz)
        duration_s = audio.shape[0] / sr
        if view.media.duration_s > 0:
            duration_s = min(duration_s, view.media.duration_s)
        spans = prosody.speech_spans(audio, sr, threshold=params.vad_threshold)
        tracks = prosody.prosody_tracks(audio, sr, spans)
        track_out = _tracks(tracks, duration_s)
        if not spans:
            return _no_speech(duration_s, params.model, track_out)

        model = self._model(params)
        segments_iter, info = model.transcribe(
            audio,
            language=params.language,
            beam_size=params.beam_size,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters={"threshold": params.vad_threshold},
            condition_on_previous_text=False,  # one misheard sentence must not steer the next
        )
        sentences, words = [], []
        for seg in segments_iter:
            if seg.no_speech_prob > NO_SPEECH_PROB and seg.avg_logprob < LOW_LOGPROB:
                continue
            seg_words = [
                Word(min(w.start, duration_s), min(max(w.end, w.start), duration_s), w.word.strip(), w.probability,
                     len(sentences))
                for w in (seg.words or []) if w.word.strip()
            ]  # fmt: skip
            if not seg_words:
                continue
            sentences.append(seg)
            words.extend(seg_words)
        words = speech_features.snap_to_spans(words, spans)
        return _output(params, info, sentences, words, spans, tracks, track_out, duration_s)


def _tracks(tracks: prosody.ProsodyTracks, duration_s: float) -> list[Track]:
    keep = tracks.times_s <= duration_s
    times = tracks.times_s[keep].tolist()
    return [
        Track(name="pitch_hz", unit="hz", times_s=times, values=tracks.pitch_hz[keep].tolist()),
        Track(name="voice_energy_dbfs", unit="dbfs", times_s=times, values=tracks.energy_dbfs[keep].tolist()),
    ]


def _no_speech(duration_s: float, model: str, tracks: list[Track]) -> AnalyzerOutput:
    """Nothing was said: an honest empty transcript, Whisper never consulted."""
    return AnalyzerOutput(
        summary={
            "model": model,
            "language": None,
            "language_probability": None,
            "text": "",
            "word_count": 0,
            "sentence_count": 0,
            "speech_s": 0.0,
            "speaking_time_share": 0.0,
            "words_per_minute": None,
            "pause_count": 0,
            "mean_pause_s": None,
            "longest_pause_s": None,
            "filler_count": 0,
            "fillers": {},
            "emphasized_word_count": 0,
            "duration_s": round(duration_s, 3),
        },
        tracks=tracks,
    )


def _wpm(word_count: int, seconds: float) -> float | None:
    return round(word_count / seconds * 60.0, 1) if seconds >= 1.0 else None


def _output(params, info, sentences, words, spans, tracks, track_out, duration_s) -> AnalyzerOutput:  # noqa: ANN001
    speech_s = sum(e - s for s, e in spans)
    gaps = speech_features.pauses(words, params.min_pause_s)
    filler_hits = speech_features.fillers(words)
    emphasised = speech_features.emphasis(words, tracks.times_s, tracks.pitch_hz, tracks.energy_dbfs, params.emphasis_z)
    filler_index = {i for first, last, _ in filler_hits for i in range(first, last + 1)}
    emphasis_index = {e.index for e in emphasised}

    segments = [Segment(kind="speech", start_s=s, end_s=e, label="speech") for s, e in spans]
    for idx, seg in enumerate(sentences):
        own = [w for w in words if w.sentence == idx]
        start_s, end_s = own[0].start_s, max(w.end_s for w in own)
        segments.append(
            Segment(
                kind="sentence", start_s=start_s, end_s=end_s, label="sentence",
                attributes={
                    "text": seg.text.strip(), "language": info.language, "word_count": len(own),
                    "words_per_minute": _wpm(len(own), end_s - start_s),
                    "avg_logprob": round(float(seg.avg_logprob), 4), "no_speech_prob": round(float(seg.no_speech_prob), 4),
                },
            )
        )  # fmt: skip
    for i, w in enumerate(words):
        segments.append(
            Segment(
                kind="word", start_s=w.start_s, end_s=w.end_s, label="word",
                score=round(float(np.clip(w.probability, 0.0, 1.0)), 4),
                attributes={"text": w.text, "sentence": w.sentence, "filler": i in filler_index,
                            "emphasized": i in emphasis_index},
            )
        )  # fmt: skip
    segments += [
        Segment(kind="pause", start_s=s, end_s=e, label="pause", attributes={"duration_s": round(e - s, 3)})
        for s, e in gaps
    ]
    filler_counts: dict[str, int] = {}
    for first, last, label in filler_hits:
        filler_counts[label] = filler_counts.get(label, 0) + 1
        text = " ".join(words[k].text for k in range(first, last + 1))
        segments.append(
            Segment(kind="filler", start_s=words[first].start_s, end_s=words[last].end_s, label=label,
                    attributes={"text": text})
        )  # fmt: skip
    for e in emphasised:
        w = words[e.index]
        segments.append(
            Segment(kind="emphasis", start_s=w.start_s, end_s=w.end_s, label="emphasis", score=round(e.strength, 4),
                    attributes={"text": w.text, "energy_z": e.energy_z, "pitch_z": e.pitch_z})
        )  # fmt: skip

    pause_lengths = [e - s for s, e in gaps]
    summary = {
        "model": params.model,
        "language": info.language if words else None,
        "language_probability": round(float(info.language_probability), 4) if words else None,
        "text": " ".join(seg.text.strip() for seg in sentences),
        "word_count": len(words),
        "sentence_count": len(sentences),
        "speech_s": round(speech_s, 3),
        "speaking_time_share": round(min(1.0, speech_s / duration_s), 4) if duration_s > 0 else 0.0,
        "words_per_minute": _wpm(len(words), speech_s),
        "pause_count": len(gaps),
        "mean_pause_s": round(float(np.mean(pause_lengths)), 3) if gaps else None,
        "longest_pause_s": round(max(pause_lengths), 3) if gaps else None,
        "filler_count": len(filler_hits),
        "fillers": filler_counts,
        "emphasized_word_count": len(emphasised),
        "duration_s": round(duration_s, 3),
    }
    return AnalyzerOutput(summary=summary, segments=segments, tracks=track_out)
