"""Technical picture quality of sampled native-size frames: sharpness, exposure, noise,
blockiness, letterboxing and effective (real-detail) resolution, plus one weighted 0..1 score.

Frames come at native size on purpose: compression blocks sit on the codec's 8x8 grid and
detail/upscaling can only be judged on the pixels as stored. Expensive steps work on a centre crop.
"""

from __future__ import annotations

import math
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs
from reelscope.core.results import AnalyzerOutput, Segment, Track

# Laplacian variance v maps to sharpness v / (v + SHARPNESS_HALF_VAR): 100 (the common
# "blurry below 100" rule of thumb) gives 0.5, 30 gives 0.23, 1000 gives 0.91.
SHARPNESS_HALF_VAR = 100.0
# Immerkaer's noise operator (difference of two Laplacians); |response| * sqrt(pi/2)/6 = sigma.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_NOISE_BLOCK_PX = 16
_NOISE_CROP_PX = 768  # noise is measured at native scale but on a centre crop, for speed
# Stretch factors tested for effective resolution; spectral energy above Nyquist/_RES_MAX_FACTOR
# normalises, and a tail share under _RES_TAIL_SHARE counts as "no real detail up there".
_RES_FACTORS = (1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)
_RES_TAIL_SHARE = 0.02
_RES_MAX_FACTOR = 8.0
_RES_CROP_PX = 512
_RES_MAX_FRAMES = 8
WEIGHTS = {"sharpness": 0.3, "exposure": 0.2, "noise": 0.15, "blockiness": 0.15, "resolution": 0.2}


class ContentQuality(Analyzer):
    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="content_quality",
        version="1.0.0",
        description="Sharpness, exposure, noise, blockiness, letterboxing and effective resolution with a 0..1 quality score.",
        needs=Needs(frames=FrameRequest(rate_hz=1.0, short_side_px=None, pixel_format="gray", max_frames=60)),
        timeout_s=60,
        tags=("visual",),
    )

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        rate_hz: float = Field(1.0, gt=0, le=10)
        max_frames: int = Field(60, ge=1, le=600)
        blurry_below: float = Field(0.25, ge=0, le=1, description="sharpness (0..1) under which a frame is blurry")
        noisy_above_sigma: float = Field(8.0, gt=0, description="noise sigma (gray levels) over which a frame is noisy")
        blocky_above: float = Field(1.35, gt=1, description="blockiness ratio over which a frame is blocky")
        overexposed_clipped_share: float = Field(0.2, gt=0, le=1)
        underexposed_crushed_share: float = Field(0.35, gt=0, le=1)
        upscaled_min_factor: float = Field(
            1.5, ge=1.25, description="detail-loss factor from which a frame counts as upscaled"
        )
        bar_max_fraction: float = Field(0.4, gt=0, lt=0.5, description="largest bar (per side) accepted as letterbox")

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        assert isinstance(params, cls.Params)
        return Needs(
            frames=FrameRequest(
                rate_hz=params.rate_hz, short_side_px=None, pixel_format="gray", max_frames=params.max_frames
            )
        )

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        params = context.params
        assert isinstance(params, self.Params)
        frames = view.frames
        if frames is None or len(frames) == 0:
            return AnalyzerOutput(summary={"frames_analyzed": 0})
        images = frames.images
        if images.ndim == 4:  # tolerate RGB input (tests, other plans)
            images = np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in images])
        times_s = np.asarray(frames.times_s, dtype=np.float64)
        n, height, width = images.shape

        bars = np.array([_bar_sizes(img, params.bar_max_fraction) for img in images])  # (n, 4) t,b,l,r px
        informative = np.array([not _is_uniform(img) for img in images])
        top, bottom, left, right = (
            np.median(bars[informative], axis=0).astype(int) if informative.any() else np.zeros(4, int)
        )
        y0, y1, x0, x1 = top, height - bottom, left, width - right

        metrics = {
            k: np.zeros(n)
            for k in ("sharpness", "lap_var", "noise_sigma", "blockiness", "clipped", "crushed", "brightness", "std")
        }
        for i, img in enumerate(images):
            img = np.ascontiguousarray(img)
            content = img[y0:y1, x0:x1]
            metrics["lap_var"][i] = _laplacian_variance(content)
            metrics["noise_sigma"][i] = _noise_sigma(_centre_crop(content, _NOISE_CROP_PX))
            # Blockiness on the whole frame: the 8x8 grid is anchored at the stored frame's origin.
            metrics["blockiness"][i] = _blockiness(img)
            hist = cv2.calcHist([content], [0], None, [256], [0, 256]).ravel()
            total = max(hist.sum(), 1.0)
            metrics["clipped"][i] = hist[250:].sum() / total
            metrics["crushed"][i] = hist[:6].sum() / total
            metrics["brightness"][i] = float(hist @ np.arange(256)) / total / 255.0
            metrics["std"][i] = float(content[::4, ::4].std())
        metrics["sharpness"] = metrics["lap_var"] / (metrics["lap_var"] + SHARPNESS_HALF_VAR)

        # Effective resolution on a few evenly spread frames with enough detail.
        res_idx = np.unique(np.linspace(0, n - 1, min(n, _RES_MAX_FRAMES)).round().astype(int))
        factors = [f for f in (_detail_factor(images[i][y0:y1, x0:x1]) for i in res_idx) if f is not None]
        content_short_px = min(y1 - y0, x1 - x0)
        factor = float(np.median(factors)) if factors else None
        effective_short = round(content_short_px / factor) if factor else None
        upscaled = bool(factor is not None and factor >= params.upscaled_min_factor)

        m = metrics
        # label -> (flagged samples, severity 0..1 used as the segment score)
        flags = {
            "blurry": (
                (m["sharpness"] < params.blurry_below) & (m["std"] >= 8.0),
                1 - m["sharpness"] / params.blurry_below,
            ),
            "overexposed": (
                (m["clipped"] >= params.overexposed_clipped_share) | (m["brightness"] > 0.85),
                np.maximum(m["clipped"], (m["brightness"] - 0.5) * 2),
            ),
            "underexposed": (
                (m["crushed"] >= params.underexposed_crushed_share) | (m["brightness"] < 0.12),
                np.maximum(m["crushed"], (0.5 - m["brightness"]) * 2),
            ),
            "noisy": (m["noise_sigma"] > params.noisy_above_sigma, m["noise_sigma"] / (3 * params.noisy_above_sigma)),
            "blocky": (
                m["blockiness"] > params.blocky_above,
                (m["blockiness"] - 1.0) / (3 * (params.blocky_above - 1.0)),
            ),
        }
        duration_s = float(view.media.duration_s) if view.media.duration_s > 0 else float(times_s[-1])
        period_s = 1.0 / params.rate_hz
        ends_s = np.append(times_s[1:], min(duration_s, times_s[-1] + period_s))
        segments = []
        for label, (mask, severity) in flags.items():
            segments += _runs_to_segments(label, mask, np.clip(severity, 0, 1), times_s, ends_s, duration_s)
        segments.sort(key=lambda s: (s.start_s, s.label))

        mean = {k: float(np.mean(v)) for k, v in metrics.items()}
        components = {
            "sharpness": mean["sharpness"],
            "exposure": _clip01(1.0 - 3.0 * (mean["clipped"] + mean["crushed"]))
            * _clip01(1.0 - max(0.0, abs(mean["brightness"] - 0.47) - 0.25) / 0.25),
            "noise": _clip01(1.0 - mean["noise_sigma"] / (2 * params.noisy_above_sigma)),
            "blockiness": _clip01(1.0 - (mean["blockiness"] - 1.0) / (2 * (params.blocky_above - 1.0))),
            # Real detail relative to a 1080 px short side (the usual short-form delivery size).
            "resolution": _clip01((effective_short or content_short_px) / 1080.0),
        }
        quality = sum(WEIGHTS[k] * components[k] for k in WEIGHTS)
        fh, fw = float(height), float(width)
        summary = {
            "quality_score": round(quality, 4),
            "components": {k: round(v, 4) for k, v in components.items()},
            "weights": dict(WEIGHTS),
            "frames_analyzed": int(n),
            "mean_sharpness": round(mean["sharpness"], 4),
            "mean_laplacian_variance": round(mean["lap_var"], 2),
            "mean_noise_sigma": round(mean["noise_sigma"], 3),
            "mean_blockiness": round(mean["blockiness"], 4),
            "mean_clipped_highlights": round(mean["clipped"], 4),
            "mean_crushed_shadows": round(mean["crushed"], 4),
            "mean_brightness": round(mean["brightness"], 4),
            "letterbox": {
                "top": round(top / fh, 4),
                "bottom": round(bottom / fh, 4),
                "left": round(left / fw, 4),
                "right": round(right / fw, 4),
                "content_box": [
                    round(x0 / fw, 4),
                    round(y0 / fh, 4),
                    round((x1 - x0) / fw, 4),
                    round((y1 - y0) / fh, 4),
                ],
            },
            "effective_resolution": {
                "detail_factor": round(factor, 3) if factor else None,
                "effective_short_side_px": effective_short,
                "content_short_side_px": int(content_short_px),
                "upscaled": upscaled,
            },
            "effective_short_side_px": effective_short,
            "upscaled": upscaled,
            "native_width": int(view.media.width or width),
            "native_height": int(view.media.height or height),
            "issue_seconds": {k: round(sum(s.end_s - s.start_s for s in segments if s.label == k), 3) for k in flags},
        }
        tracks = [
            Track(name="sharpness", unit="ratio", times_s=times_s.tolist(), values=metrics["sharpness"].tolist()),
            Track(
                name="noise_sigma", unit="gray_levels", times_s=times_s.tolist(), values=metrics["noise_sigma"].tolist()
            ),
            Track(name="blockiness", unit="ratio", times_s=times_s.tolist(), values=metrics["blockiness"].tolist()),
            Track(
                name="clipped_highlights", unit="share", times_s=times_s.tolist(), values=metrics["clipped"].tolist()
            ),
            Track(name="crushed_shadows", unit="share", times_s=times_s.tolist(), values=metrics["crushed"].tolist()),
            Track(name="brightness", unit="ratio", times_s=times_s.tolist(), values=metrics["brightness"].tolist()),
        ]
        return AnalyzerOutput(summary=summary, segments=segments, tracks=tracks)


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def _centre_crop(img: np.ndarray, size_px: int) -> np.ndarray:
    h, w = img.shape
    ch, cw = min(h, size_px), min(w, size_px)
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y : y + ch, x : x + cw]


def _is_uniform(img: np.ndarray) -> bool:
    """A (near) single-colour frame (black fade ...) says nothing about bars."""
    return float(img[::4, ::4].std()) < 4.0


def _bar_run(means: np.ndarray, stds: np.ndarray, limit: int) -> int:
    """Leading lines that are flat (low spread) and of the same level as the outermost line."""
    ref = means[0]
    ok = (stds < 6.0) & (np.abs(means - ref) < 8.0)
    if not ok[0] or ref > 60:  # bars are dark or at least not bright content-like lines
        return 0
    run = int(np.argmin(ok)) if not ok.all() else len(ok)
    return run if run <= limit else 0


def _bar_sizes(img: np.ndarray, max_fraction: float) -> tuple[int, int, int, int]:
    """Uniform dark bars (top, bottom, left, right) in px. Rows are measured on every 4th column
    (and columns on every 4th row): exact positions, a quarter of the work."""
    h, w = img.shape
    rows = img[:, ::4].astype(np.float32)
    cols = img[::4, :].astype(np.float32)
    rm, rs = rows.mean(axis=1), rows.std(axis=1)
    cm, cs = cols.mean(axis=0), cols.std(axis=0)
    lh, lw = int(h * max_fraction), int(w * max_fraction)
    return (
        _bar_run(rm, rs, lh),
        _bar_run(rm[::-1], rs[::-1], lh),
        _bar_run(cm, cs, lw),
        _bar_run(cm[::-1], cs[::-1], lw),
    )


def _laplacian_variance(img: np.ndarray) -> float:
    lap = cv2.Laplacian(img, cv2.CV_32F, ksize=1)
    return float(cv2.meanStdDev(lap)[1][0, 0] ** 2)


def _noise_sigma(img: np.ndarray) -> float:
    """Immerkaer (1996) fast noise estimate, taken over the flattest 16x16 blocks (20th
    percentile of per-block mean |response|) so texture and edges do not count as noise."""
    resp = np.abs(cv2.filter2D(img.astype(np.float32), -1, _NOISE_KERNEL)[1:-1, 1:-1])
    h, w = (resp.shape[0] // _NOISE_BLOCK_PX) * _NOISE_BLOCK_PX, (resp.shape[1] // _NOISE_BLOCK_PX) * _NOISE_BLOCK_PX
    if h == 0 or w == 0:
        return float(resp.mean() * math.sqrt(math.pi / 2) / 6.0)
    blocks = cv2.resize(resp[:h, :w], (w // _NOISE_BLOCK_PX, h // _NOISE_BLOCK_PX), interpolation=cv2.INTER_AREA)
    # Blocks clipped to pure black/white have no measurable noise; leave them out.
    levels = cv2.resize(img[1 : 1 + h, 1 : 1 + w].astype(np.float32), blocks.shape[::-1], interpolation=cv2.INTER_AREA)
    usable = blocks[(levels > 8) & (levels < 247)]
    if usable.size == 0:
        return 0.0
    return float(np.percentile(usable, 20) * math.sqrt(math.pi / 2) / 6.0)


def _blockiness(img: np.ndarray) -> float:
    """Gradient energy across 8-px block boundaries over the median of the other 7 phases,
    averaged over both directions: 1.0 = no blocking."""
    ratios = []
    for d in (cv2.absdiff(img[:, 1:], img[:, :-1]), cv2.absdiff(img[1:, :], img[:-1, :]).T):
        profile = cv2.reduce(d, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()  # per column offset
        usable = (profile.shape[0] // 8) * 8
        if usable < 16:
            continue
        phases = profile[:usable].reshape(-1, 8).mean(axis=0)
        # Phase 7: difference between pixel 8k+7 and 8k+8, i.e. across a block boundary.
        inside = float(np.median(phases[:7]))
        ratios.append(phases[7] / inside if inside > 1e-3 else 1.0)
    return float(np.mean(ratios)) if ratios else 1.0


def _detail_factor(img: np.ndarray) -> float | None:
    """How many times the detail was stretched: the factor f at which the share of spectral
    energy above Nyquist/f (of the energy above Nyquist/8) reaches 2 %. Content upscaled by k
    keeps almost nothing above Nyquist/k (only interpolation leakage). 1.0 = full detail;
    None when the crop is too flat to tell."""
    crop = _centre_crop(img, _RES_CROP_PX).astype(np.float32)
    ch, cw = crop.shape
    if min(ch, cw) < 64 or float(crop.std()) < 3.0:
        return None
    window = np.outer(np.hanning(ch), np.hanning(cw)).astype(np.float32)
    power = np.abs(np.fft.rfft2((crop - crop.mean()) * window)) ** 2
    # Separable cutoff (max of |fx|, |fy| as a fraction of Nyquist) matches resizing each axis.
    radius = np.maximum(np.abs(np.fft.fftfreq(ch))[:, None], np.fft.rfftfreq(cw)[None, :]) * 2.0
    base = float(power[radius > 1.0 / _RES_MAX_FACTOR].sum())
    if base <= 0:
        return None
    tails = np.array([power[radius > 1.0 / f].sum() / base for f in _RES_FACTORS])
    above = np.nonzero(tails > _RES_TAIL_SHARE)[0]
    if above.size == 0:
        return _RES_FACTORS[-1]
    k = int(above[0])
    if k == 0:
        return 1.0
    # Log-log interpolation of the crossing between the two grid factors around it.
    f0, f1, t0, t1 = _RES_FACTORS[k - 1], _RES_FACTORS[k], max(tails[k - 1], 1e-9), tails[k]
    frac = math.log(_RES_TAIL_SHARE / t0) / math.log(t1 / t0)
    return float(f0 * (f1 / f0) ** frac)


def _runs_to_segments(
    label: str, mask: np.ndarray, severity: np.ndarray, starts_s: np.ndarray, ends_s: np.ndarray, duration_s: float
) -> list[Segment]:
    out = []
    i, n = 0, len(mask)
    while i < n:
        if not mask[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and mask[j + 1]:
            j += 1
        start, end = float(starts_s[i]), float(min(ends_s[j], duration_s))
        out.append(
            Segment(
                kind="quality_issue",
                start_s=min(start, end),
                end_s=end,
                label=label,
                score=round(float(severity[i : j + 1].mean()), 3),
                attributes={"samples": int(j - i + 1)},
            )
        )
        i = j + 1
    return out
