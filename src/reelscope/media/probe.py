"""``probe()``: what a media file holds, read with PyAV without decoding more than one frame."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from reelscope.core.errors import DecodeFailed, MediaNotFound, UnsupportedMedia
from reelscope.core.media_info import MediaInfo

# Packets scanned to tell constant from variable frame rate: enough for ~20 s at 30 fps.
_VFR_SCAN_PACKETS = 600
# Frame-to-frame durations further than this from the median make a stream variable-rate.
_VFR_TOLERANCE = 0.15


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def open_container(path: Path) -> av.container.InputContainer:
    """Open with PyAV, translating its errors at this seam."""
    try:
        return av.open(str(path), mode="r", timeout=30)
    except av.error.FileNotFoundError as exc:
        raise MediaNotFound(f"no such file: {path}") from exc
    except (av.error.InvalidDataError, av.error.EOFError, av.error.ArgumentError) as exc:
        raise UnsupportedMedia(f"{path.name} is not a readable audio/video file: {exc}") from exc
    except av.error.FFmpegError as exc:
        raise DecodeFailed(f"cannot open {path.name}: {exc}") from exc


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The main video stream, ignoring cover art (attached pictures)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def display_size(width: int, height: int, sar: Fraction | None, rotation_deg: int) -> tuple[int, int]:
    """Width and height as shown to a viewer: pixel aspect ratio, then rotation, applied."""
    if sar and sar > 0 and sar != 1:
        width = int(round(width * sar / 2)) * 2
    if rotation_deg % 180 == 90:
        width, height = height, width
    return width, height


def rotation_of(frame: av.VideoFrame) -> int:
    """Display rotation in degrees, normalized to 0/90/180/270 (counter-clockwise)."""
    return int(round(getattr(frame, "rotation", 0) or 0)) % 360


def _frame_rate(stream: av.video.stream.VideoStream) -> tuple[float | None, bool]:
    """Average fps and whether the rate varies, from packet timestamps (not the header alone)."""
    pts: list[int] = []
    container = stream.container
    for packet in container.demux(stream):
        if packet.pts is not None:
            pts.append(packet.pts)
        if len(pts) >= _VFR_SCAN_PACKETS:
            break
    container.seek(0)
    header_fps = float(stream.average_rate) if stream.average_rate else None
    if len(pts) < 3 or stream.time_base is None:
        return header_fps, False
    # Drop the last few timestamps: reordered (B-)frames at a truncated tail leave a false gap.
    ordered = np.unique(np.asarray(pts, dtype=np.int64))[: max(3, len(pts) - 4)]
    deltas = np.diff(ordered) * float(stream.time_base)
    deltas = deltas[deltas > 0]
    if deltas.size < 2:
        return header_fps, False
    median = float(np.median(deltas))
    off = np.abs(deltas - median) > _VFR_TOLERANCE * median
    is_variable = bool(off.mean() > 0.05)
    fps = header_fps if header_fps else 1.0 / median
    return fps, is_variable


def _duration_s(container: av.container.InputContainer) -> float:
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    best = 0.0
    for stream in list(container.streams.video) + list(container.streams.audio):
        if stream.duration and stream.time_base:
            best = max(best, float(stream.duration * stream.time_base))
    return best


def probe(path: Path) -> MediaInfo:
    """Read what ``path`` holds. Raises UnsupportedMedia for files with no usable stream or no
    decodable frame, DecodeFailed when FFmpeg cannot read what it found."""
    container = open_container(path)
    try:
        vstream = video_stream(container)
        astream = container.streams.audio[0] if container.streams.audio else None
        if vstream is None and astream is None:
            raise UnsupportedMedia(f"{path.name} has no video or audio stream")
        duration_s = _duration_s(container)
        info: dict = {}
        if vstream is not None:
            vstream.thread_type = "AUTO"
            try:
                first = next(container.decode(vstream), None)
            except av.error.FFmpegError as exc:
                raise DecodeFailed(f"cannot decode the video of {path.name}: {exc}") from exc
            if first is None:
                raise UnsupportedMedia(f"{path.name}: the video stream holds no decodable frame")
            rotation = rotation_of(first)
            ctx = vstream.codec_context
            width, height = display_size(first.width, first.height, vstream.sample_aspect_ratio, rotation)
            container.seek(0)
            fps, is_vfr = _frame_rate(vstream)
            info.update(
                has_video=True,
                width=width,
                height=height,
                stored_width=first.width,
                stored_height=first.height,
                rotation_deg=rotation,
                video_codec=ctx.name,
                avg_fps=round(fps, 3) if fps else None,
                is_variable_frame_rate=is_vfr,
            )
        if astream is not None:
            info.update(
                has_audio=True,
                audio_codec=astream.codec_context.name,
                audio_sample_rate_hz=astream.rate,
                audio_channels=astream.channels,
            )
        if duration_s <= 0:
            raise UnsupportedMedia(f"{path.name} has zero duration")
        return MediaInfo(
            path=str(path),
            file_size_bytes=path.stat().st_size,
            sha256=file_sha256(path),
            container=container.format.name,
            duration_s=round(duration_s, 3),
            has_video=info.pop("has_video", False),
            has_audio=info.pop("has_audio", False),
            **info,
        )
    finally:
        container.close()
