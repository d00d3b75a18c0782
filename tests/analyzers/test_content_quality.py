"""ContentQuality on synthetic frames whose true sharpness, noise, bars, compression and
upscaling are known by construction."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual.content_quality import ContentQuality
from reelscope.core.media_info import MediaInfo
from reelscope.media.bundle import FrameSet


def textured(h: int = 360, w: int = 640, seed: int = 0) -> np.ndarray:
    """A photo-like gray frame: smooth shading, hard-edged shapes and fine texture patches."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 70 + 60 * (xx / w) + 30 * np.sin(yy / 37.0)
    for _ in range(12):
        x, y = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        img[y : y + int(rng.integers(20, 60)), x : x + int(rng.integers(20, 60))] += float(rng.uniform(-50, 50))
    fine = cv2.GaussianBlur(rng.normal(0, 40, (h, w)).astype(np.float32), (0, 0), 0.8)
    mask = np.zeros((h, w), np.float32)
    mask[h // 4 : 3 * h // 4, w // 5 : 4 * w // 5] = 1  # texture in the middle, flat-ish around
    img += fine * mask
    return np.clip(img, 15, 240).astype(np.uint8)


def run(frames: list[np.ndarray], **params) -> object:
    images = np.stack(frames)
    n, h, w = images.shape
    info = MediaInfo(
        path="synthetic",
        file_size_bytes=1,
        sha256="0",
        container="mp4",
        duration_s=float(n),
        has_video=True,
        has_audio=False,
        width=w,
        height=h,
    )
    analyzer = ContentQuality()
    p = analyzer.validate_params(params)
    return analyzer.analyze(
        MediaView(info, FrameSet(images, np.arange(n, dtype=np.float64))), AnalysisContext(params=p)
    )


def test_blur_lowers_sharpness_and_is_flagged():
    sharp = textured()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    out = run([sharp] * 3 + [blurred] * 3)
    values = out.track("sharpness").values
    assert min(values[:3]) > 2 * max(values[3:])
    blurry = [s for s in out.segments if s.label == "blurry"]
    assert len(blurry) == 1 and blurry[0].kind == "quality_issue"
    assert blurry[0].start_s == 3.0 and blurry[0].end_s == 6.0


def test_noise_sigma_matches_added_noise():
    base = textured()
    for sigma in (5.0, 12.0):
        rng = np.random.default_rng(1)
        noisy = np.clip(base.astype(np.float32) + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)
        out = run([noisy] * 2)
        assert out.summary["mean_noise_sigma"] == pytest.approx(sigma, rel=0.3)
    clean = run([base] * 2).summary["mean_noise_sigma"]
    assert clean < 2.0


def test_letterbox_bars_measured_to_the_pixel():
    h, w, bar = 720, 400, 90
    frame = np.zeros((h, w), np.uint8)
    frame[bar : h - bar] = textured(h - 2 * bar, w, seed=3)
    out = run([frame] * 3)
    box = out.summary["letterbox"]
    assert abs(box["top"] * h - bar) <= 2 and abs(box["bottom"] * h - bar) <= 2
    assert box["left"] == 0 and box["right"] == 0
    _, y, bw, bh = box["content_box"]
    assert abs(y * h - bar) <= 2 and abs(bh * h - (h - 2 * bar)) <= 2 and bw == pytest.approx(1.0)
    # Bars must not count as crushed shadows.
    assert out.summary["mean_crushed_shadows"] < 0.05


def test_heavy_jpeg_is_blockier_than_light_jpeg():
    base = textured(seed=4)
    coded = {}
    for quality in (5, 95):
        ok, buf = cv2.imencode(".jpg", base, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        coded[quality] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    bad, good = run([coded[5]] * 2), run([coded[95]] * 2)
    assert bad.summary["mean_blockiness"] > good.summary["mean_blockiness"] + 0.3
    assert good.summary["mean_blockiness"] < 1.2
    assert any(s.label == "blocky" for s in bad.segments)
    assert not any(s.label == "blocky" for s in good.segments)
    assert bad.summary["quality_score"] < good.summary["quality_score"]


def test_upscaled_image_has_low_effective_resolution():
    native = textured(600, 1000, seed=5)
    small = cv2.resize(native, (1000 // 3, 600 // 3), interpolation=cv2.INTER_AREA)
    upscaled = cv2.resize(small, (1000, 600), interpolation=cv2.INTER_CUBIC)
    up = run([upscaled] * 3).summary
    assert up["upscaled"] is True
    assert 200 / 1.5 <= up["effective_short_side_px"] <= 200 * 1.5
    nat = run([native] * 3).summary
    assert nat["upscaled"] is False
    assert nat["effective_short_side_px"] > 1.5 * up["effective_short_side_px"]


def test_overexposed_frames_flagged():
    base = textured(seed=6)
    bright = np.clip(base.astype(np.int16) + 120, 0, 255).astype(np.uint8)
    out = run([base] * 2 + [bright] * 2)
    over = [s for s in out.segments if s.label == "overexposed"]
    assert len(over) == 1 and over[0].start_s == 2.0 and over[0].end_s == 4.0
    clipped = out.track("clipped_highlights").values
    assert clipped[0] < 0.01 and clipped[3] > 0.15
    assert not any(s.label == "overexposed" for s in run([base] * 2).segments)
