"""What speech_transcription derives from timed words: word times snapped to voice activity,
pauses, filler words (English and German) and emphasised words. Pure functions over plain data,
so each rule is tested on its own."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

# Hesitation sounds and discourse fillers. Words that are fillers only sometimes ("like", "so",
# "also", "halt") are left out: counting them would call real content a filler.
FILLER_WORDS = {
    "um": "um", "umm": "um", "uhm": "um", "uh": "uh", "uhh": "uh", "er": "er", "erm": "erm",
    "ah": "ah", "hmm": "hmm", "hm": "hmm", "mm": "hmm", "mhm": "hmm",
    "äh": "aeh", "ähm": "aehm", "öh": "oeh", "öhm": "oehm", "eh": "eh", "ehm": "ehm", "sozusagen": "sozusagen",
}  # fmt: skip
FILLER_PHRASES = {("you", "know"): "you_know", ("i", "mean"): "i_mean", ("sort", "of"): "sort_of"}
MIN_WORDS_FOR_NORM = 8
# Floors under the speaker's spread: a very even speaker (or TTS) must still rise by an audible
# step, not by a fraction of a dB, for a word to count as emphasised.
MIN_ENERGY_SPREAD_DB = 2.0
MIN_PITCH_SPREAD_ST = 1.0


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float
    sentence: int

    @property
    def bare(self) -> str:
        """Lower case without surrounding punctuation: the form the filler lists use."""
        return re.sub(r"^[^\wäöüß]+|[^\wäöüß]+$", "", self.text.lower())


def snap_to_spans(words: list[Word], spans: list[tuple[float, float]]) -> list[Word]:
    """Clip each word to the voice-activity span it overlaps most.

    Whisper's cross-attention timing tends to stretch a word over the silence before it (JFK: "ask"
    2.10-3.72 s where the voice starts at 3.23 s); the VAD knows where the voice is, so pauses
    between words come out where they are heard.
    """
    out = []
    for word in words:
        best, best_overlap = None, 0.0
        for start_s, end_s in spans:
            overlap = min(word.end_s, end_s) - max(word.start_s, start_s)
            if overlap > best_overlap:
                best, best_overlap = (start_s, end_s), overlap
        if best is None:
            out.append(word)
            continue
        start_s, end_s = max(word.start_s, best[0]), min(word.end_s, best[1])
        out.append(replace(word, start_s=start_s, end_s=max(end_s, start_s)))
    return out


def pauses(words: list[Word], min_pause_s: float) -> list[tuple[float, float]]:
    """Silent gaps between consecutive words lasting at least ``min_pause_s``."""
    return [
        (a.end_s, b.start_s) for a, b in pairwise(words) if b.start_s - a.end_s >= min_pause_s - 1e-9
    ]


def fillers(words: list[Word]) -> list[tuple[int, int, str]]:
    """(first word index, last word index, label) for every filler word or phrase."""
    found = []
    i = 0
    while i < len(words):
        pair = (words[i].bare, words[i + 1].bare) if i + 1 < len(words) else None
        if pair in FILLER_PHRASES:
            found.append((i, i + 1, FILLER_PHRASES[pair]))
            i += 2
            continue
        if words[i].bare in FILLER_WORDS:
            found.append((i, i, FILLER_WORDS[words[i].bare]))
        i += 1
    return found


def _robust_z(values: np.ndarray, min_spread: float) -> np.ndarray:
    """(x - median) / max(1.4826 * MAD, min_spread): a speaker's norm that a few shouted words do
    not move."""
    finite = values[np.isfinite(values)]
    if finite.size < MIN_WORDS_FOR_NORM:
        return np.full(values.shape, np.nan)
    median = float(np.median(finite))
    spread = max(1.4826 * float(np.median(np.abs(finite - median))), min_spread)
    return (values - median) / spread


@dataclass(frozen=True)
class Emphasis:
    index: int
    energy_z: float
    pitch_z: float | None
    strength: float  # 0..1


def emphasis(
    words: list[Word],
    times_s: np.ndarray,
    pitch_hz: np.ndarray,
    energy_dbfs: np.ndarray,
    threshold_z: float,
) -> list[Emphasis]:
    """Words whose loudness AND pitch both stand ``threshold_z`` robust deviations above the
    speaker's own norm (the median word). A word with no voiced frame needs twice the energy
    deviation. Fewer than MIN_WORDS_FOR_NORM words give no norm, so nothing is emphasised."""
    if len(words) < MIN_WORDS_FOR_NORM or times_s.size == 0:
        return []
    word_energy = np.full(len(words), np.nan)
    word_pitch = np.full(len(words), np.nan)
    for i, w in enumerate(words):
        inside = (times_s >= w.start_s) & (times_s < max(w.end_s, w.start_s + 0.02))
        energy = energy_dbfs[inside]
        energy = energy[np.isfinite(energy)]
        if energy.size:
            word_energy[i] = float(np.max(energy))
        pitch = pitch_hz[inside]
        pitch = pitch[np.isfinite(pitch)]
        if pitch.size:
            # semitones: pitch deviations are perceived (and spread) on a log scale
            word_pitch[i] = 12.0 * math.log2(float(np.median(pitch)))
    energy_z = _robust_z(word_energy, MIN_ENERGY_SPREAD_DB)
    pitch_z = _robust_z(word_pitch, MIN_PITCH_SPREAD_ST)
    out = []
    for i in range(len(words)):
        e, p = energy_z[i], pitch_z[i]
        if not np.isfinite(e):
            continue
        if np.isfinite(p):
            hit = e >= threshold_z and p >= threshold_z
            mean_z = (e + p) / 2.0
        else:
            hit = e >= 2.0 * threshold_z
            mean_z = e / 2.0
        if hit:
            strength = float(np.clip(mean_z / (3.0 * threshold_z), 0.0, 1.0))
            out.append(Emphasis(i, round(float(e), 3), round(float(p), 3) if np.isfinite(p) else None, strength))
    return out
