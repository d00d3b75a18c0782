"""Synthetic test media with known truth, written with PyAV and numpy only (no ffmpeg CLI).

Every function writes one file into a directory it is given and returns ``(path, truth)``. Frame
content is deterministic (seeded), so the same call always writes the same pixels. Defaults are
tiny so a test session can make many clips quickly; width/height/fps/duration arguments let a
benchmark make a full-size clip (e.g. 30 s of 1080x1920 at 30 fps, H.264 + AAC) with the same code.

Conventions in the truth objects: frame indices count from 0, ``*_s`` values are seconds from the
start of the file, spans are half-open ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RGB = tuple[int, int, int]
DEFAULT_SIZE = (64, 112)  # (width, height): portrait and tiny, like a short-form clip
AUDIO_RATE_HZ = 48_000


# ---------------------------------------------------------------------------- truth objects


@dataclass(frozen=True)
class VideoTruth:
    width: int
    height: int
    fps: float
    n_frames: int
    duration_s: float
    frame_times_s: tuple[float, ...]
    has_audio: bool
    audio_rate_hz: int | None = None


@dataclass(frozen=True)
class ShotsTruth(VideoTruth):
    cut_frames: tuple[int, ...] = ()  # index of the first frame of each new shot
    cut_times_s: tuple[float, ...] = ()
    shot_colors: tuple[RGB, ...] = ()
    tone_hz: tuple[float, ...] = ()  # audio tone played during each shot


@dataclass(frozen=True)
class Transition:
    kind: str  # "fade_out", "fade_in" or "dissolve"
    start_frame: int  # first frame that is a blend
    end_frame: int  # first frame after the transition (half-open)
    start_s: float
    end_s: float


@dataclass(frozen=True)
class TransitionTruth(VideoTruth):
    transitions: tuple[Transition, ...] = ()
    black_frames: tuple[int, int] | None = None  # half-open span of fully black frames


@dataclass(frozen=True)
class MotionTruth(VideoTruth):
    kind: str = "pan"  # "pan" or "zoom"
    direction: str = ""  # camera direction: left/right/up/down for pans, in/out for zooms
    speed_px_per_frame: float = 0.0  # pans: how far the camera window moves per frame
    zoom_per_frame: float = 1.0  # zooms: magnification ratio between consecutive frames


@dataclass(frozen=True)
class AudioSpan:
    kind: str  # "tone", "silence" or "noise"
    start_s: float
    end_s: float
    freq_hz: float | None = None


@dataclass(frozen=True)
class AudioTruth:
    sample_rate_hz: int
    duration_s: float
    spans: tuple[AudioSpan, ...]
    codec: str


@dataclass(frozen=True)
class RotationTruth(VideoTruth):
    rotation_ccw_deg: int = 0  # as written with set_display_rotation (counter-clockwise)
    stored_width: int = 0
    stored_height: int = 0
    # the bright square: which corner of the displayed image it appears in, as ffmpeg
    # autorotate would show it ("top_left", "top_right", "bottom_left", "bottom_right")
    displayed_corner: str = ""


@dataclass(frozen=True)
class BadFileTruth:
    kind: str
    note: str = ""
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- pixels


def _texture(height: int, width: int, seed: int, amplitude: float = 18.0) -> np.ndarray:
    """A fixed smooth noise + gradient texture in [-amplitude, amplitude], shape (H, W, 1)."""
    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((max(2, height // 8), max(2, width // 8))).astype(np.float32)
    rows = np.linspace(0, coarse.shape[0] - 1, height)
    cols = np.linspace(0, coarse.shape[1] - 1, width)
    smooth = _bilinear(coarse, rows, cols)
    gradient = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    tex = smooth / (np.abs(smooth).max() + 1e-6) * 0.7 + gradient * 0.6
    return (tex * amplitude)[:, :, None]


def _bilinear(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r0 = np.clip(np.floor(rows).astype(int), 0, img.shape[0] - 1)
    c0 = np.clip(np.floor(cols).astype(int), 0, img.shape[1] - 1)
    r1 = np.minimum(r0 + 1, img.shape[0] - 1)
    c1 = np.minimum(c0 + 1, img.shape[1] - 1)
    fr = (rows - r0)[:, None].astype(np.float32)
    fc = (cols - c0)[None, :].astype(np.float32)
    top = img[r0][:, c0] * (1 - fc) + img[r0][:, c1] * fc
    bottom = img[r1][:, c0] * (1 - fc) + img[r1][:, c1] * fc
    return top * (1 - fr) + bottom * fr


def _shot_image(rgb: RGB, width: int, height: int, seed: int) -> np.ndarray:
    base = np.asarray(rgb, dtype=np.float32)[None, None, :]
    return np.clip(base + _texture(height, width, seed), 0, 255).astype(np.uint8)


def _random_texture(height: int, width: int, seed: int) -> np.ndarray:
    """A large, detailed RGB texture for motion clips (structure at several scales)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), dtype=np.float32)
    for cell, weight in ((32, 0.5), (8, 0.35), (3, 0.15)):
        coarse = rng.uniform(0, 255, (height // cell + 2, width // cell + 2, 3)).astype(np.float32)
        rows = np.linspace(0, height / cell, height)
        cols = np.linspace(0, width / cell, width)
        for ch in range(3):
            out[:, :, ch] += weight * _bilinear(coarse[:, :, ch], rows, cols)
    return np.clip(out, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- writing


def _tone(freq_hz: float, n: int, rate_hz: int, start_sample: int = 0, amp: float = 0.3) -> np.ndarray:
    t = (np.arange(n) + start_sample) / rate_hz
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _write_av(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    width: int,
    height: int,
    audio: np.ndarray | None = None,
    audio_rate_hz: int = AUDIO_RATE_HZ,
    codec: str = "libx264",
    pts_ms: Sequence[int] | None = None,
    faststart: bool = False,
    rotation_ccw_deg: int | None = None,
    preset: str = "veryfast",
) -> None:
    """Encode RGB frames (and mono float audio) to ``path``, interleaving audio with video.

    ``pts_ms`` switches to a 1/1000 time base with the given presentation times (VFR).
    """
    container_options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", container_options=container_options) as container:
        rate = Fraction(fps).limit_denominator(1001)
        vstream = container.add_stream(codec, rate=rate)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            vstream.options = {"preset": preset, "crf": "20"}
        if pts_ms is not None:
            vstream.codec_context.time_base = Fraction(1, 1000)
            vstream.time_base = Fraction(1, 1000)
        else:
            vstream.codec_context.time_base = 1 / rate
        if rotation_ccw_deg is not None:
            vstream.set_display_rotation(rotation_ccw_deg)
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=audio_rate_hz, layout="mono")
            astream.bit_rate = 96_000
        written = 0  # audio samples written so far
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = int(pts_ms[i]), Fraction(1, 1000)
            else:
                frame.pts, frame.time_base = i, 1 / rate
            container.mux(vstream.encode(frame))
            if astream is not None:
                t_end_s = (pts_ms[i] / 1000 if pts_ms is not None else i / fps) + 1 / fps
                until = min(audio.shape[0], round(t_end_s * audio_rate_hz))
                written = _mux_audio(container, astream, audio, written, until, audio_rate_hz)
        container.mux(vstream.encode(None))
        if astream is not None:
            _mux_audio(container, astream, audio, written, audio.shape[0], audio_rate_hz)
            container.mux(astream.encode(None))


def _mux_audio(container, astream, audio: np.ndarray, start: int, stop: int, rate_hz: int) -> int:
    if stop <= start:
        return start
    chunk = np.ascontiguousarray(audio[start:stop], dtype=np.float32)[None, :]
    frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate_hz, start, Fraction(1, rate_hz)
    container.mux(astream.encode(frame))
    return stop


def _cfr_truth(width: int, height: int, fps: float, n: int, audio: bool, **extra) -> dict:
    return dict(
        width=width,
        height=height,
        fps=fps,
        n_frames=n,
        duration_s=n / fps,
        frame_times_s=tuple(i / fps for i in range(n)),
        has_audio=audio,
        audio_rate_hz=AUDIO_RATE_HZ if audio else None,
        **extra,
    )


# ---------------------------------------------------------------------------- clips


_DEFAULT_SHOTS: tuple[tuple[RGB, int], ...] = (((200, 40, 40), 12), ((40, 180, 60), 9), ((50, 60, 210), 15))


def color_shots(
    path: Path,
    shots: Sequence[tuple[RGB, int]] = _DEFAULT_SHOTS,
    fps: float = 12.0,
    size: tuple[int, int] = DEFAULT_SIZE,
    audio: bool = True,
    faststart: bool = False,
    preset: str = "veryfast",
) -> tuple[Path, ShotsTruth]:
    """Textured solid-colour shots with hard cuts; audio is a tone whose pitch changes at each cut
    (shot k plays 300 + 150 k Hz)."""
    width, height = size
    images = [_shot_image(rgb, width, height, seed=k) for k, (rgb, _) in enumerate(shots)]
    counts = [n for _, n in shots]
    cut_frames = tuple(int(c) for c in np.cumsum(counts)[:-1])
    n_total = int(sum(counts))
    tones = tuple(300.0 + 150.0 * k for k in range(len(shots)))
    track = None
    if audio:
        pieces, start = [], 0
        for k, n in enumerate(counts):
            n_samples = round((start + n) / fps * AUDIO_RATE_HZ) - round(start / fps * AUDIO_RATE_HZ)
            pieces.append(_tone(tones[k], n_samples, AUDIO_RATE_HZ))
            start += n
        track = np.concatenate(pieces)

    def frames() -> Iterator[np.ndarray]:
        for img, n in zip(images, counts):
            for _ in range(n):
                yield img

    _write_av(path, frames(), fps=fps, width=width, height=height, audio=track, faststart=faststart, preset=preset)
    truth = ShotsTruth(
        **_cfr_truth(width, height, fps, n_total, audio),
        cut_frames=cut_frames,
        cut_times_s=tuple(c / fps for c in cut_frames),
        shot_colors=tuple(rgb for rgb, _ in shots),
        tone_hz=tones if audio else (),
    )
    return path, truth


def _blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    return np.clip(a.astype(np.float32) * (1 - alpha) + b.astype(np.float32) * alpha + 0.5, 0, 255).astype(np.uint8)


def _transition(kind: str, start: int, n: int, fps: float) -> Transition:
    return Transition(kind, start, start + n, start / fps, (start + n) / fps)


def fade_clip(
    path: Path,
    a_rgb: RGB = (220, 180, 40),
    b_rgb: RGB = (40, 120, 220),
    a_frames: int = 10,
    fade_frames: int = 8,
    black_frames: int = 4,
    b_frames: int = 10,
    fps: float = 12.0,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> tuple[Path, TransitionTruth]:
    """Shot A, linear fade to black over ``fade_frames``, black, fade in to shot B."""
    width, height = size
    a, b = _shot_image(a_rgb, width, height, 1), _shot_image(b_rgb, width, height, 2)
    black = np.zeros_like(a)
    seq = [a] * a_frames
    seq += [_blend(a, black, (k + 1) / (fade_frames + 1)) for k in range(fade_frames)]
    seq += [black] * black_frames
    seq += [_blend(black, b, (k + 1) / (fade_frames + 1)) for k in range(fade_frames)]
    seq += [b] * b_frames
    _write_av(path, seq, fps=fps, width=width, height=height)
    out_start = a_frames
    black_start = out_start + fade_frames
    in_start = black_start + black_frames
    truth = TransitionTruth(
        **_cfr_truth(width, height, fps, len(seq), False),
        transitions=(
            _transition("fade_out", out_start, fade_frames, fps),
            _transition("fade_in", in_start, fade_frames, fps),
        ),
        black_frames=(black_start, in_start),
    )
    return path, truth


def dissolve_clip(
    path: Path,
    a_rgb: RGB = (220, 60, 60),
    b_rgb: RGB = (60, 200, 90),
    a_frames: int = 10,
    dissolve_frames: int = 8,
    b_frames: int = 10,
    fps: float = 12.0,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> tuple[Path, TransitionTruth]:
    """Shot A cross-dissolving into shot B over ``dissolve_frames`` (linear)."""
    width, height = size
    a, b = _shot_image(a_rgb, width, height, 3), _shot_image(b_rgb, width, height, 4)
    seq = [a] * a_frames
    seq += [_blend(a, b, (k + 1) / (dissolve_frames + 1)) for k in range(dissolve_frames)]
    seq += [b] * b_frames
    _write_av(path, seq, fps=fps, width=width, height=height)
    truth = TransitionTruth(
        **_cfr_truth(width, height, fps, len(seq), False),
        transitions=(_transition("dissolve", a_frames, dissolve_frames, fps),),
    )
    return path, truth


_PAN_STEPS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}


def pan_clip(
    path: Path,
    direction: str = "right",
    speed_px_per_frame: int = 3,
    n_frames: int = 24,
    fps: float = 12.0,
    size: tuple[int, int] = (128, 228),
    seed: int = 7,
) -> tuple[Path, MotionTruth]:
    """A camera window moving across a large random texture. ``direction`` is where the CAMERA
    moves; the content therefore moves the opposite way in the frame (pan right: content moves
    left by ``speed_px_per_frame`` each frame)."""
    width, height = size
    dx, dy = _PAN_STEPS[direction]
    travel = speed_px_per_frame * (n_frames - 1)
    big = _random_texture(height + abs(dy) * travel, width + abs(dx) * travel, seed)
    x0 = 0 if dx >= 0 else travel
    y0 = 0 if dy >= 0 else travel
    seq = []
    for i in range(n_frames):
        x, y = x0 + dx * speed_px_per_frame * i, y0 + dy * speed_px_per_frame * i
        seq.append(big[y : y + height, x : x + width])
    _write_av(path, seq, fps=fps, width=width, height=height)
    truth = MotionTruth(
        **_cfr_truth(width, height, fps, n_frames, False),
        kind="pan",
        direction=direction,
        speed_px_per_frame=float(speed_px_per_frame),
    )
    return path, truth


def zoom_clip(
    path: Path,
    zoom_per_frame: float = 1.02,
    n_frames: int = 24,
    fps: float = 12.0,
    size: tuple[int, int] = (128, 228),
    seed: int = 11,
) -> tuple[Path, MotionTruth]:
    """Centred zoom: each frame shows the previous frame's centre magnified by ``zoom_per_frame``
    (> 1 zooms in, < 1 zooms out)."""
    width, height = size
    final_zoom = max(1.0, zoom_per_frame ** (n_frames - 1), zoom_per_frame ** -(n_frames - 1))
    big_w, big_h = int(np.ceil(width * final_zoom)) + 2, int(np.ceil(height * final_zoom)) + 2
    big = _random_texture(big_h, big_w, seed).astype(np.float32)
    cx, cy = (big_w - 1) / 2, (big_h - 1) / 2
    # frame 0 shows the whole big image when zooming in, its centre when zooming out
    scale0 = final_zoom if zoom_per_frame >= 1 else 1.0
    seq = []
    for i in range(n_frames):
        view = scale0 / zoom_per_frame**i  # big-image pixels per output pixel
        cols = cx + (np.arange(width) - (width - 1) / 2) * view
        rows = cy + (np.arange(height) - (height - 1) / 2) * view
        frame = np.stack([_bilinear(big[:, :, c], rows, cols) for c in range(3)], axis=-1)
        seq.append(np.clip(frame, 0, 255).astype(np.uint8))
    _write_av(path, seq, fps=fps, width=width, height=height)
    truth = MotionTruth(
        **_cfr_truth(width, height, fps, n_frames, False),
        kind="zoom",
        direction="in" if zoom_per_frame >= 1 else "out",
        zoom_per_frame=zoom_per_frame,
    )
    return path, truth


def _audio_track(segments: Sequence[tuple], rate_hz: int, seed: int = 5) -> tuple[np.ndarray, tuple[AudioSpan, ...]]:
    rng = np.random.default_rng(seed)
    pieces, spans, t_s, n_at = [], [], 0.0, 0
    for seg in segments:
        kind = seg[0]
        dur_s = float(seg[-1])
        n = round((t_s + dur_s) * rate_hz) - n_at
        if kind == "tone":
            pieces.append(_tone(float(seg[1]), n, rate_hz, start_sample=n_at))
            freq = float(seg[1])
        elif kind == "silence":
            pieces.append(np.zeros(n, dtype=np.float32))
            freq = None
        elif kind == "noise":
            pieces.append((0.2 * rng.standard_normal(n)).clip(-1, 1).astype(np.float32))
            freq = None
        else:
            raise ValueError(f"unknown segment kind {kind!r}")
        spans.append(AudioSpan(kind, t_s, t_s + dur_s, freq))
        t_s += dur_s
        n_at += n
    return np.concatenate(pieces), tuple(spans)


def write_audio(path: Path, samples: np.ndarray, sample_rate_hz: int) -> str:
    """Mono float samples to an audio-only file: ``.wav`` pcm_s16le, anything else AAC. Returns the codec."""
    codec = "pcm_s16le" if path.suffix.lower() == ".wav" else "aac"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=sample_rate_hz, layout="mono")
        block = 4096
        for start in range(0, samples.shape[0], block):
            chunk = samples[start : start + block]
            if codec == "pcm_s16le":
                data = (chunk * 32767).round().astype(np.int16)[None, :]
                frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
            else:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk)[None, :], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = sample_rate_hz, start, Fraction(1, sample_rate_hz)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return codec


def tone_clip(
    path: Path,
    segments: Sequence[tuple] = (("silence", 0.5), ("tone", 440.0, 1.0), ("noise", 0.5)),
    sample_rate_hz: int = AUDIO_RATE_HZ,
) -> tuple[Path, AudioTruth]:
    """Audio-only file: ``("tone", freq_hz, dur_s)``, ``("silence", dur_s)``, ``("noise", dur_s)``
    in order. ``.wav`` writes pcm_s16le, anything else (``.m4a``) AAC."""
    samples, spans = _audio_track(segments, sample_rate_hz)
    codec = write_audio(path, samples, sample_rate_hz)
    return path, AudioTruth(sample_rate_hz, samples.shape[0] / sample_rate_hz, spans, codec)


def audio_only_clip(path: Path, **kwargs) -> tuple[Path, AudioTruth]:
    return tone_clip(path, **kwargs)


def no_audio_clip(path: Path, **kwargs) -> tuple[Path, ShotsTruth]:
    return color_shots(path, audio=False, **kwargs)


def video_with_silent_audio(
    path: Path, n_frames: int = 24, fps: float = 12.0, size: tuple[int, int] = DEFAULT_SIZE
) -> tuple[Path, VideoTruth]:
    """One textured grey shot with an audio stream of digital silence."""
    width, height = size
    img = _shot_image((128, 128, 128), width, height, 9)
    silence = np.zeros(round(n_frames / fps * AUDIO_RATE_HZ), dtype=np.float32)
    _write_av(path, [img] * n_frames, fps=fps, width=width, height=height, audio=silence)
    return path, VideoTruth(**_cfr_truth(width, height, fps, n_frames, True))


_CORNER_AFTER_CCW = {  # where the stored top-left corner ends up after a counter-clockwise turn
    0: "top_left",
    90: "bottom_left",
    180: "bottom_right",
    270: "top_right",
}


def rotated_clip(
    path: Path,
    rotation_ccw_deg: int = -90,
    n_frames: int = 12,
    fps: float = 12.0,
    size: tuple[int, int] = (112, 64),
) -> tuple[Path, RotationTruth]:
    """H.264 MP4 whose display matrix rotates the stored frame by ``rotation_ccw_deg``
    counter-clockwise (FFmpeg's display-matrix convention; ``-90`` is what phones write as
    ``rotate=90``: turn the picture 90 degrees clockwise for display). The stored frame is dark
    with a bright square in its top-left corner."""
    width, height = size
    img = _shot_image((30, 30, 30), width, height, 12)
    square = max(4, min(width, height) // 4)
    img[:square, :square] = 240
    _write_av(path, [img] * n_frames, fps=fps, width=width, height=height, rotation_ccw_deg=rotation_ccw_deg)
    turns = rotation_ccw_deg % 360
    disp_w, disp_h = (height, width) if turns % 180 == 90 else (width, height)
    truth = RotationTruth(
        **_cfr_truth(disp_w, disp_h, fps, n_frames, False),
        rotation_ccw_deg=rotation_ccw_deg,
        stored_width=width,
        stored_height=height,
        displayed_corner=_CORNER_AFTER_CCW[turns],
    )
    return path, truth


def vfr_clip(
    path: Path,
    gaps_ms: Sequence[int] = (33, 33, 100, 33, 100, 100, 33, 33, 33, 100, 33, 66, 33, 100, 33),
    size: tuple[int, int] = DEFAULT_SIZE,
) -> tuple[Path, VideoTruth]:
    """Variable-frame-rate MP4 in a 1/1000 time base; frame k+1 comes ``gaps_ms[k]`` after frame k.
    Each frame's brightness encodes its index, so a decoder's frame order can be checked."""
    width, height = size
    pts = [0, *np.cumsum(gaps_ms).tolist()]
    seq = [_shot_image((20 + 12 * k,) * 3, width, height, 13) for k in range(len(pts))]
    mean_fps = 1000 * (len(pts) - 1) / pts[-1]
    _write_av(path, seq, fps=mean_fps, width=width, height=height, pts_ms=pts)
    times = tuple(p / 1000 for p in pts)
    truth = VideoTruth(width, height, mean_fps, len(pts), times[-1] + gaps_ms[-1] / 1000, times, False)
    return path, truth


# ---------------------------------------------------------------------------- bad files


def empty_file(path: Path) -> tuple[Path, BadFileTruth]:
    path.write_bytes(b"")
    return path, BadFileTruth("empty")


def truncated_mp4(path: Path, faststart: bool, keep_fraction: float = 0.3) -> tuple[Path, BadFileTruth]:
    """A valid H.264 + AAC MP4 cut to its first ``keep_fraction`` of bytes. With ``faststart`` the
    index (moov) comes first, so the kept head still decodes; without it the index was at the end
    and is lost, so nothing can be opened."""
    full = path.with_name(path.stem + ".full.mp4")
    _, truth = color_shots(full, shots=(((200, 50, 50), 24), ((50, 50, 200), 24)), faststart=faststart)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    moov_at = data.find(b"moov")
    mdat_at = data.find(b"mdat")
    note = "moov before mdat" if moov_at < mdat_at else "moov after mdat"
    return path, BadFileTruth(
        "truncated_faststart" if faststart else "truncated_moov_at_end",
        note,
        {"full_n_frames": truth.n_frames, "full_bytes": len(data), "kept_bytes": int(len(data) * keep_fraction)},
    )


def text_as_mp4(path: Path) -> tuple[Path, BadFileTruth]:
    path.write_text("This is not a video.\n" * 40)
    return path, BadFileTruth("text_as_mp4")


def zero_duration(path: Path, size: tuple[int, int] = DEFAULT_SIZE) -> tuple[Path, BadFileTruth]:
    """An MP4 with a declared H.264 video stream but not a single frame in it."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        container.start_encoding()  # writes the header even though no frame follows
    # FFmpeg's mov demuxer drops the sample-less track, so readers see no stream at all
    return path, BadFileTruth("zero_duration", "mp4 header with one video track and no samples")


def unsupported_stream(path: Path) -> tuple[Path, BadFileTruth]:
    """A SubRip subtitle file named ``.mkv``: FFmpeg opens it (by content) and finds one subtitle
    stream and no audio or video."""
    path.write_text(
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n00:00:02,000 --> 00:00:03,000\nNo pictures here.\n\n"
    )
    return path, BadFileTruth("subtitle_only", "srt text; FFmpeg's srt demuxer reads it")


def corrupt_middle(path: Path, garbage_fraction: float = 0.2) -> tuple[Path, BadFileTruth]:
    """A valid faststart MP4 with a block of seeded random bytes in the middle of its data."""
    _, truth = color_shots(path, shots=(((200, 50, 50), 24), ((50, 50, 200), 24)), faststart=True)
    data = bytearray(path.read_bytes())
    n = int(len(data) * garbage_fraction)
    start = len(data) // 2 - n // 2
    data[start : start + n] = np.random.default_rng(3).integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path, BadFileTruth("corrupt_middle", extra={"full_n_frames": truth.n_frames, "garbage": (start, start + n)})
