"""color_analysis on synthetic frames with known colours, grades and temperatures."""

from __future__ import annotations

import numpy as np
import pytest

from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual.color_analysis import ColorAnalysis, color_name
from reelscope.core.media_info import MediaInfo
from reelscope.media.bundle import FrameSet

H, W = 96, 160
RATE_HZ = 2.0


def _solid(rgb, n: int = 1) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (n, H, W, 3)).copy()


def _noisy(rgb, n: int, seed: int = 0, sigma: float = 6.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = _solid(rgb, n).astype(np.float32) + rng.normal(0, sigma, size=(n, H, W, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def _run(images: np.ndarray | None, **params):
    frames = None if images is None else FrameSet(images, np.arange(len(images)) / RATE_HZ)
    duration_s = 0.0 if images is None else len(images) / RATE_HZ
    media = MediaInfo(
        path="synthetic",
        file_size_bytes=0,
        sha256="0",
        container="none",
        duration_s=duration_s,
        has_video=images is not None,
        has_audio=False,
        width=W,
        height=H,
    )
    p = ColorAnalysis.validate_params(params)
    return ColorAnalysis().analyze(MediaView(media, frames), AnalysisContext(params=p))


def test_red_blue_halves_make_a_two_colour_palette():
    img = _solid((230, 20, 20), 6)
    img[:, :, W // 2 :] = (20, 30, 220)
    out = _run(img)
    palette = out.summary["palette"]
    assert len(palette) == 2  # five clusters asked, only two colours exist
    by_name = {c["name"]: c for c in palette}
    assert set(by_name) == {"red", "blue"}
    assert by_name["red"]["share"] == pytest.approx(0.5, abs=0.03)
    assert by_name["blue"]["share"] == pytest.approx(0.5, abs=0.03)
    assert by_name["red"]["rgb"] == [230, 20, 20] and by_name["red"]["hex"] == "#e61414"
    assert out.summary["is_black_and_white"] is False
    assert out.summary["mean_saturation"] > 0.85


def test_palette_shares_follow_area_and_are_sorted():
    img = _solid((240, 240, 240), 4)
    img[:, : H // 4] = (10, 150, 30)  # a quarter of the rows green
    palette = _run(img).summary["palette"]
    assert [c["name"] for c in palette] == ["white", "green"]
    assert palette[0]["share"] == pytest.approx(0.75, abs=0.03)
    assert palette[0]["share"] >= palette[1]["share"]


def test_grey_frames_are_black_and_white():
    out = _run(_solid((128, 128, 128), 6))
    s = out.summary
    assert s["is_black_and_white"] is True
    assert s["mean_saturation"] == pytest.approx(0.0, abs=1e-6)
    assert s["mean_colorfulness"] == pytest.approx(0.0, abs=1e-6)
    assert s["mean_brightness"] == pytest.approx(128 / 255, abs=1e-3)
    assert s["mean_temperature_k"] == pytest.approx(6504, abs=60)  # sRGB grey is D65
    assert s["temperature_label"] == "neutral"
    assert s["palette"][0]["name"] == "gray"


def test_grey_ramp_brightness_track():
    images = np.concatenate([_solid((v, v, v)) for v in (0, 64, 128, 255)])
    out = _run(images)
    assert out.track("brightness").values == pytest.approx([0.0, 64 / 255, 128 / 255, 1.0], abs=1e-4)
    assert out.summary["min_brightness"] == 0.0 and out.summary["max_brightness"] == 1.0
    assert out.track("color_temperature").values[0] is None  # black has no chromaticity


def test_warm_is_warmer_than_cool():
    warm = _run(_noisy((235, 170, 110), 4)).summary
    cool = _run(_noisy((150, 175, 235), 4)).summary
    assert warm["mean_temperature_k"] < 4500
    assert cool["mean_temperature_k"] > 8000
    assert warm["temperature_label"] == "warm"
    assert cool["temperature_label"] == "cool"
    assert warm["is_black_and_white"] is False and cool["is_black_and_white"] is False


def test_colorfulness_orders_grey_muted_vivid():
    grey = _run(_solid((120, 120, 120), 2)).summary["mean_colorfulness"]
    muted = _run(_noisy((140, 120, 110), 2)).summary["mean_colorfulness"]
    vivid = _run(_noisy((250, 30, 200), 2)).summary["mean_colorfulness"]
    assert grey < muted < vivid


def test_sudden_grade_change_is_one_color_shift_at_the_right_time():
    # 6 s of a neutral scene, then the same scene with a strong teal grade.
    rng = np.random.default_rng(1)
    scene = rng.integers(60, 200, size=(H, W, 3), dtype=np.uint8)
    before = np.stack([scene] * 12)
    graded = scene.astype(np.float32) * np.array([0.45, 1.0, 1.25])
    after = np.stack([np.clip(graded, 0, 255).astype(np.uint8)] * 12)
    out = _run(np.concatenate([before, after]))
    shifts = out.segments_of("color_shift")
    assert len(shifts) == 1
    seg = shifts[0]
    assert seg.label == "color_shift"
    assert (seg.start_s, seg.end_s) == (5.5, 6.0)  # between the last sample before and the first after
    assert seg.attributes["after"]["lab"][1] < seg.attributes["before"]["lab"][1]  # greener (a* down)
    assert out.summary["color_shift_count"] == 1


def test_steady_grade_has_no_color_shift():
    out = _run(_noisy((120, 100, 90), 12, seed=4))
    assert out.segments == []
    assert len(out.track("saturation").times_s) == 12


def test_colour_names():
    assert color_name(250, 250, 250) == "white"
    assert color_name(5, 5, 5) == "black"
    assert color_name(255, 140, 0) == "orange"
    assert color_name(250, 230, 20) == "yellow"
    assert color_name(20, 200, 200) == "cyan"
    assert color_name(120, 30, 200) == "purple"
    assert color_name(110, 60, 20) == "brown"


def test_no_frames():
    assert _run(None).summary == {"frames_analyzed": 0}


def test_needs_share_the_low_res_stream():
    req = ColorAnalysis.needs(ColorAnalysis.validate_params({})).frames
    assert (req.rate_hz, req.short_side_px, req.pixel_format) == (2.0, 96, "rgb24")
