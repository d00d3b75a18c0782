"""``decode()``: ONE forward pass over the file that fills every planned stream.

Video frames are kept when their presentation time reaches the stream's next planned tick, resized
and converted by FFmpeg (``frame.reformat``) and rotated for display; audio is decoded in the same
pass and resampled once per requested rate to mono float32. Everything is appended to raw files in
the job's work folder, which ``MediaBundle`` then memory-maps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from reelscope.core.errors import DecodeFailed
from reelscope.core.media_info import MediaInfo
from reelscope.media.bundle import AudioRef, BundleRef, StreamRef
from reelscope.media.plan import FramePlan, StreamPlan
from reelscope.media.probe import open_container, video_stream

_FAST_SCALER_MAX_PX = 128
ProgressFn = Callable[[float], None]  # fraction of the media decoded, 0..1


class _StreamWriter:
    def __init__(self, plan: StreamPlan, work_dir: Path, rotation_deg: int) -> None:
        self.plan = plan
        self.pixels_path = work_dir / f"{plan.key}.u8"
        self.times_path = work_dir / f"{plan.key}.times.npy"
        self.file: BinaryIO = self.pixels_path.open("wb")
        self.times: list[float] = []
        self.next_tick_s = 0.0
        self.quarter_turns = (rotation_deg // 90) % 4
        # reformat in stored orientation, then rotate into the displayed one
        swap = self.quarter_turns % 2 == 1
        self.reformat_size = (plan.height, plan.width) if swap else (plan.width, plan.height)
        # Small full-rate streams (cut, effects, motion) use the fast scaler: it costs a third
        # of AREA's time per frame and their statistics average its aliasing away (measured:
        # identical cut results on every ground-truth clip). Larger frames get AREA.
        self.interpolation = "FAST_BILINEAR" if min(plan.width, plan.height) <= _FAST_SCALER_MAX_PX else "AREA"

    def wants(self, t_s: float) -> bool:
        if self.times and t_s <= self.times[-1]:
            return False  # non-increasing PTS (broken files): keep time strictly monotonic
        return self.plan.rate_hz is None or t_s + 1e-6 >= self.next_tick_s

    def add(self, frame: av.VideoFrame, t_s: float) -> None:
        width, height = self.reformat_size
        converted = frame.reformat(width=width, height=height, format=self.plan.pixel_format, interpolation=self.interpolation)
        pixels = converted.to_ndarray()
        if self.quarter_turns:
            pixels = np.ascontiguousarray(np.rot90(pixels, k=self.quarter_turns))
        self.file.write(pixels.tobytes())
        self.times.append(t_s)
        if self.plan.rate_hz is not None:
            period = 1.0 / self.plan.rate_hz
            self.next_tick_s = (math.floor(t_s / period + 1e-6) + 1) * period

    def finish(self) -> StreamRef:
        self.file.close()
        np.save(self.times_path, np.asarray(self.times, dtype=np.float64))
        channels = (3,) if self.plan.pixel_format == "rgb24" else ()
        shape = (len(self.times), self.plan.height, self.plan.width, *channels)
        return StreamRef(self.plan.key, str(self.pixels_path), str(self.times_path), shape)


class _AudioWriter:
    def __init__(self, rate_hz: int, work_dir: Path, duration_s: float) -> None:
        self.rate_hz = rate_hz
        # AAC and other codecs decode a few ms of encoder padding past the stream's end: keep
        # the audio inside the media's duration so every time we publish is inside it too.
        self.max_samples = int(round(duration_s * rate_hz))
        self.path = work_dir / f"audio_{rate_hz}.f32"
        self.file: BinaryIO = self.path.open("wb")
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_hz)
        self.n_samples = 0
        self.started = False

    def add(self, frame: av.AudioFrame | None, t_s: float | None) -> None:
        if frame is not None and not self.started:
            self.started = True
            # Align sample 0 with t = 0: pad a late start with silence (negative starts are
            # encoder priming and are trimmed below).
            if t_s is not None and t_s > 0:
                self._write(np.zeros(int(round(t_s * self.rate_hz)), dtype=np.float32))
            self.trim = int(round(-t_s * self.rate_hz)) if t_s is not None and t_s < 0 else 0
        for out in self.resampler.resample(frame):
            samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            if self.trim:
                cut = min(self.trim, samples.shape[0])
                samples, self.trim = samples[cut:], self.trim - cut
            self._write(samples)

    def _write(self, samples: np.ndarray) -> None:
        samples = samples[: max(0, self.max_samples - self.n_samples)]
        self.file.write(samples.tobytes())
        self.n_samples += samples.shape[0]

    def finish(self) -> AudioRef:
        if self.started:
            self.add(None, None)  # flush the resampler
        self.file.close()
        return AudioRef(str(self.path), self.rate_hz, self.n_samples)


def decode(info: MediaInfo, plan: FramePlan, work_dir: Path, on_progress: ProgressFn | None = None) -> BundleRef:
    """Decode ``info.path`` once into ``work_dir`` following ``plan``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    path = Path(info.path)
    container = open_container(path)
    warnings: list[str] = []
    frames_decoded = 0
    try:
        vstream = video_stream(container) if plan.streams else None
        astream = container.streams.audio[0] if plan.audio_rates_hz and container.streams.audio else None
        selected = [s for s in (vstream, astream) if s is not None]
        video_writers = [_StreamWriter(p, work_dir, info.rotation_deg) for p in plan.streams.values()]
        audio_writers = [_AudioWriter(r, work_dir, info.duration_s) for r in plan.audio_rates_hz]
        if vstream is not None:
            vstream.thread_type = "AUTO"  # frame threading: the decode pass uses every core
        origin_s = container.start_time / av.time_base if container.start_time else 0.0
        last_progress = -1.0
        damaged_packets = 0
        try:
            for packet in container.demux(*selected) if selected else ():
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError:
                    # A damaged packet: skip it and keep going, so a corrupt middle costs only
                    # the frames that depend on it.
                    damaged_packets += 1
                    continue
                for frame in decoded:
                    if frame.time is None:
                        continue
                    t_s = frame.time - origin_s
                    if isinstance(frame, av.VideoFrame):
                        frames_decoded += 1
                        if t_s < 0:
                            continue
                        for writer in video_writers:
                            if writer.wants(t_s):
                                writer.add(frame, t_s)
                    else:
                        for writer in audio_writers:
                            writer.add(frame, t_s)
                    if on_progress and info.duration_s > 0 and t_s - last_progress >= 0.5:
                        last_progress = t_s
                        on_progress(min(1.0, t_s / info.duration_s))
        except av.error.FFmpegError as exc:
            # A truncated tail: keep what decoded, say so, fail only if nothing did.
            if frames_decoded == 0 and not any(w.n_samples for w in audio_writers):
                raise DecodeFailed(f"cannot decode {path.name}: {exc}") from exc
            warnings.append(f"decoding stopped early at a damaged part of the file: {exc}")
        if damaged_packets:
            warnings.append(f"{damaged_packets} damaged packet(s) skipped")
        streams = {w.plan.key: w.finish() for w in video_writers}
        audio = {w.rate_hz: w.finish() for w in audio_writers}
    finally:
        container.close()
    if plan.streams and all(s.shape[0] == 0 for s in streams.values()):
        raise DecodeFailed(f"{path.name}: no video frame could be decoded")
    if on_progress:
        on_progress(1.0)
    return BundleRef(str(work_dir), info, streams, audio, frames_decoded, tuple(warnings))
