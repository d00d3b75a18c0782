"""speech_transcription on real speech with reference transcripts (WER), real word alignments,
generated non-speech (no words), and espeak-ng English and German (language detection)."""

from __future__ import annotations

import numpy as np
import pytest
from tests import speech_truth as st

from reelscope.analyzers.audio.speech_transcription import SpeechTranscription
from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.registry import Registry
from reelscope.core.media_info import MediaInfo
from reelscope.core.results import AnalyzerOutput
from reelscope.media.bundle import AudioClip

SR = st.RATE_HZ


@pytest.fixture(scope="module")
def analyzer() -> SpeechTranscription:
    availability = Registry.default().availability("speech_transcription")
    if not availability.available:
        pytest.fail(f"speech_transcription unavailable: {availability.reason} ({availability.fix})")
    return SpeechTranscription()


def transcribe(analyzer: SpeechTranscription, samples: np.ndarray, **params) -> AnalyzerOutput:
    samples = np.asarray(samples, dtype=np.float32)
    info = MediaInfo(
        path="clip.wav", file_size_bytes=0, sha256="0" * 64, container="wav", duration_s=samples.size / SR,
        has_video=False, has_audio=True, audio_sample_rate_hz=SR, audio_channels=1,
    )  # fmt: skip
    out = analyzer.analyze(
        MediaView(info, None, AudioClip(samples, SR)),
        AnalysisContext(params=SpeechTranscription.validate_params(params)),
    )
    _check_contract(out, samples.size / SR)
    return out


def _check_contract(out: AnalyzerOutput, duration_s: float) -> None:
    words = out.segments_of("word")
    assert out.summary["word_count"] == len(words)
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    for seg in out.segments:
        assert 0.0 <= seg.start_s <= seg.end_s <= duration_s + 1e-3
    for w in words:
        assert w.attributes["text"] and 0.0 <= w.score <= 1.0
        assert 0 <= w.attributes["sentence"] < out.summary["sentence_count"]
    pitch = out.track("pitch_hz")
    assert pitch is not None and all(v is None or 50 <= v <= 550 for v in pitch.values)


@pytest.mark.slow
@pytest.mark.parametrize("model, max_wer", [("base", 0.05), ("tiny.en", 0.10)])
def test_jfk_word_error_rate(analyzer, shared_media, model, max_wer):
    out = transcribe(analyzer, st.decode(shared_media / "speech/jfk.flac"), model=model)
    truth = st.transcripts()["speech/jfk.flac"]
    assert st.wer(truth, out.summary["text"]) <= max_wer, out.summary["text"]
    assert out.summary["language"] == "en"
    # "Americans" spans ~1.8 s into the clip (ground truth note)
    americans = next(w for w in out.segments_of("word") if w.attributes["text"].lower().startswith("american"))
    assert abs(americans.start_s - 1.6) < 0.5
    # JFK pauses between the clauses: at least three pauses, none longer than the gaps in the audio
    assert out.summary["pause_count"] >= 3 and out.summary["longest_pause_s"] < 2.0
    assert 100 <= out.summary["words_per_minute"] <= 220


@pytest.mark.slow
def test_grid_word_error_rate(analyzer, shared_media):
    """GRID's artificial grammar ("bin blue at f two now") in 3 s clips is hard; base still gets most words."""
    clips = {k: v for k, v in st.transcripts().items() if k.startswith("grid_corpus/")}
    rates = [st.wer(truth, transcribe(analyzer, st.decode(shared_media / rel)).summary["text"]) for rel, truth in clips.items()]
    assert len(rates) == 6
    assert float(np.mean(rates)) <= 0.35, rates
    assert min(rates) == 0.0, rates


@pytest.mark.slow
def test_word_timestamps_match_the_grid_alignment(analyzer, shared_media):
    """id2_vcd_swwp2s.mpg has a hand alignment: every word within 0.3 s at both ends."""
    entry = st.ground_truth()["grid_corpus"]["id2_vcd_swwp2s.mpg"]
    truth = [(s, e, w) for s, e, w in entry["words_s"] if w != "sil"]
    out = transcribe(analyzer, st.decode(shared_media / "grid_corpus/id2_vcd_swwp2s.mpg"))
    hyp = []
    for w in out.segments_of("word"):
        for token in st.normalise(w.attributes["text"]):  # "P2" is the two words "p two"
            hyp.append((w.start_s, w.end_s, token))
    assert [w for _, _, w in hyp] == [w for _, _, w in truth]
    for (hs, he, word), (ts, te, _) in zip(hyp, truth, strict=True):
        if word in ("p", "two"):  # one Whisper token for two spoken words: only its outer edges are known
            continue
        assert abs(hs - ts) <= 0.3 and abs(he - te) <= 0.3, (word, hs, he, ts, te)


@pytest.mark.slow
def test_timestamps_follow_the_speech_when_it_is_delayed(analyzer, shared_media):
    """The same speech after 3 s of silence: every word moves by 3 s (within 0.2 s)."""
    speech = st.decode(shared_media / "speech/jfk.flac")
    plain = transcribe(analyzer, speech, model="tiny.en").segments_of("word")
    delayed = transcribe(analyzer, np.concatenate([np.zeros(3 * SR, np.float32), speech]), model="tiny.en")
    shifted = delayed.segments_of("word")
    assert [w.attributes["text"] for w in shifted] == [w.attributes["text"] for w in plain]
    assert all(abs((b.start_s - a.start_s) - 3.0) <= 0.2 for a, b in zip(plain, shifted, strict=True))
    assert delayed.segments_of("speech")[0].start_s >= 2.9


def _music(duration_s: float = 10.0) -> np.ndarray:
    """Chords on a 120 BPM beat with a kick drum: music, no voice."""
    t = np.arange(int(duration_s * SR)) / SR
    y = np.zeros_like(t)
    for bar, root in enumerate((220.0, 174.6, 261.6, 196.0) * int(duration_s // 8 + 1)):
        seg = (t >= bar * 2.0) & (t < bar * 2.0 + 2.0)
        for ratio in (1.0, 1.26, 1.5):
            for harmonic in (1, 2, 3):
                y[seg] += 0.05 / harmonic * np.sin(2 * np.pi * root * ratio * harmonic * t[seg])
    for beat_s in np.arange(0, duration_s, 0.5):
        i = int(beat_s * SR)
        n = min(int(0.12 * SR), y.size - i)
        y[i : i + n] += 0.4 * np.sin(2 * np.pi * 60 * np.arange(n) / SR) * np.exp(-np.arange(n) / (0.03 * SR))
    return y.astype(np.float32)


@pytest.mark.parametrize(
    "kind",
    ["music", "silence", "near_silence", "white_noise"],
)
def test_no_words_without_speech(analyzer, kind):
    rng = np.random.default_rng(1)
    samples = {
        "music": _music(),
        "silence": np.zeros(8 * SR, np.float32),
        "near_silence": (1e-4 * rng.standard_normal(8 * SR)).astype(np.float32),
        "white_noise": (0.1 * rng.standard_normal(8 * SR)).astype(np.float32),
    }[kind]
    out = transcribe(analyzer, samples)
    assert out.summary["word_count"] == 0 and out.summary["text"] == ""
    assert out.summary["language"] is None and out.summary["words_per_minute"] is None
    assert not out.segments_of("word") and not out.segments_of("sentence")


@pytest.mark.slow
@pytest.mark.parametrize("voice, text, language", [("en", st.ENGLISH_TEXT, "en"), ("de", st.GERMAN_TEXT, "de")])
def test_language_is_detected(analyzer, tmp_path, voice, text, language):
    if not st.espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); .ci/run installs it")
    wav = st.espeak(text, tmp_path / f"{voice}.wav", voice=voice)
    out = transcribe(analyzer, st.decode(wav))
    assert out.summary["language"] == language
    assert out.summary["language_probability"] >= 0.5
    assert all(s.attributes["language"] == language for s in out.segments_of("sentence"))
    # robotic espeak is hard for Whisper base (research: 8.6 % EN, 21.6 % DE)
    assert st.wer(text, out.summary["text"]) <= (0.2 if language == "en" else 0.35), out.summary["text"]
    assert out.summary["speaking_time_share"] > 0.7


def test_a_language_can_be_forced(analyzer, tmp_path):
    if not st.espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); .ci/run installs it")
    wav = st.espeak("Guten Morgen, wie geht es dir heute?", tmp_path / "short_de.wav", voice="de")
    out = transcribe(analyzer, st.decode(wav), language="de")
    assert out.summary["language"] == "de" and out.summary["language_probability"] == 1.0
    assert "morgen" in st.normalise(out.summary["text"])
