"""VisualEffects on synthetic 30 fps sequences: a textured picture panning slowly, with known
flashes, freezes, zoom jumps and transitions inserted at known frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual.visual_effects import VisualEffects
from reelscope.core.media_info import MediaInfo
from reelscope.core.results import AnalyzerOutput, Segment
from reelscope.media.bundle import FrameSet

FPS = 30.0
H, W = 96, 170


def panning(n: int, speed_px: int = 1, seed: int = 0, positions: list[int] | None = None) -> list[np.ndarray]:
    """n RGB frames of a colourful texture moving left by speed_px per frame (or to positions)."""
    positions = positions or [i * speed_px for i in range(n)]
    rng = np.random.default_rng(seed)
    big = rng.integers(0, 256, (H, W + max(positions) + 8, 3)).astype(np.float32)
    big = np.clip(cv2.GaussianBlur(big, (0, 0), 2.0) * 2.5 - 190, 0, 255).astype(np.uint8)
    return [big[:, x : x + W].copy() for x in positions]


def zoom(frame: np.ndarray, scale: float) -> np.ndarray:
    ch, cw = round(H / scale), round(W / scale)
    y, x = (H - ch) // 2, (W - cw) // 2
    return cv2.resize(frame[y : y + ch, x : x + cw], (W, H), interpolation=cv2.INTER_LINEAR)


def run(frames: list[np.ndarray], outputs: dict | None = None, times: np.ndarray | None = None, **params):
    images = np.stack(frames)
    n = len(frames)
    times = np.arange(n) / FPS if times is None else times
    info = MediaInfo(
        path="synthetic",
        file_size_bytes=1,
        sha256="0",
        container="mp4",
        duration_s=float(times[-1] + 1 / FPS),
        has_video=True,
        has_audio=False,
        width=W,
        height=H,
        avg_fps=FPS,
    )
    analyzer = VisualEffects()
    p = analyzer.validate_params(params)
    return analyzer.analyze(MediaView(info, FrameSet(images, times)), AnalysisContext(params=p, outputs=outputs or {}))


def effects(out, label: str) -> list[Segment]:
    return [s for s in out.segments if s.kind == "effect" and s.label == label]


def test_plain_pan_has_no_effects():
    out = run(panning(90))
    assert out.summary["effects_total"] == 0
    motion = out.track("motion_energy").values
    assert len(motion) == 90 and min(motion[1:]) > 0.006


def test_two_frame_white_flash():
    frames = panning(90)
    frames[40] = np.full_like(frames[40], 255)
    frames[41] = np.full_like(frames[41], 250)
    out = run(frames)
    flashes = effects(out, "flash")
    assert len(flashes) == 1
    assert flashes[0].start_s == pytest.approx(40 / FPS, abs=1e-3)
    assert flashes[0].end_s == pytest.approx(42 / FPS, abs=1e-3)
    assert flashes[0].attributes["color"] == "white" and flashes[0].attributes["frames"] == 2
    assert out.summary["effect_counts"]["flash"] == 1
    assert not effects(out, "zoom_punch_in") and not effects(out, "freeze_frame")


def test_freeze_frame_in_motion():
    frames = panning(120)
    for i in range(31, 60):  # frame 30 held for 1 s
        frames[i] = frames[30].copy()
    out = run(frames)
    freezes = effects(out, "freeze_frame")
    assert len(freezes) == 1
    assert abs(freezes[0].start_s - 30 / FPS) <= 2 / FPS + 1e-3
    assert abs(freezes[0].end_s - 60 / FPS) <= 2 / FPS + 1e-3
    assert not effects(out, "speed_ramp_down") and not effects(out, "speed_ramp_up")


def test_short_hold_is_not_a_freeze():
    frames = panning(90)
    for i in range(31, 40):  # 0.33 s < freeze_min_s
        frames[i] = frames[30].copy()
    assert not effects(run(frames), "freeze_frame")


def test_static_shot_is_not_a_freeze():
    still = panning(1)[0]
    out = run([still.copy() for _ in range(90)])
    assert not effects(out, "freeze_frame")
    assert out.summary["effects_total"] == 0


def test_zoom_punch_in_detected_with_scale():
    frames = panning(90)
    frames = frames[:45] + [zoom(f, 1.3) for f in frames[45:]]
    out = run(frames)
    zooms = effects(out, "zoom_punch_in")
    assert len(zooms) == 1
    assert zooms[0].start_s == pytest.approx(45 / FPS, abs=1e-3)
    assert zooms[0].attributes["scale"] == pytest.approx(1.3, abs=0.06)


def test_cut_analysis_transitions_are_passed_through():
    frames = panning(90)
    cut = AnalyzerOutput(
        segments=[
            Segment(kind="shot", start_s=0.0, end_s=3.0, label="shot"),
            Segment(kind="transition", start_s=1.0, end_s=1.5, label="dissolve", score=0.8, attributes={"frames": 15}),
        ]
    )
    out = run(frames, outputs={"cut_analysis": cut})
    passed = [s for s in out.segments if s.kind == "transition"]
    assert len(passed) == 1
    assert (passed[0].label, passed[0].start_s, passed[0].end_s) == ("dissolve", 1.0, 1.5)
    assert passed[0].attributes["frames"] == 15
    assert out.summary["transitions_by_type"] == {"dissolve": 1}
    assert out.summary["cut_analysis_used"] is True
    assert run(frames).summary["transitions_by_type"] == {}


def test_speed_ramp_down_on_slow_motion_section():
    # First 2 s at 4 px/frame, then the same pan continues at 1 px/frame (slow motion).
    positions = [4 * i if i < 60 else 240 + (i - 60) for i in range(150)]
    out = run(panning(150, positions=positions))
    downs = effects(out, "speed_ramp_down")
    assert len(downs) == 1
    assert abs(downs[0].start_s - 60 / FPS) <= 3 / FPS
    assert downs[0].attributes["ratio"] < 0.5


def test_variable_frame_rate_times_are_used():
    frames = panning(90)
    frames[50] = np.full_like(frames[50], 255)
    times = np.cumsum(np.where(np.arange(90) % 3 == 0, 0.05, 0.025))  # uneven spacing
    times -= times[0]
    flashes = effects(run(frames, times=times), "flash")
    assert len(flashes) == 1 and flashes[0].start_s == pytest.approx(times[50], abs=1e-3)
