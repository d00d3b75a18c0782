"""The FramePlan: every analyzer's frame and audio requests merged into one decode pass.

Requests with the same pixel size and format share one stream decoded at the highest rate any of
them asked for; each analyzer then sees the subset of that stream's frames on its own time grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reelscope.core.media_info import MediaInfo
from reelscope.core.needs import AudioRequest, FrameRequest, PixelFormat


@dataclass(frozen=True)
class StreamPlan:
    """One decoded frame stream. ``rate_hz=None`` keeps every frame."""

    key: str
    width: int
    height: int
    pixel_format: PixelFormat
    rate_hz: float | None


@dataclass(frozen=True)
class FramePlan:
    streams: dict[str, StreamPlan] = field(default_factory=dict)
    audio_rates_hz: tuple[int, ...] = ()
    # analyzer name -> (stream key, the rate the analyzer itself wants)
    frames_for: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    audio_for: dict[str, int] = field(default_factory=dict)


def output_size(info: MediaInfo, short_side_px: int | None) -> tuple[int, int]:
    """Displayed size scaled so its short side is ``short_side_px`` (never upscaled), even dims."""
    width, height = info.width, info.height
    short = min(width, height)
    if short_side_px is None or short_side_px >= short:
        return width, height
    scale = short_side_px / short
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def effective_rate(request: FrameRequest, info: MediaInfo) -> float | None:
    """The request's rate, lowered when ``max_frames`` would otherwise be exceeded."""
    rate = request.rate_hz
    if request.max_frames is not None and info.duration_s > 0:
        cap = request.max_frames / info.duration_s
        full = info.avg_fps or cap
        if (rate or full) > cap:
            rate = cap
    return rate


def _faster(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else max(a, b)


def build_frame_plan(
    frame_requests: dict[str, FrameRequest],
    audio_requests: dict[str, AudioRequest],
    info: MediaInfo,
) -> FramePlan:
    streams: dict[str, StreamPlan] = {}
    frames_for: dict[str, tuple[str, float | None]] = {}
    if info.has_video:
        for name, request in sorted(frame_requests.items()):
            width, height = output_size(info, request.short_side_px)
            key = f"{request.pixel_format}_{width}x{height}"
            rate = effective_rate(request, info)
            previous = streams.get(key)
            merged = rate if previous is None else _faster(previous.rate_hz, rate)
            streams[key] = StreamPlan(key, width, height, request.pixel_format, merged)
            frames_for[name] = (key, rate)
    audio_for: dict[str, int] = {}
    if info.has_audio:
        audio_for = {name: r.sample_rate_hz for name, r in audio_requests.items()}
    return FramePlan(
        streams=streams,
        audio_rates_hz=tuple(sorted(set(audio_for.values()))),
        frames_for=frames_for,
        audio_for=audio_for,
    )
