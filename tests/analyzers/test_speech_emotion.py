"""speech_emotion on voices with known differences: espeak-ng speech rendered slow/low/quiet vs
fast/high/loud, flat synthetic voices, pitched square waves and glides, silence and noise, a
hand-built speech_transcription output, and (when present) the real JFK clip."""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import signal
from scipy.io import wavfile

from reelscope.analyzers.audio.speech_emotion import SpeechEmotion, word_syllables
from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.core.media_info import MediaInfo
from reelscope.core.results import AnalyzerOutput, Segment, Track
from reelscope.media.bundle import AudioClip

SR = 16000
ESPEAK = "/usr/bin/espeak-ng"
TEXT = "The quick brown fox jumps over the lazy dog. We walked along the river until the evening light faded."
LABELS = {"calm", "energetic", "monotone", "expressive"}


@pytest.fixture(scope="module")
def analyzer() -> SpeechEmotion:
    return SpeechEmotion()


def _espeak(text: str, *, rate: int = 160, pitch: int = 50, amplitude: int = 100) -> np.ndarray:
    if not Path(ESPEAK).is_file() and shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: the synthetic-speech tests need it to render voices")
    exe = ESPEAK if Path(ESPEAK).is_file() else shutil.which("espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "voice.wav"
        cmd = [exe, "-v", "en", "-s", str(rate), "-p", str(pitch), "-a", str(amplitude), "-w", str(out), text]
        subprocess.run(cmd, check=True, capture_output=True, timeout=20)
        rate_hz, pcm = wavfile.read(out)
    g = math.gcd(SR, rate_hz)
    return signal.resample_poly(pcm.astype(np.float64) / 32768.0, SR // g, rate_hz // g).astype(np.float32)


def _info(duration_s: float) -> MediaInfo:
    return MediaInfo(
        path="synthetic.wav", file_size_bytes=0, sha256="0" * 64, container="wav",
        duration_s=duration_s, has_video=False, has_audio=True, audio_sample_rate_hz=SR, audio_channels=1,
    )  # fmt: skip


def _run(analyzer: SpeechEmotion, samples: np.ndarray, transcript: AnalyzerOutput | None = None, **params):
    samples = np.asarray(samples, dtype=np.float32)
    duration_s = samples.shape[0] / SR
    outputs = {"speech_transcription": transcript} if transcript is not None else {}
    context = AnalysisContext(params=SpeechEmotion.validate_params(params), outputs=outputs)
    out = analyzer.analyze(MediaView(_info(duration_s), None, AudioClip(samples, SR)), context)
    for seg in out.segments:
        assert seg.kind == "speech_prosody" and 0.0 <= seg.start_s <= seg.end_s <= duration_s + 1e-3
        assert seg.label in LABELS | {"neutral"} and set(seg.attributes["labels"]) <= LABELS
    assert set(out.summary["prosodic_labels"]) <= LABELS
    track = out.track("arousal_estimate")
    assert track is not None and track.unit == "ratio" and len(track.times_s) == math.ceil(duration_s - 1e-9)
    assert all(v is None or 0.0 <= v <= 1.0 for v in track.values)
    return out


def _speech_only(spans: list[tuple[float, float]]) -> AnalyzerOutput:
    """A transcription that found these speech spans but no words (and, like an older or partial
    output, no tracks): the analyzer measures pitch and level itself over the given spans. Synthetic
    tones need this, silero VAD (rightly) hears no speech in them."""
    return AnalyzerOutput(segments=[Segment(kind="speech", start_s=s, end_s=e, label="speech") for s, e in spans])


def _pulse_voice(f0_hz: np.ndarray, envelope_hz: float = 0.0) -> np.ndarray:
    """A sawtooth (glottal-pulse-like, rich in harmonics) following ``f0_hz`` per sample, with an
    optional slow amplitude envelope (syllable-like swells that never reach silence)."""
    t = np.arange(f0_hz.shape[0]) / SR
    wave = signal.sawtooth(2 * np.pi * np.cumsum(f0_hz) / SR)
    env = 0.6 + 0.4 * np.cos(2 * np.pi * envelope_hz * t) if envelope_hz else 1.0
    return 0.2 * env * wave


def test_loud_fast_high_voice_has_higher_arousal(analyzer):
    low = _run(analyzer, _espeak(TEXT, rate=120, pitch=25, amplitude=40)).summary
    high = _run(analyzer, _espeak(TEXT, rate=220, pitch=75, amplitude=180)).summary
    # every cue moves the way it was rendered
    assert high["energy_mean_dbfs"] > low["energy_mean_dbfs"] + 8.0
    assert high["pitch_median_hz"] > low["pitch_median_hz"] * 1.3
    assert high["syllables_per_s"] > low["syllables_per_s"] * 1.25
    assert high["arousal_estimate"] > low["arousal_estimate"] + 0.2
    assert "calm" in low["prosodic_labels"] and "calm" not in high["prosodic_labels"]
    assert low["rate_source"] == high["rate_source"] == "syllable_nuclei"
    assert low["speaking_rate_wpm"] is None  # no words without a transcript
    # 26 written syllables: the nucleus count lands near it at both rates
    for s in (low, high):
        assert 20 <= s["syllables_per_s"] * s["speech_s"] <= 32
        assert "level" in s["arousal_basis"] and 0.0 < s["valence_confidence"] <= 0.2
        assert -1.0 <= s["valence_estimate"] <= 1.0


def test_flat_voice_is_monotone_and_espeak_is_not(analyzer):
    flat = _pulse_voice(np.full(5 * SR, 120.0), envelope_hz=1.5)
    out = _run(analyzer, flat, _speech_only([(0.0, 5.0)]))
    assert out.summary["pitch_median_hz"] == pytest.approx(120.0, rel=0.03)
    assert out.summary["pitch_variability_st"] < 0.3
    assert "monotone" in out.summary["prosodic_labels"]
    assert "monotone" in out.segments[0].attributes["labels"]
    # the 1.5 Hz swells are syllable-like level peaks: 7 of them lie inside the 5 s (0 s is an edge)
    assert out.summary["syllables_per_s"] * 5.0 == pytest.approx(7, abs=1)
    speech = _espeak(
        "Really? You did that yesterday? That is wonderful! I cannot believe it. Where did you find the time?"
    )
    s = _run(analyzer, speech).summary
    assert s["pitch_variability_st"] > 1.5 and "monotone" not in s["prosodic_labels"]


def test_alternating_high_and_low_phrases_are_expressive(analyzer):
    phrases = [("We walked along the river.", 5), ("Really? All the way there?", 95)]
    parts = [_espeak(text, pitch=pitch) for text, pitch in phrases * 2]
    s = _run(analyzer, np.concatenate(parts)).summary
    assert s["pitch_variability_st"] > 4.0 and "expressive" in s["prosodic_labels"]
    assert "monotone" not in s["prosodic_labels"]


def test_square_wave_pitch_and_glide_range(analyzer):
    t = np.arange(4 * SR) / SR
    square = 0.2 * signal.square(2 * np.pi * 150.0 * t)
    s = _run(analyzer, square, _speech_only([(0.0, 4.0)])).summary
    assert s["pitch_median_hz"] == pytest.approx(150.0, rel=0.03)
    assert s["pitch_range_st"] < 0.5
    # 100 -> 200 Hz, even in semitones over 4 s: 12 st in all, so 10th..90th percentile = 0.8 x 12
    glide_hz = 100.0 * 2 ** (t / 4.0)
    s = _run(analyzer, 0.2 * signal.square(2 * np.pi * np.cumsum(glide_hz) / SR), _speech_only([(0.0, 4.0)])).summary
    assert s["pitch_range_st"] == pytest.approx(9.6, abs=0.6)
    assert s["pitch_median_hz"] == pytest.approx(100.0 * math.sqrt(2), rel=0.03)
    assert s["pitch_variability_st"] == pytest.approx(12 / math.sqrt(12), abs=0.3)  # std of a uniform 12 st


@pytest.mark.parametrize("kind", ["silence", "white_noise"])
def test_no_speech_gives_nulls_not_values(analyzer, kind):
    rng = np.random.default_rng(4)
    samples = np.zeros(3 * SR) if kind == "silence" else 0.1 * rng.standard_normal(3 * SR)
    out = _run(analyzer, samples)
    s = out.summary
    assert s["speech_s"] == 0
    assert s["arousal_estimate"] is None and s["valence_estimate"] is None and s["pitch_median_hz"] is None
    assert s["prosodic_labels"] == [] and out.segments == []
    assert all(v is None for v in out.track("arousal_estimate").values)


def test_no_audio_at_all(analyzer):
    view = MediaView(_info(2.0), None, None)
    out = analyzer.analyze(view, AnalysisContext(params=SpeechEmotion.Params()))
    assert out.summary["speech_s"] == 0 and out.summary["arousal_estimate"] is None


def _grid_track(name: str, unit: str, duration_s: float, spans, value: float) -> Track:
    """``value`` every 0.02 s inside ``spans``, None elsewhere (as speech_transcription writes them)."""
    times = (np.arange(round(duration_s / 0.02)) * 0.02 + 0.01).tolist()
    inside = [any(s <= t < e for s, e in spans) for t in times]
    return Track(name=name, unit=unit, times_s=times, values=[value if i else None for i in inside])


def test_transcript_words_give_the_rate_and_its_tracks_are_used(analyzer):
    spans = [(0.8, 2.5), (3.0, 5.5)]  # 4.2 s of speech
    sentence_words = [
        ["And", "so", "my", "fellow", "Americans,"],  # 1+1+1+2+4 syllables
        ["ask", "not", "what", "your", "country"],  # 1+1+1+1+2
    ]
    segments = [Segment(kind="speech", start_s=s, end_s=e, label="speech") for s, e in spans]
    for i, ((start_s, end_s), words) in enumerate(zip(spans, sentence_words, strict=True)):
        segments.append(Segment(kind="sentence", start_s=start_s, end_s=end_s, label="sentence",
                                attributes={"text": " ".join(words), "language": "en"}))  # fmt: skip
        step = (end_s - start_s) / len(words)
        for k, word in enumerate(words):
            w0 = start_s + k * step
            segments.append(Segment(kind="word", start_s=w0, end_s=w0 + 0.8 * step, label="word", score=0.9,
                                    attributes={"text": word, "sentence": i, "filler": False, "emphasized": False}))  # fmt: skip
    # The tracks say 200 Hz at -20 dBFS; the audio is a 120 Hz voice at another level. Reading
    # 200 / -20 proves the analyzer took the transcription's tracks instead of measuring again.
    transcript = AnalyzerOutput(
        summary={"language": "en", "word_count": 10},
        segments=segments,
        # voiced everywhere in the speech but its last 0.5 s (an unvoiced tail: pause_share 0.5 / 4.2)
        tracks=[_grid_track("pitch_hz", "hz", 7.0, [(0.8, 2.5), (3.0, 5.0)], 200.0),
                _grid_track("voice_energy_dbfs", "dbfs", 7.0, spans, -20.0)],
    )  # fmt: skip
    out = _run(analyzer, _pulse_voice(np.full(7 * SR, 120.0)), transcript)
    s = out.summary
    assert s["rate_source"] == "transcript_words" and s["segment_source"] == "transcript_sentences"
    assert s["speech_s"] == pytest.approx(4.2)
    assert s["speaking_rate_wpm"] == pytest.approx(10 / 4.2 * 60, abs=0.1)  # 142.9
    assert s["syllables_per_s"] == pytest.approx(15 / 4.2, abs=0.01)
    assert s["pitch_median_hz"] == pytest.approx(200.0) and s["energy_mean_dbfs"] == pytest.approx(-20.0)
    assert s["energy_variability_db"] == pytest.approx(0.0)
    assert s["pitch_variability_st"] == pytest.approx(0.0) and "monotone" in s["prosodic_labels"]
    assert s["pause_share"] == pytest.approx(0.5 / 4.2, abs=0.01) and s["voiced_s"] == pytest.approx(3.7, abs=0.03)
    first, second = out.segments
    assert (first.start_s, first.end_s, second.start_s, second.end_s) == (0.8, 2.5, 3.0, 5.5)
    assert first.attributes["speaking_rate_wpm"] == pytest.approx(5 / 1.7 * 60, abs=0.1)
    assert second.attributes["syllables_per_s"] == pytest.approx(6 / 2.5, abs=0.01)
    # the arousal track is None for a second with under 0.25 s of speech ([0, 1) has 0.2 s) or none
    values = out.track("arousal_estimate").values
    assert values[0] is None and values[6] is None and None not in values[1:6]


def test_word_syllables():
    expected = {"Americans,": 4, "country": 2, "fellow": 2, "make": 1, "little": 2, "you": 1}
    assert {word: word_syllables(word) for word in expected} == expected
    assert word_syllables("你好") == 2 and word_syllables("café", "fr") == 2 and word_syllables("—") == 1


def test_params_are_strict_and_ordered():
    with pytest.raises(ValidationError):
        SpeechEmotion.validate_params({"monotone_max": 1.0})
    with pytest.raises(ValidationError):
        SpeechEmotion.validate_params({"monotone_max_st": 5.0, "expressive_min_st": 4.0})
    with pytest.raises(ValidationError):
        SpeechEmotion.validate_params({"calm_max_arousal": 0.7})
    assert SpeechEmotion.needs(SpeechEmotion.Params()).after == ("speech_transcription",)


def test_real_speech_jfk(analyzer, shared_media):
    from reelscope.media.bundle import MediaBundle
    from reelscope.media.decode import decode
    from reelscope.media.plan import build_frame_plan
    from reelscope.media.probe import probe

    path = shared_media / "speech" / "jfk.flac"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    info = probe(path)
    params = SpeechEmotion.Params()
    plan = build_frame_plan({}, {"x": SpeechEmotion.needs(params).audio}, info)
    with tempfile.TemporaryDirectory() as work_dir:
        bundle = MediaBundle(decode(info, plan, Path(work_dir)))
        view = MediaView(info, None, bundle.audio(plan.audio_for["x"]))
        out = analyzer.analyze(view, AnalysisContext(params=params))
    s = out.summary
    # "And so my fellow Americans, ask not ..." : 28 syllables in ~8 s of speech, a raised male voice
    assert 6.0 < s["speech_s"] < 10.0 and len(out.segments) >= 3
    assert 180.0 < s["pitch_median_hz"] < 300.0
    assert 2.5 < s["syllables_per_s"] < 4.5
    assert 1.5 < s["pitch_variability_st"] < 4.0 and "monotone" not in s["prosodic_labels"]
    assert 0.35 < s["arousal_estimate"] < 0.75 and "calm" not in s["prosodic_labels"]
