"""camera_analysis on synthetic camera moves: a window cropped from a large seeded texture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual.camera_analysis import CameraAnalysis
from reelscope.core.media_info import MediaInfo
from reelscope.media.bundle import FrameSet

H, W = 96, 160
RATE_HZ = 10.0


def _texture(seed: int, size: int = 900) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.random((size, size, 3)).astype(np.float32)
    # Two scales of blobs so both phase correlation and corner tracking have something to hold.
    tex = cv2.GaussianBlur(noise, (0, 0), 2.5) + 0.5 * cv2.GaussianBlur(noise, (0, 0), 8)
    tex -= tex.min()
    return (255 * tex / tex.max()).astype(np.uint8)


TEX = _texture(1)


def _crop(tex: np.ndarray, cx: float, cy: float, scale: float = 1.0) -> np.ndarray:
    """The H x W view centred at (cx, cy) of ``tex``, showing (W*scale) x (H*scale) texture pixels."""
    m = np.array([[scale, 0, cx - scale * (W - 1) / 2], [0, scale, cy - scale * (H - 1) / 2]], dtype=np.float64)
    return cv2.warpAffine(tex, m, (W, H), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)


def _frames(positions, tex=TEX) -> FrameSet:
    images = np.stack([_crop(tex, *pos) for pos in positions])
    return FrameSet(images, np.arange(len(images)) / RATE_HZ)


def _run(frames: FrameSet | None, **params):
    duration_s = 0.0 if frames is None or len(frames) == 0 else float(frames.times_s[-1]) + 1 / RATE_HZ
    media = MediaInfo(
        path="synthetic",
        file_size_bytes=0,
        sha256="0",
        container="none",
        duration_s=duration_s,
        has_video=frames is not None,
        has_audio=False,
        width=W,
        height=H,
    )
    p = CameraAnalysis.validate_params(params)
    return CameraAnalysis().analyze(MediaView(media, frames), AnalysisContext(params=p))


def _labels(out) -> list[str]:
    return [s.label for s in out.segments_of("camera_motion")]


N = 30  # 3 s at 10 Hz
C = 450.0


@pytest.mark.parametrize(
    ("positions", "label", "track", "sign"),
    [
        ([(C + 2.0 * i, C) for i in range(N)], "pan_right", "pan_x", 1),  # window moves right: content moves left
        ([(C - 2.0 * i, C) for i in range(N)], "pan_left", "pan_x", -1),
        ([(C, C - 1.5 * i) for i in range(N)], "tilt_up", "tilt_y", 1),  # window moves up
        ([(C, C + 1.5 * i) for i in range(N)], "tilt_down", "tilt_y", -1),
        ([(C, C, 0.985**i) for i in range(N)], "zoom_in", "zoom", 1),  # view shrinks: content grows
        ([(C, C, 0.985**-i) for i in range(N)], "zoom_out", "zoom", -1),
    ],
)
def test_directional_moves(positions, label, track, sign):
    out = _run(_frames(positions))
    assert _labels(out) == [label]
    assert out.summary["dominant_motion"] == label
    values = np.array([v for v in out.track(track).values if v is not None])
    assert np.all(np.sign(values) == sign)


def test_pan_speed_is_in_frame_widths_per_second():
    # 2 px per 0.1 s on a 160 px wide frame = 0.125 frame widths per second.
    out = _run(_frames([(C + 2.0 * i, C) for i in range(N)]))
    seg = out.segments_of("camera_motion")[0]
    assert seg.attributes["pan_speed_frac_per_s"] == pytest.approx(0.125, rel=0.1)
    assert np.median(out.track("pan_x").values) == pytest.approx(0.125, rel=0.1)


def test_zoom_rate_is_log_scale_per_second():
    out = _run(_frames([(C, C, 0.985**i) for i in range(N)]))
    assert np.median(out.track("zoom").values) == pytest.approx(-np.log(0.985) * RATE_HZ, rel=0.15)


def test_static_is_steady():
    out = _run(_frames([(C, C)] * N))
    assert _labels(out) == ["static"]
    assert out.summary["stability_score"] > 0.95
    assert out.summary["cut_steps"] == 0


def test_jitter_is_handheld_and_unstable():
    rng = np.random.default_rng(3)
    offsets = rng.uniform(-4, 4, size=(N, 2))
    out = _run(_frames([(C + dx, C + dy) for dx, dy in offsets]))
    assert _labels(out) == ["handheld"]
    assert out.summary["stability_score"] < 0.6
    steady = _run(_frames([(C, C)] * N))
    assert out.summary["stability_score"] < steady.summary["stability_score"]


def test_hard_content_change_is_a_cut_not_shake():
    other = _texture(2)
    frames_a = [_crop(TEX, C, C) for _ in range(15)]
    frames_b = [_crop(other, C, C) for _ in range(15)]
    fs = FrameSet(np.stack(frames_a + frames_b), np.arange(30) / RATE_HZ)
    out = _run(fs)
    assert out.summary["cut_steps"] == 1
    assert out.summary["cut_times_s"] == [1.5]
    assert _labels(out) == ["static", "static"]
    assert all(s.label != "handheld" for s in out.segments)
    assert out.track("shake").values[14] is None
    assert out.summary["stability_score"] > 0.95


def test_pan_then_static_splits_segments_at_the_right_time():
    positions = [(C + 3.0 * i, C) for i in range(20)] + [(C + 57.0, C)] * 20
    out = _run(_frames(positions))
    segs = out.segments_of("camera_motion")
    assert [s.label for s in segs] == ["pan_right", "static"]
    assert segs[0].end_s == pytest.approx(1.9, abs=0.35)
    assert segs[-1].end_s <= 4.0


def test_too_few_frames_and_no_video():
    one = _run(_frames([(C, C)]))
    assert one.segments == [] and one.summary["frames_analyzed"] == 1
    none = _run(None)
    assert none.segments == [] and none.summary["frames_analyzed"] == 0


def test_needs_share_the_cut_detection_stream():
    req = CameraAnalysis.needs(CameraAnalysis.validate_params({"rate_hz": 5})).frames
    assert (req.rate_hz, req.short_side_px, req.pixel_format) == (5, 96, "rgb24")
