"""audio_analysis on synthetic audio with known loudness, silence, beats and tonality, plus one real
speech file through the decode path."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

from reelscope.analyzers.audio.audio_analysis import AudioAnalysis
from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.core.media_info import MediaInfo
from reelscope.core.results import AnalyzerOutput
from reelscope.media.bundle import AudioClip

SR = 22050


def _info(duration_s: float) -> MediaInfo:
    return MediaInfo(
        path="synthetic.wav", file_size_bytes=0, sha256="0" * 64, container="wav",
        duration_s=duration_s, has_video=False, has_audio=True, audio_sample_rate_hz=SR, audio_channels=1,
    )  # fmt: skip


@pytest.fixture(scope="module")
def analyzer() -> AudioAnalysis:
    return AudioAnalysis()


def _run(analyzer: AudioAnalysis, samples: np.ndarray, **params) -> AnalyzerOutput:
    samples = np.asarray(samples, dtype=np.float32)
    view = MediaView(_info(samples.shape[0] / SR), None, AudioClip(samples, SR))
    out = analyzer.analyze(view, AnalysisContext(params=AudioAnalysis.validate_params(params)))
    _check_conventions(out, samples.shape[0] / SR)
    return out


def _check_conventions(out: AnalyzerOutput, duration_s: float) -> None:
    for seg in out.segments:
        assert 0.0 <= seg.start_s <= seg.end_s <= duration_s + 1e-3
    for value in out.summary.values():
        assert not (isinstance(value, float) and not math.isfinite(value))


def _sine(duration_s: float, peak: float, freq_hz: float = 1000.0) -> np.ndarray:
    return peak * np.sin(2 * np.pi * freq_hz * np.arange(int(duration_s * SR)) / SR)


def _click_track(duration_s: float = 8.0, period_s: float = 0.5, first_s: float = 0.25):
    rng = np.random.default_rng(7)
    y = np.zeros(int(duration_s * SR))
    clicks_s = np.arange(first_s, duration_s - 0.05, period_s)
    burst = int(0.01 * SR)
    for t in clicks_s:
        i = round(float(t) * SR)
        y[i : i + burst] = 0.5 * rng.standard_normal(burst)
    return y, clicks_s


def _chord_music(duration_s: float = 8.0, bpm: float = 100.0) -> np.ndarray:
    """C major - A minor - F major - G major, a chord per beat with decaying harmonic tones, a kick
    on every beat and a noise snare on beats 2 and 4."""
    rng = np.random.default_rng(3)
    chords = [(261.63, 329.63, 392.0), (220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (196.0, 246.94, 293.66)]
    beat_s = 60.0 / bpm
    n_beat = int(beat_s * SR)
    t = np.arange(n_beat) / SR
    env = np.minimum(1.0, t / 0.01) * np.exp(-1.5 * t)
    kick = 0.3 * np.sin(2 * np.pi * 60 * t) * np.exp(-30 * t)
    y = np.zeros(int(duration_s * SR) + n_beat)
    for k in range(int(duration_s / beat_s) + 1):
        chord = chords[(k // 4) % 4]
        tone = sum(np.sin(2 * np.pi * f * h * t) / h for f in chord for h in (1, 2, 3))
        start = round(k * beat_s * SR)
        y[start : start + n_beat] += 0.1 * tone * env + kick
        if k % 2:
            y[start : start + int(0.05 * SR)] += (
                0.1 * rng.standard_normal(int(0.05 * SR)) * np.exp(-60 * t[: int(0.05 * SR)])
            )
    return y[: int(duration_s * SR)]


def test_sine_loudness_matches_bs1770(analyzer):
    # BS.1770 is calibrated so that a 1 kHz sine in one channel reads its mean square in dB:
    # peak 0.1 (-20 dBFS) -> 10*log10(0.1**2 / 2) = -23.01 LUFS.
    expected = 10 * math.log10(0.1**2 / 2)
    out = _run(analyzer, _sine(5.0, 0.1))
    s = out.summary
    assert s["integrated_lufs"] == pytest.approx(expected, abs=1.0)
    assert s["sample_peak_dbfs"] == pytest.approx(-20.0, abs=0.1)
    assert s["true_peak_dbtp"] == pytest.approx(-20.0, abs=0.2)
    assert s["loudness_range_lu"] == pytest.approx(0.0, abs=0.5)  # a steady tone has no range
    assert s["momentary_max_lufs"] == pytest.approx(expected, abs=1.0)
    assert s["silence_share"] == 0.0
    assert s["duration_s"] == pytest.approx(5.0)
    short_term = out.track("short_term_lufs")
    assert short_term.unit == "lufs"
    assert all(v == pytest.approx(expected, abs=1.0) for v in short_term.values)

    louder = _run(analyzer, _sine(5.0, 0.1 * 10 ** (6 / 20)))  # +6 dB gain -> +6 LU
    assert louder.summary["integrated_lufs"] - s["integrated_lufs"] == pytest.approx(6.0, abs=0.1)


def test_true_peak_sees_inter_sample_peaks(analyzer):
    # A sine at fs/4 sampled 45 degrees off its crests: every sample is 0.707 of the real peak (-3 dB).
    y = 0.5 * np.sin(2 * np.pi * (SR / 4) * np.arange(2 * SR) / SR + np.pi / 4)
    s = _run(analyzer, y).summary
    assert s["sample_peak_dbfs"] == pytest.approx(20 * math.log10(0.5 * math.sqrt(0.5)), abs=0.1)
    assert s["true_peak_dbtp"] == pytest.approx(20 * math.log10(0.5), abs=0.5)


def test_silence_in_the_middle_is_one_span(analyzer):
    y = _sine(3.0, 0.1)
    y[SR : 2 * SR] = 0.0
    out = _run(analyzer, y)
    silences = out.segments_of("silence")
    assert len(silences) == 1
    assert silences[0].label == "silence"
    assert silences[0].start_s == pytest.approx(1.0, abs=0.1)
    assert silences[0].end_s == pytest.approx(2.0, abs=0.1)
    assert out.summary["silence_share"] == pytest.approx(1 / 3, abs=0.04)
    rms = out.track("rms_dbfs")
    assert rms.unit == "dbfs"
    times = np.array(rms.times_s)
    assert all(v is None for v, t in zip(rms.values, times) if 1.05 < t < 1.95)
    assert all(v == pytest.approx(-23.0, abs=0.5) for v, t in zip(rms.values, times) if t < 0.95)
    # one 3 s short-term window holding 2 s of tone: the tone's loudness + 10*log10(2/3), not -inf
    assert out.track("short_term_lufs").values == pytest.approx([-23.01 + 10 * math.log10(2 / 3)], abs=0.3)


def test_short_pause_is_not_silence(analyzer):
    y = _sine(3.0, 0.1)
    y[SR : SR + int(0.2 * SR)] = 0.0  # 0.2 s < min_silence_s 0.3 s
    assert _run(analyzer, y).segments_of("silence") == []
    assert len(_run(analyzer, y, min_silence_s=0.1).segments_of("silence")) == 1


def test_click_track_at_120_bpm(analyzer):
    y, clicks_s = _click_track()
    out = _run(analyzer, y)
    assert out.summary["tempo_bpm"] == pytest.approx(120.0, abs=2.0)
    beats = out.segments_of("beat")
    assert out.summary["beat_count"] == len(beats) >= 10
    for beat in beats:
        assert beat.start_s == beat.end_s and beat.label == "beat"
        assert 0.0 <= beat.score <= 1.0
        assert np.min(np.abs(clicks_s - beat.start_s)) < 0.05
    onset = out.track("onset_strength")
    assert max(onset.values) == pytest.approx(1.0)


def test_white_noise_has_no_tempo_and_is_not_music(analyzer):
    y = 0.1 * np.random.default_rng(1).standard_normal(8 * SR)
    s = _run(analyzer, y).summary
    assert s["tempo_bpm"] is None
    assert s["beat_count"] == 0
    assert s["music_likeness"] < 0.3
    assert s["content"] == "speech_or_other"
    assert s["key"] is None and s["key_confidence"] is None
    assert s["integrated_lufs"] is not None


def test_chord_progression_with_drums_is_music_in_c_major(analyzer):
    s = _run(analyzer, _chord_music()).summary
    assert s["music_likeness"] > 0.7
    assert s["content"] == "music"
    assert s["tempo_bpm"] == pytest.approx(100.0, abs=2.0)
    assert s["key"] == "c_major"
    assert 0.5 < s["key_confidence"] <= 1.0


def test_steady_tone_is_not_music(analyzer):
    s = _run(analyzer, _sine(5.0, 0.1, freq_hz=440.0)).summary
    assert s["music_likeness"] < 0.3
    assert s["tempo_bpm"] is None and s["key"] is None


def test_digital_silence(analyzer):
    out = _run(analyzer, np.zeros(4 * SR))
    s = out.summary
    assert s["integrated_lufs"] is None and s["momentary_max_lufs"] is None
    assert s["loudness_range_lu"] is None
    assert s["sample_peak_dbfs"] is None and s["true_peak_dbtp"] is None
    assert s["silence_share"] == 1.0
    assert s["tempo_bpm"] is None and s["beat_count"] == 0
    assert s["content"] == "silence" and s["music_likeness"] == 0.0
    assert [(g.start_s, g.end_s) for g in out.segments_of("silence")] == [(0.0, 4.0)]
    assert all(v is None for v in out.track("short_term_lufs").values)
    assert all(v == 0.0 for v in out.track("energy").values)


def test_energy_curve_follows_level(analyzer):
    y = np.concatenate([_sine(2.0, 0.05), _sine(2.0, 0.2)])
    energy = _run(analyzer, y).track("energy")
    assert energy.unit == "ratio"
    assert energy.times_s == pytest.approx([0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75])
    assert energy.values[:4] == pytest.approx([0.25] * 4, abs=0.01)
    assert energy.values[4:] == pytest.approx([1.0] * 4, abs=0.01)


def test_empty_and_very_short_clips_do_not_raise(analyzer):
    empty = _run(analyzer, np.zeros(0))
    assert empty.segments == [] and empty.tracks == []
    assert empty.summary["duration_s"] == 0.0 and "note" in empty.summary

    short = _run(analyzer, _sine(0.2, 0.1)).summary  # below one 400 ms gating block
    assert short["integrated_lufs"] is None and short["momentary_max_lufs"] is None
    assert short["sample_peak_dbfs"] == pytest.approx(-20.0, abs=0.1)
    assert short["duration_s"] == pytest.approx(0.2)


def test_real_speech_is_not_music(analyzer, shared_media):
    from reelscope.media.bundle import MediaBundle
    from reelscope.media.decode import decode
    from reelscope.media.plan import build_frame_plan
    from reelscope.media.probe import probe

    path = shared_media / "speech" / "jfk.flac"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    info = probe(path)
    params = AudioAnalysis.validate_params({})
    plan = build_frame_plan({}, {"x": AudioAnalysis.needs(params).audio}, info)
    with tempfile.TemporaryDirectory() as work_dir:
        bundle = MediaBundle(decode(info, plan, Path(work_dir)))
        view = MediaView(info, None, bundle.audio(plan.audio_for["x"]))
        out = analyzer.analyze(view, AnalysisContext(params=params))
    s = out.summary
    assert s["content"] == "speech_or_other"
    assert s["music_likeness"] < 0.5
    assert s["key"] is None
    assert s["silence_share"] < 0.5
    assert all(g.end_s - g.start_s < 0.5 * info.duration_s for g in out.segments_of("silence"))
    assert -30.0 < s["integrated_lufs"] < -5.0
    assert s["duration_s"] == pytest.approx(info.duration_s, abs=0.1)
