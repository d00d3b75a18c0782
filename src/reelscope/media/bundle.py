"""MediaBundle: the decoded frames and audio of one job, as memory-mapped arrays on disk.

Workers receive a small, picklable ``BundleRef`` (paths, shapes, dtypes) and open read-only views;
pixel arrays never travel through a pipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reelscope.core.media_info import MediaInfo


@dataclass(frozen=True)
class StreamRef:
    key: str
    pixels_path: str
    times_path: str
    shape: tuple[int, ...]  # (frames, height, width[, 3])
    dtype: str = "uint8"


@dataclass(frozen=True)
class AudioRef:
    samples_path: str
    sample_rate_hz: int
    n_samples: int


@dataclass(frozen=True)
class BundleRef:
    work_dir: str
    media: MediaInfo
    streams: dict[str, StreamRef] = field(default_factory=dict)
    audio: dict[int, AudioRef] = field(default_factory=dict)
    frames_decoded: int = 0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameSet:
    """Frames with the presentation time of each, in seconds from the start of the video."""

    images: np.ndarray  # (N, H, W, 3) uint8 RGB, or (N, H, W) uint8 gray
    times_s: np.ndarray  # (N,) float64, strictly increasing

    def __len__(self) -> int:
        return int(self.times_s.shape[0])

    def __repr__(self) -> str:
        return f"FrameSet(images={self.images.shape}, span_s=[{self.times_s[:1]}..{self.times_s[-1:]}])"


@dataclass(frozen=True)
class AudioClip:
    samples: np.ndarray  # (N,) float32 mono, sample 0 at t = 0 s
    sample_rate_hz: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate_hz


def subsample_indices(times_s: np.ndarray, rate_hz: float | None) -> np.ndarray:
    """Indices of the first frame at or after each tick of a ``rate_hz`` grid anchored at 0 s."""
    if rate_hz is None:
        return np.arange(times_s.shape[0])
    keep: list[int] = []
    next_tick = 0.0
    period = 1.0 / rate_hz
    for i, t in enumerate(times_s):
        if t + 1e-6 >= next_tick:
            keep.append(i)
            next_tick = (np.floor(t / period + 1e-6) + 1) * period
    return np.asarray(keep, dtype=np.int64)


class MediaBundle:
    """Read-only views over a BundleRef's files."""

    def __init__(self, ref: BundleRef) -> None:
        self.ref = ref

    def frames(self, key: str, rate_hz: float | None = None) -> FrameSet:
        stream = self.ref.streams[key]
        times = np.load(stream.times_path)
        if stream.shape[0] == 0:
            images = np.zeros(stream.shape, dtype=stream.dtype)
        else:
            images = np.memmap(stream.pixels_path, dtype=stream.dtype, mode="r", shape=stream.shape)
        indices = subsample_indices(times, rate_hz)
        if indices.shape[0] == times.shape[0]:
            return FrameSet(images, times)
        return FrameSet(np.asarray(images[indices]), times[indices])

    def audio(self, sample_rate_hz: int) -> AudioClip:
        ref = self.ref.audio[sample_rate_hz]
        if ref.n_samples == 0:
            return AudioClip(np.zeros(0, dtype=np.float32), sample_rate_hz)
        samples = np.memmap(ref.samples_path, dtype=np.float32, mode="r", shape=(ref.n_samples,))
        return AudioClip(samples, sample_rate_hz)
