"""The doctor's self-test clip: a short synthetic H.264 + AAC MP4 with known truth.

``reelscope doctor --selftest`` writes this clip and runs every available analyzer on it, so the
content is made for the analyzers to find something real: two shots of slowly moving random
texture in clearly different palettes (camera motion, colour and sharpness differ between them)
joined by one hard cut at a known time, and a tone whose loudness pulses on a steady beat, under a
little noise. Everything is seeded, so the same call writes the same pixels and samples.

Written here because media/ is the only layer that opens or writes media files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE_HZ = 48_000
TONE_HZ = 440.0
BEAT_PERIOD_S = 0.4  # 150 BPM: on a 4 s clip a slower beat repeats too few times to read as a pulse
_SEED = 20_240_601
# Shot palettes: dark, mid and light colour of each shot's texture (RGB). Warm then cool, so the
# colour histograms on either side of the cut share almost nothing.
_PALETTES = (
    ((70, 20, 10), (210, 90, 30), (250, 210, 120)),
    ((10, 30, 70), (30, 140, 150), (170, 220, 250)),
)
# Where each shot's camera window moves, in pixels per frame (dx, dy): a pan, then a tilt.
_MOTION_PX_PER_FRAME = ((2, 0), (0, 2))


@dataclass(frozen=True)
class SelftestTruth:
    """What the clip holds: its length, where its shots change, its tone, its frame rate and the
    period of the beat the tone's loudness pulses on."""

    duration_s: float
    cut_times_s: tuple[float, ...]
    tone_hz: float
    fps: float
    beat_period_s: float = BEAT_PERIOD_S


def write_selftest_clip(
    path: Path, *, duration_s: float = 4.0, width: int = 360, height: int = 640, fps: int = 30
) -> SelftestTruth:
    """Write the self-test clip to ``path`` (an ``.mp4``) and return its truth. The single hard
    cut falls on the frame nearest the middle of the clip."""
    if width % 2 or height % 2:
        raise ValueError(f"yuv420p needs an even size, got {width}x{height}")
    n_frames = round(duration_s * fps)
    if n_frames < 4:
        raise ValueError(f"{duration_s} s at {fps} fps is too short for two shots")
    cut_frame = n_frames // 2
    rng = np.random.default_rng(_SEED)
    counts = (cut_frame, n_frames - cut_frame)
    canvases = [
        _canvas(rng, count, width, height, palette, motion)
        for count, palette, motion in zip(counts, _PALETTES, _MOTION_PX_PER_FRAME)
    ]
    audio = _beating_tone(rng, round(n_frames / fps * AUDIO_RATE_HZ))
    frames = (
        frame
        for canvas, count, motion in zip(canvases, counts, _MOTION_PX_PER_FRAME)
        for frame in _windows(canvas, count, width, height, motion)
    )
    _encode(path, frames, audio, fps=fps, width=width, height=height)
    return SelftestTruth(duration_s=n_frames / fps, cut_times_s=(cut_frame / fps,), tone_hz=TONE_HZ, fps=float(fps))


# ---------------------------------------------------------------------------- pixels


def _upsample(coarse: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D array to (height, width)."""
    rows = np.linspace(0, coarse.shape[0] - 1, height)
    cols = np.linspace(0, coarse.shape[1] - 1, width)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, coarse.shape[0] - 1), np.minimum(c0 + 1, coarse.shape[1] - 1)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c1] * fc
    bottom = coarse[r1][:, c0] * (1 - fc) + coarse[r1][:, c1] * fc
    return top * (1 - fr) + bottom * fr


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Random texture in 0..1 with structure at several scales: large blobs for the colour
    histogram, fine grain so motion estimators and sharpness measures have edges to follow."""
    out = np.zeros((height, width), dtype=np.float64)
    for cell_px, weight in ((64, 0.5), (16, 0.28), (4, 0.14), (1, 0.08)):
        coarse = rng.uniform(0.0, 1.0, (height // cell_px + 2, width // cell_px + 2))
        out += weight * _upsample(coarse, height, width)
    low, high = np.percentile(out, (1, 99))
    return np.clip((out - low) / (high - low), 0.0, 1.0)


def _colorize(values: np.ndarray, palette: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """Map 0..1 values through the palette's colours (piecewise linear) to uint8 RGB."""
    stops = np.linspace(0.0, 1.0, len(palette))
    colours = np.asarray(palette, dtype=np.float64)
    rgb = np.stack([np.interp(values, stops, colours[:, ch]) for ch in range(3)], axis=-1)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _canvas(
    rng: np.random.Generator,
    count: int,
    width: int,
    height: int,
    palette: tuple[tuple[int, int, int], ...],
    motion_px_per_frame: tuple[int, int],
) -> np.ndarray:
    """One shot's texture, large enough for its camera window to travel ``count`` frames."""
    dx, dy = motion_px_per_frame
    return _colorize(_texture(rng, height + abs(dy) * (count - 1), width + abs(dx) * (count - 1)), palette)


def _windows(
    canvas: np.ndarray, count: int, width: int, height: int, motion_px_per_frame: tuple[int, int]
) -> Iterator[np.ndarray]:
    """``count`` frames of a camera window sliding across ``canvas`` (made one at a time, so a
    long clip never sits in memory)."""
    dx, dy = motion_px_per_frame
    travel_x, travel_y = canvas.shape[1] - width, canvas.shape[0] - height
    for i in range(count):
        x = dx * i if dx >= 0 else travel_x + dx * i
        y = dy * i if dy >= 0 else travel_y + dy * i
        yield np.ascontiguousarray(canvas[y : y + height, x : x + width])


# ---------------------------------------------------------------------------- sound


def _beating_tone(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """A tone whose amplitude jumps at every beat and decays until the next, a short noise burst
    (a hi-hat) on each beat, and quiet background noise."""
    t = np.arange(n_samples) / AUDIO_RATE_HZ
    since_beat_s = np.mod(t, BEAT_PERIOD_S)
    tone = 0.4 * (0.15 + 0.85 * np.exp(-since_beat_s / 0.08)) * np.sin(2 * np.pi * TONE_HZ * t)
    # the burst's broadband onset is what beat trackers lock on to; a pure tone's swell alone is weak
    burst = 0.2 * np.exp(-since_beat_s / 0.015) * rng.standard_normal(n_samples)
    noise = 0.01 * rng.standard_normal(n_samples)
    return np.clip(tone + burst + noise, -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------- encoding


def _encode(path: Path, frames: Iterator[np.ndarray], audio: np.ndarray, *, fps: int, width: int, height: int) -> None:
    """H.264 (yuv420p) + mono AAC into an MP4, audio interleaved with the video it belongs to."""
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "20"}
        video.codec_context.thread_count = 1  # with x264 threads the bitstream varied from run to run too
        video.codec_context.time_base = Fraction(1, fps)
        sound = container.add_stream("aac", rate=AUDIO_RATE_HZ, layout="mono")
        sound.bit_rate = 96_000
        written = 0  # audio samples muxed so far
        for index, rgb in enumerate(frames):
            # converted here rather than inside encode(): PyAV's implicit conversion there varied
            # from run to run in testing, and the clip must be the same bytes every time
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(video.encode(frame))
            until = min(audio.shape[0], round((index + 1) / fps * AUDIO_RATE_HZ))
            written = _mux_audio(container, sound, audio, written, until)
        container.mux(video.encode(None))
        _mux_audio(container, sound, audio, written, audio.shape[0])
        container.mux(sound.encode(None))


def _mux_audio(container, stream, audio: np.ndarray, start: int, stop: int) -> int:
    if stop <= start:
        return start
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[None, start:stop]), format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE_HZ, start, Fraction(1, AUDIO_RATE_HZ)
    container.mux(stream.encode(frame))
    return stop
