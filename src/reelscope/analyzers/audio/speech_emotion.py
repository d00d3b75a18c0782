"""speech_emotion: prosody of the speech spans, and arousal / valence ESTIMATES built from it by
hand-set rules. There is no speech-emotion model here (none can run offline), so no categorical
emotion is claimed: every number is a prosodic measure or a rule over such measures, named as such.

Inputs. With a ``speech_transcription`` output, its ``speech`` segments, ``pitch_hz`` and
``voice_energy_dbfs`` tracks and its words are used (``rate_source="transcript_words"``: words per
minute from the word count, syllables from the words' spelling). Without one, speech spans (silero
VAD), pitch (pYIN) and level come from ``prosody.py`` and the rate from syllable nuclei
(``rate_source="syllable_nuclei"``): a simplified de Jong & Wempe (2009) count of level peaks at
least 2 dB above the dip before them, above (99th percentile - 25 dB), 0.1 s apart or more, and
voiced within +-0.06 s or carrying more energy below 1 kHz than above (pYIN misses some rough
vowels; the spectral check still rejects fricatives). Measured: 25..29 nuclei for 26 syllables of
espeak at 120..220 wpm, 26 for the 28 syllables of JFK's "ask not" sentence.

Measures (summary, and per segment): pitch median (Hz), pitch range (10th..90th percentile,
semitones), pitch variability (std of semitones re the speaker median), mean and std of the level
of voiced frames (dBFS, dB), syllables/s and words/min, pause share (frames inside speech spans
without voicing: pauses plus unvoiced consonants), alpha ratio (dB of 1..5 kHz over 50 Hz..1 kHz
energy in voiced frames; higher = tenser, brighter voice).

arousal_estimate (0..1): a weighted mean of four cues, each mapped linearly to 0..1 and clipped,
following the cues the vocal-affect literature ties to arousal (Scherer 2003; Juslin & Laukka
2003: louder, higher, more variable and faster speech with higher activation):
level -35..-10 dBFS (weight 0.35), rate 2.5..6.5 syllables/s (0.25), pitch variability 1..4 st
(0.25), pitch height 100..300 Hz on a log scale (0.15; low weight because it mostly says who is
speaking: a woman at rest scores ~0.7, a man ~0.1). Level is in dBFS, so recording gain moves it.
A cue that cannot be measured is left out and the weights renormalised; no level, no estimate.

valence_estimate (-1..1, 0 = neutral): prosody says little about valence (acoustic valence
prediction is far weaker than arousal prediction even with trained models), so this is a weak
rule with ``valence_confidence`` never above 0.2 (reached with 5 s of voicing):
0.6 x melody - 0.4 x tension. melody = (pitch variability - 2.25 st) / 1.75 st, clipped to -1..1
(wide pitch movement is reported for happy/tender speech, flat for sad); tension = (alpha ratio
+ 6 dB) / 6 dB, clipped (a tense, bright voice for anger). The centres are ordinary speech as
measured here (JFK 2.2 st / -4.7 dB, espeak 1.5..2 st / -6 dB), so ordinary speech lands near 0.
Both cues also rise with arousal and depend on the microphone.

prosodic_labels (summary, and the segment label): ``monotone`` when pitch variability <
``monotone_max_st`` (1.5 st; measured: JFK 2.2, espeak 1.2..2.0 by text and pitch setting, a
constant pitch 0), ``expressive`` when > ``expressive_min_st`` (4 st); both need ``min_label_voiced_s`` of
voicing (2 s). ``energetic`` when arousal >= 0.6, ``calm`` when <= 0.35. A segment's label is the one
passed by the widest margin (relative to its threshold), or ``neutral``.

Track ``arousal_estimate`` (ratio): every 1 s (centres of [k, k+1)), from the speech in a 3 s
window, None where the second holds under 0.25 s of speech.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from reelscope.analyzers.audio import prosody
from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.core.needs import AnalyzerSpec, AudioRequest, Needs, PackageRequirement
from reelscope.core.results import AnalyzerOutput, Segment, Track

HOP_S = prosody.HOP_S
MIN_VOICED_FRAMES = 10  # 0.2 s of pitch before a pitch measure is given
# Arousal cues: (name, weight, low, high) mapped low->0, high->1
AROUSAL_CUES = (("level", 0.35, -35.0, -10.0), ("rate", 0.25, 2.5, 6.5),
                ("pitch_variability", 0.25, 1.0, 4.0), ("pitch_height", 0.15, 0.0, math.log2(3.0)))  # fmt: skip
PITCH_HEIGHT_REF_HZ = 100.0  # pitch_height cue: octaves above this, 100 Hz -> 0, 300 Hz -> 1
# valence cues: (centre, half-width) mapped to -1..1
MELODY_ST, TENSION_ALPHA_DB = (2.25, 1.75), (-6.0, 6.0)
VALENCE_MAX_CONFIDENCE = 0.2
TRACK_HOP_S, TRACK_WINDOW_S, TRACK_MIN_SPEECH_S = 1.0, 3.0, 0.25
NUCLEUS_MIN_DIP_DB, NUCLEUS_BELOW_P99_DB, NUCLEUS_MIN_GAP_S, NUCLEUS_VOICED_NEAR = 2.0, 25.0, 0.1, 3
SPECTRUM_WINDOW_S = 0.032
_VOWELS = re.compile(r"[aeiouy]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")  # kana, CJK ideographs, hangul


def _ramp(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def _r(value: float | None, ndigits: int = 2) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), ndigits)


def word_syllables(text: str, language: str = "en") -> int:
    """Syllables of one written word: one per kana/CJK/hangul character, else vowel-letter groups
    (accents stripped), less an English silent final e; at least 1. About +-10 % on English."""
    cjk = len(_CJK.findall(text))
    if cjk:
        return cjk
    plain = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
    plain = re.sub(r"[^a-z]", "", plain)
    groups = len(_VOWELS.findall(plain))
    if language == "en" and groups > 1 and plain.endswith("e") and not plain.endswith(("le", "ee", "ye")):
        groups -= 1
    return max(1, groups)


@dataclass(frozen=True)
class _Voice:
    """Everything measured once, on the prosody grid (``times_s``), plus timed rate events."""

    times_s: np.ndarray
    pitch_hz: np.ndarray  # NaN where unvoiced
    energy_dbfs: np.ndarray  # -inf/NaN where silent or unknown
    in_speech: np.ndarray
    band_low: np.ndarray  # spectral energy 50 Hz..1 kHz per frame (0 outside speech)
    band_high: np.ndarray  # 1..5 kHz
    spans: np.ndarray  # (n, 2) start_s, end_s
    syllable_times_s: np.ndarray  # sorted, with ``syllable_counts`` at each
    syllable_counts: np.ndarray
    word_times_s: np.ndarray | None  # word midpoints, None without a transcript
    reference_hz: float | None  # the speaker's median pitch


class SpeechEmotion(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        monotone_max_st: float = Field(
            1.5, gt=0, description="pitch variability (std, semitones) under which speech is labelled monotone"
        )
        expressive_min_st: float = Field(
            4.0, gt=0, description="pitch variability (std, semitones) over which speech is labelled expressive"
        )
        energetic_min_arousal: float = Field(0.6, ge=0, le=1, description="arousal_estimate from which 'energetic'")
        calm_max_arousal: float = Field(0.35, ge=0, le=1, description="arousal_estimate up to which 'calm'")
        min_label_voiced_s: float = Field(
            # pitch spread over one short phrase says little: JFK's last 2.5 s phrase has 1.4 st
            # over 1.3 s of voicing, his whole 11 s clip 2.2 st
            2.0,
            ge=0,
            description="voiced time (s) a span needs before monotone/expressive are judged",
        )

        @model_validator(mode="after")
        def _ordered(self) -> SpeechEmotion.Params:
            if self.monotone_max_st >= self.expressive_min_st:
                raise ValueError("monotone_max_st must be below expressive_min_st")
            if self.calm_max_arousal >= self.energetic_min_arousal:
                raise ValueError("calm_max_arousal must be below energetic_min_arousal")
            return self

    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="speech_emotion",
        version="1.0.0",
        description=(
            "Prosody of speech (pitch, level, rate, pauses) with rule-based arousal and valence "
            "estimates and prosodic labels (calm, energetic, monotone, expressive); no emotion model."
        ),
        needs=Needs(audio=AudioRequest(sample_rate_hz=prosody.VAD_SAMPLE_RATE_HZ), after=("speech_transcription",)),
        timeout_s=300.0,
        requires=(
            PackageRequirement("librosa"),
            PackageRequirement("faster_whisper", "faster-whisper"),
            PackageRequirement("onnxruntime"),
        ),
        tags=("audio", "speech", "prosody"),
    )

    def __init__(self) -> None:
        # pYIN's numba kernels compile on first use (~1 s) and the VAD loads its model: pay both
        # once per warm worker, not in the first job.
        sr = prosody.VAD_SAMPLE_RATE_HZ
        t = np.arange(sr) / sr
        tone = (0.1 * np.sin(2 * np.pi * 120.0 * t)).astype(np.float32)
        prosody.speech_spans(tone, sr)
        prosody.prosody_tracks(tone, sr, [(0.0, 1.0)])

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        params = context.params
        assert isinstance(params, SpeechEmotion.Params)
        if view.audio is None or view.audio.samples.shape[0] == 0:
            return _no_speech(max(0.0, view.media.duration_s), "no audio samples")
        sr = int(view.audio.sample_rate_hz)
        samples = np.asarray(view.audio.samples, dtype=np.float32)
        duration_s = samples.shape[0] / sr
        if view.media.duration_s > 0:
            duration_s = min(duration_s, view.media.duration_s)
        transcript = context.outputs.get("speech_transcription")
        voice, rate_source, sentences = _gather(samples, sr, transcript)
        if voice is None:
            return _no_speech(duration_s, "no speech found")

        measures = _measure(voice, 0.0, duration_s)
        labels = sorted(_label_margins(measures, params))
        summary = {
            **measures,
            "valence_scale": "-1..1",
            "prosodic_labels": labels,
            "rate_source": rate_source,
            "segment_source": "transcript_sentences" if sentences else "speech_spans",
            "duration_s": round(duration_s, 3),
        }
        segments = []
        for start_s, end_s in sentences or voice.spans.tolist():
            start_s, end_s = min(start_s, duration_s), min(end_s, duration_s)
            m = _measure(voice, start_s, end_s)
            margins = _label_margins(m, params)
            m["labels"] = sorted(margins)
            # the label passed by the widest margin
            label = max(margins, key=margins.__getitem__) if margins else "neutral"
            segments.append(Segment(kind="speech_prosody", start_s=start_s, end_s=end_s, label=label, attributes=m))
        return AnalyzerOutput(summary=summary, segments=segments, tracks=[_arousal_track(voice, duration_s)])


# --- inputs ---------------------------------------------------------------------------------------


def _gather(samples: np.ndarray, sr: int, transcript: AnalyzerOutput | None):
    """(voice or None when there is no speech, rate_source, sentence intervals or [])."""
    words: list[Segment] = []
    sentences: list[tuple[float, float]] = []
    language = "en"
    if transcript is not None:
        spans = [(s.start_s, s.end_s) for s in transcript.segments_of("speech") if s.end_s > s.start_s]
        words = transcript.segments_of("word")
        sentences = [(s.start_s, s.end_s) for s in transcript.segments_of("sentence") if s.end_s > s.start_s]
        language = str(transcript.summary.get("language") or "en")
        tracks = _transcript_tracks(transcript)
    else:
        spans = prosody.speech_spans(samples, sr)
        tracks = None
    if not spans:
        return None, None, []
    rate_source = "transcript_words" if words else "syllable_nuclei"
    if tracks is None:
        tracks = prosody.prosody_tracks(samples, sr, spans)
    times_s = tracks.times_s
    in_speech = np.zeros(times_s.shape[0], bool)
    for start_s, end_s in spans:
        in_speech[np.searchsorted(times_s, start_s) : np.searchsorted(times_s, end_s)] = True
    pitch = np.where(in_speech, tracks.pitch_hz, np.nan)
    low, high = _band_energies(samples, sr, times_s, in_speech)
    if words:
        mids = np.array([(w.start_s + w.end_s) / 2 for w in words])
        order = np.argsort(mids)
        counts = np.array([word_syllables(words[i].attributes.get("text", ""), language) for i in order])
        syllable_times, word_times = mids[order], mids[order]
    else:
        syllable_times = _syllable_nuclei(times_s, tracks.energy_dbfs, pitch, in_speech, low, high)
        counts, word_times = np.ones(syllable_times.shape[0], int), None
    voiced = pitch[np.isfinite(pitch)]
    voice = _Voice(
        times_s, pitch, tracks.energy_dbfs, in_speech, low, high, np.array(spans, float).reshape(-1, 2),
        syllable_times, counts, word_times, float(np.median(voiced)) if voiced.size else None,
    )  # fmt: skip
    return voice, rate_source, sentences


def _transcript_tracks(transcript: AnalyzerOutput) -> prosody.ProsodyTracks | None:
    """The transcription's pitch and level tracks as arrays, or None when either is missing."""
    pitch, level = transcript.track("pitch_hz"), transcript.track("voice_energy_dbfs")
    if pitch is None or level is None or len(pitch.values) != len(level.values) or not pitch.values:
        return None

    def arr(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    return prosody.ProsodyTracks(np.asarray(pitch.times_s, dtype=np.float64), arr(pitch.values), arr(level.values))


def _band_energies(samples: np.ndarray, sr: int, times_s: np.ndarray, in_speech: np.ndarray):
    """Hann-windowed power below 1 kHz (from 50 Hz) and in 1..5 kHz, per speech frame (0 elsewhere)."""
    n_fft = int(2 ** round(math.log2(SPECTRUM_WINDOW_S * sr)))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    low_bins, high_bins = (freqs >= 50) & (freqs < 1000), (freqs >= 1000) & (freqs < 5000)
    low, high = np.zeros(times_s.shape[0]), np.zeros(times_s.shape[0])
    padded = np.pad(samples.astype(np.float64), n_fft // 2)
    idx = np.flatnonzero(in_speech)
    window = np.hanning(n_fft)
    for chunk in np.array_split(idx, max(1, idx.size // 4096 + 1)):  # bounded memory on long media
        starts = np.clip(np.round(times_s[chunk] * sr).astype(int), 0, samples.shape[0])
        frames = padded[starts[:, None] + np.arange(n_fft)[None, :]]
        power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
        low[chunk], high[chunk] = power[:, low_bins].sum(axis=1), power[:, high_bins].sum(axis=1)
    return low, high


def _syllable_nuclei(times_s, energy_dbfs, pitch_hz, in_speech, low, high) -> np.ndarray:
    """Times of syllable nuclei (simplified de Jong & Wempe 2009, see the module docstring)."""
    from scipy.signal import find_peaks

    level = np.where(np.isfinite(energy_dbfs), energy_dbfs, -120.0)
    if not in_speech.any():
        return np.zeros(0)
    floor = np.percentile(level[in_speech], 99) - NUCLEUS_BELOW_P99_DB
    peaks, _ = find_peaks(level, prominence=NUCLEUS_MIN_DIP_DB, distance=max(1, round(NUCLEUS_MIN_GAP_S / HOP_S)))
    peaks = peaks[in_speech[peaks] & (level[peaks] >= floor)]
    voiced = np.isfinite(pitch_hz)
    near = NUCLEUS_VOICED_NEAR
    keep = [voiced[max(0, p - near) : p + near + 1].any() or low[p] > high[p] for p in peaks]
    return times_s[peaks[np.asarray(keep, bool)]] if peaks.size else np.zeros(0)


# --- measures, estimates, labels ---------------------------------------------------------------


def _measure(voice: _Voice, start_s: float, end_s: float) -> dict:
    """Every prosodic measure, arousal and valence over the speech inside [start_s, end_s)."""
    a, b = np.searchsorted(voice.times_s, start_s), np.searchsorted(voice.times_s, end_s)
    speech = voice.in_speech[a:b]
    pitch = voice.pitch_hz[a:b][speech]
    voiced = np.isfinite(pitch)
    f0 = pitch[voiced]
    level = voice.energy_dbfs[a:b][speech][voiced]
    level = level[np.isfinite(level)]
    speech_s = _overlap_s(voice.spans, start_s, end_s)
    m: dict = {"speech_s": _r(speech_s, 3)}
    if f0.size >= MIN_VOICED_FRAMES and voice.reference_hz:
        st = prosody.semitones(f0, voice.reference_hz)
        m |= {"pitch_median_hz": _r(np.median(f0), 1), "pitch_range_st": _r(np.percentile(st, 90) - np.percentile(st, 10)),
              "pitch_variability_st": _r(np.std(st))}  # fmt: skip
    else:
        m |= {"pitch_median_hz": None, "pitch_range_st": None, "pitch_variability_st": None}
    m["voiced_s"] = _r(f0.size * HOP_S, 3)
    m["energy_mean_dbfs"] = _r(np.mean(level)) if level.size else None
    m["energy_variability_db"] = _r(np.std(level)) if level.size >= MIN_VOICED_FRAMES else None
    ev = slice(*np.searchsorted(voice.syllable_times_s, [start_s, end_s]))
    m["syllables_per_s"] = _r(voice.syllable_counts[ev].sum() / speech_s) if speech_s > 0 else None
    m["speaking_rate_wpm"] = None
    if voice.word_times_s is not None and speech_s > 0:
        n_words = np.diff(np.searchsorted(voice.word_times_s, [start_s, end_s]))[0]
        m["speaking_rate_wpm"] = _r(60.0 * n_words / speech_s, 1)
    m["pause_share"] = _r(1.0 - voiced.sum() / speech.sum(), 3) if speech.any() else None
    v_low = voice.band_low[a:b][speech][voiced].sum()
    v_high = voice.band_high[a:b][speech][voiced].sum()
    m["alpha_ratio_db"] = _r(10 * math.log10(v_high / v_low), 1) if v_low > 0 and v_high > 0 else None
    m["arousal_estimate"], m["arousal_basis"] = _arousal(m)
    m["valence_estimate"], m["valence_basis"], m["valence_confidence"] = _valence(m)
    return m


def _arousal(m: dict) -> tuple[float | None, str]:
    if m["energy_mean_dbfs"] is None:
        return None, "no voiced speech"
    raw = {"level": m["energy_mean_dbfs"], "rate": m["syllables_per_s"], "pitch_variability": m["pitch_variability_st"],
           "pitch_height": None if m["pitch_median_hz"] is None else math.log2(m["pitch_median_hz"] / PITCH_HEIGHT_REF_HZ)}  # fmt: skip
    used = [(w, _ramp(raw[name], lo, hi)) for name, w, lo, hi in AROUSAL_CUES if raw[name] is not None]
    value = sum(w * c for w, c in used) / sum(w for w, _ in used)
    parts = [f"level {m['energy_mean_dbfs']:.1f} dBFS"]
    if m["syllables_per_s"] is not None:
        parts.append(f"rate {m['syllables_per_s']:.1f} syl/s")
    if m["pitch_variability_st"] is not None:
        parts.append(f"pitch variability {m['pitch_variability_st']:.1f} st, pitch {m['pitch_median_hz']:.0f} Hz")
    return round(value, 3), "prosody rule: " + ", ".join(parts)


def _valence(m: dict) -> tuple[float | None, str, float]:
    if m["pitch_variability_st"] is None or m["alpha_ratio_db"] is None:
        return None, "too little voiced speech", 0.0
    melody = float(np.clip((m["pitch_variability_st"] - MELODY_ST[0]) / MELODY_ST[1], -1.0, 1.0))
    tension = float(np.clip((m["alpha_ratio_db"] - TENSION_ALPHA_DB[0]) / TENSION_ALPHA_DB[1], -1.0, 1.0))
    confidence = VALENCE_MAX_CONFIDENCE * min(1.0, (m["voiced_s"] or 0.0) / 5.0)
    basis = (f"weak prosody rule: pitch variability {m['pitch_variability_st']:.1f} st (+), "
             f"alpha ratio {m['alpha_ratio_db']:.1f} dB (-)")  # fmt: skip
    return round(0.6 * melody - 0.4 * tension, 3), basis, round(confidence, 3)


def _label_margins(m: dict, p: SpeechEmotion.Params) -> dict[str, float]:
    """Each label the measures pass, with how far past its threshold (relative), for ranking."""
    out: dict[str, float] = {}
    arousal, variability = m["arousal_estimate"], m["pitch_variability_st"]
    if arousal is not None:
        if arousal >= p.energetic_min_arousal:
            out["energetic"] = (arousal - p.energetic_min_arousal) / max(1e-6, 1 - p.energetic_min_arousal)
        elif arousal <= p.calm_max_arousal:
            out["calm"] = (p.calm_max_arousal - arousal) / max(1e-6, p.calm_max_arousal)
    if variability is not None and (m["voiced_s"] or 0.0) >= p.min_label_voiced_s:
        if variability < p.monotone_max_st:
            out["monotone"] = (p.monotone_max_st - variability) / p.monotone_max_st
        elif variability > p.expressive_min_st:
            out["expressive"] = (variability - p.expressive_min_st) / p.expressive_min_st
    return out


def _overlap_s(spans: np.ndarray, start_s: float, end_s: float) -> float:
    """Seconds of the (n, 2) ``spans`` inside [start_s, end_s)."""
    return float(np.clip(np.minimum(spans[:, 1], end_s) - np.maximum(spans[:, 0], start_s), 0.0, None).sum())


def _track_blocks(duration_s: float) -> list[tuple[float, float]]:
    """The track's blocks [k, k+1) s, the last one cut at the end of the media."""
    n = math.ceil(duration_s / TRACK_HOP_S)
    return [(k * TRACK_HOP_S, min((k + 1) * TRACK_HOP_S, duration_s)) for k in range(n)]


def _arousal_track(voice: _Voice | None, duration_s: float) -> Track:
    """Arousal at each block centre from the speech of a TRACK_WINDOW_S window around it; None
    where the block itself holds too little speech (or there is no speech at all)."""
    times, values = [], []
    for start_s, end_s in _track_blocks(duration_s):
        centre_s = (start_s + end_s) / 2
        value = None
        if voice is not None:
            if _overlap_s(voice.spans, start_s, end_s) >= TRACK_MIN_SPEECH_S:
                half = TRACK_WINDOW_S / 2
                value = _measure(voice, max(0.0, centre_s - half), centre_s + half)["arousal_estimate"]
        times.append(centre_s)
        values.append(value)
    return Track(name="arousal_estimate", unit="ratio", times_s=times, values=values)


def _no_speech(duration_s: float, note: str) -> AnalyzerOutput:
    """No speech: every measure None (not zero, which would be a claim), no labels, no segments."""
    keys = ("pitch_median_hz", "pitch_range_st", "pitch_variability_st", "voiced_s", "energy_mean_dbfs",
            "energy_variability_db", "syllables_per_s", "speaking_rate_wpm", "pause_share", "alpha_ratio_db",
            "arousal_estimate", "valence_estimate")  # fmt: skip
    summary = {"speech_s": 0.0, **dict.fromkeys(keys), "arousal_basis": note, "valence_basis": note,
               "valence_confidence": 0.0, "valence_scale": "-1..1", "prosodic_labels": [], "rate_source": None,
               "segment_source": None, "duration_s": round(duration_s, 3), "note": note}  # fmt: skip
    return AnalyzerOutput(summary=summary, tracks=[_arousal_track(None, duration_s)])
