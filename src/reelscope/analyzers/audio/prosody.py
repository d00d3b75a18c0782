"""Voice measurements shared by the speech analyzers, with no learned weights except the VAD:
where speech is (silero VAD, the ONNX copy inside faster-whisper, run with onnxruntime), its pitch
(librosa's pYIN) and its level (RMS in dBFS), on one common time grid.

speech_transcription computes these once and publishes them as tracks; speech_emotion reads those
tracks, or calls these functions itself when it runs without a transcription.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOP_S = 0.02  # the time grid of every prosody track
VAD_SAMPLE_RATE_HZ = 16000
PITCH_FMIN_HZ = 60.0
PITCH_FMAX_HZ = 500.0
# pYIN's pitch grid in semitones: 0.25 costs a seventh of the default 0.1 (measured: 0.08 vs 0.56 s
# CPU for 11 s of speech) and is still finer than any prosodic distinction we report.
PITCH_RESOLUTION_ST = 0.25


@dataclass(frozen=True)
class ProsodyTracks:
    """``pitch_hz[i]`` and ``energy_dbfs[i]`` at ``times_s[i]`` (frame centres, HOP_S apart);
    pitch is NaN where unvoiced or outside speech, energy is -inf in digital silence."""

    times_s: np.ndarray
    pitch_hz: np.ndarray
    energy_dbfs: np.ndarray


def speech_spans(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    threshold: float = 0.5,
    min_silence_s: float = 0.3,
    speech_pad_s: float = 0.1,
) -> list[tuple[float, float]]:
    """Speech intervals (seconds) by silero VAD; audio at another rate is resampled to 16 kHz."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    audio = np.asarray(samples, dtype=np.float32)
    if sample_rate_hz != VAD_SAMPLE_RATE_HZ:
        from scipy.signal import resample_poly

        g = np.gcd(VAD_SAMPLE_RATE_HZ, sample_rate_hz)
        audio = resample_poly(audio, VAD_SAMPLE_RATE_HZ // g, sample_rate_hz // g).astype(np.float32)
    if audio.size == 0:
        return []
    options = VadOptions(
        threshold=threshold,
        min_silence_duration_ms=int(min_silence_s * 1000),
        speech_pad_ms=int(speech_pad_s * 1000),
    )
    stamps = get_speech_timestamps(audio, options)
    duration_s = audio.size / VAD_SAMPLE_RATE_HZ
    return [(s["start"] / VAD_SAMPLE_RATE_HZ, min(s["end"] / VAD_SAMPLE_RATE_HZ, duration_s)) for s in stamps]


def energy_dbfs(samples: np.ndarray, sample_rate_hz: int, n_frames: int) -> np.ndarray:
    """RMS level in dBFS of 2*HOP_S windows centred on each grid point."""
    hop = round(HOP_S * sample_rate_hz)
    y = np.asarray(samples, dtype=np.float64)
    cumsum_sq = np.concatenate(([0.0], np.cumsum(y * y)))
    centres = np.arange(n_frames) * hop + hop // 2
    starts = np.clip(centres - hop, 0, y.size)
    ends = np.clip(centres + hop, 0, y.size)
    mean_sq = (cumsum_sq[ends] - cumsum_sq[starts]) / np.maximum(ends - starts, 1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(mean_sq, 0.0))


def prosody_tracks(
    samples: np.ndarray, sample_rate_hz: int, spans: list[tuple[float, float]]
) -> ProsodyTracks:
    """Pitch on the speech ``spans`` only (pYIN is the costly part; silence and music between them
    are skipped) and energy everywhere, on the HOP_S grid."""
    import librosa

    y = np.asarray(samples, dtype=np.float32)
    hop = round(HOP_S * sample_rate_hz)
    n_frames = int(np.ceil(y.size / hop)) if y.size else 0
    times_s = (np.arange(n_frames) * hop + hop / 2) / sample_rate_hz
    pitch = np.full(n_frames, np.nan)
    # ~64 ms analysis window: two periods of the lowest pitch searched, as pYIN needs
    frame_length = int(2 ** np.ceil(np.log2(2.0 * sample_rate_hz / PITCH_FMIN_HZ)))
    for start_s, end_s in spans:
        first = max(0, int(start_s / HOP_S))
        last = min(n_frames, int(np.ceil(end_s / HOP_S)))
        # pYIN frames are centred on multiples of the hop from the chunk start: start the chunk half a
        # hop in, so frame k lands on grid point first + k like the energy values
        chunk = y[first * hop + hop // 2 : last * hop]
        if last - first < 3 or chunk.size < frame_length:
            continue
        f0, voiced, _ = librosa.pyin(
            chunk,
            fmin=PITCH_FMIN_HZ,
            fmax=PITCH_FMAX_HZ,
            sr=sample_rate_hz,
            frame_length=frame_length,
            hop_length=hop,
            resolution=PITCH_RESOLUTION_ST,
        )
        f0 = np.where(voiced, f0, np.nan)[: last - first]
        pitch[first : first + f0.size] = f0
    return ProsodyTracks(times_s=times_s, pitch_hz=pitch, energy_dbfs=energy_dbfs(y, sample_rate_hz, n_frames))


def semitones(pitch_hz: np.ndarray, reference_hz: float) -> np.ndarray:
    """Pitch relative to ``reference_hz`` in semitones (NaN stays NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 12.0 * np.log2(pitch_hz / reference_hz)
