"""Colour: per-frame brightness, saturation, colourfulness and colour temperature; a k-means
palette over the whole video; and ``color_shift`` segments where the grade jumps between samples.

Per-shot colour statistics are derived later from these tracks by the synthesis analyzers.
"""

from __future__ import annotations

import colorsys
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs
from reelscope.core.results import AnalyzerOutput, Segment, Track

SHORT_SIDE_PX = 96  # shared with cut/camera analysis so all read one decoded stream
PALETTE_PIXELS = 20_000  # pixels clustered in total; more changes the palette by < 1 %
MIN_VALUE_FOR_SATURATION = 0.1  # HSV value (0..1) below which a pixel's saturation is ignored
KELVIN_MIN, KELVIN_MAX = 1500.0, 20000.0
WARM_BELOW_K, COOL_ABOVE_K = 5000.0, 7000.0  # D65 white (6504 K) sits in "neutral"
# Hasler-Suesstrunk colourfulness below ~4 reads "not colourful"; grey film with chroma noise
# stays under it, while mean HSV saturation of B&W film stays under ~0.1.
BW_MAX_SATURATION = 0.1
BW_MAX_COLORFULNESS = 5.0

# Linear sRGB (D65) -> CIE XYZ.
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)


class ColorAnalysis(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        rate_hz: float = Field(2.0, gt=0, le=30, description="frames sampled per second")
        palette_size: int = Field(5, ge=1, le=16, description="colours in the k-means palette")
        shift_delta_e: float = Field(
            20.0, gt=0, description="CIE76 distance between consecutive frames' mean Lab that counts as a colour shift"
        )

    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="color_analysis",
        version="1.0.0",
        description="Palette, brightness, saturation, colourfulness, colour temperature and colour-grade shifts over time.",
        needs=Needs(frames=FrameRequest(rate_hz=2.0, short_side_px=SHORT_SIDE_PX, pixel_format="rgb24")),
        timeout_s=60,
        tags=("visual", "color"),
    )

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        return Needs(frames=FrameRequest(rate_hz=params.rate_hz, short_side_px=SHORT_SIDE_PX, pixel_format="rgb24"))

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        p = context.params
        frames = view.frames
        n = 0 if frames is None else len(frames)
        if frames is None or n == 0:
            return AnalyzerOutput(summary={"frames_analyzed": 0})
        images = np.asarray(frames.images)
        if images.ndim == 3:  # grey frames: treat as RGB with equal channels
            images = np.repeat(images[..., None], 3, axis=-1)
        times_s = np.asarray(frames.times_s, dtype=np.float64)

        stats = _frame_stats(images)
        palette = _palette(images, p.palette_size)
        # Segments stay inside the media; a probe without a duration falls back to the last sample.
        duration_s = float(view.media.duration_s) if view.media.duration_s > 0 else float(times_s[-1])
        segments = _shifts(stats, times_s, duration_s, p.shift_delta_e)

        t = times_s.tolist()
        tracks = [
            Track(name="brightness", unit="ratio", times_s=t, values=stats["brightness"].tolist()),
            Track(name="saturation", unit="ratio", times_s=t, values=stats["saturation"].tolist()),
            Track(name="colorfulness", unit="hasler_suesstrunk", times_s=t, values=stats["colorfulness"].tolist()),
            Track(name="color_temperature", unit="kelvin", times_s=t, values=stats["temperature_k"].tolist()),
        ]
        temp = stats["temperature_k"]
        mean_temp = float(np.nanmean(temp)) if np.isfinite(temp).any() else None
        summary = {
            "frames_analyzed": n,
            "palette": palette,
            "mean_brightness": round(float(stats["brightness"].mean()), 4),
            "min_brightness": round(float(stats["brightness"].min()), 4),
            "max_brightness": round(float(stats["brightness"].max()), 4),
            "mean_saturation": round(float(stats["saturation"].mean()), 4),
            "mean_colorfulness": round(float(stats["colorfulness"].mean()), 3),
            "mean_temperature_k": None if mean_temp is None else round(mean_temp),
            "temperature_label": None if mean_temp is None else _temperature_label(mean_temp),
            "is_black_and_white": bool(
                stats["saturation"].max() < BW_MAX_SATURATION and stats["colorfulness"].max() < BW_MAX_COLORFULNESS
            ),
            "color_shift_count": len(segments),
        }
        return AnalyzerOutput(summary=summary, segments=segments, tracks=tracks)


def _frame_stats(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame means, vectorised over all frames (N x H x W x 3 uint8 RGB). Everything that is a
    mean of a linear function uses channel means; only saturation needs per-pixel max/min."""
    n = images.shape[0]
    px = images.reshape(n, -1, 3)
    mean_rgb = px.mean(axis=1, dtype=np.float64) / 255.0  # (N, 3) gamma-encoded
    brightness = mean_rgb @ np.array([0.2126, 0.7152, 0.0722])  # Rec.709 luma
    mx = px.max(axis=2)
    mn = px.min(axis=2)
    # HSV saturation of near-black pixels is noise ((16, 8, 5) has S = 0.69): average over the
    # pixels bright enough to show a colour; a frame with none has saturation 0.
    lit = mx >= int(MIN_VALUE_FOR_SATURATION * 255)
    sat = (mx.astype(np.float32) - mn) / np.maximum(mx, 1).astype(np.float32)
    saturation = (sat * lit).sum(axis=1, dtype=np.float64) / np.maximum(lit.sum(axis=1), 1)
    # Hasler & Suesstrunk (2003) on 0..255 values; std via E[x^2] - E[x]^2 per frame.
    f = px.astype(np.float32)
    rg = f[..., 0] - f[..., 1]
    yb = 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
    colorfulness = np.sqrt(rg.var(axis=1, dtype=np.float64) + yb.var(axis=1, dtype=np.float64)) + 0.3 * np.sqrt(
        rg.mean(axis=1, dtype=np.float64) ** 2 + yb.mean(axis=1, dtype=np.float64) ** 2
    )
    # Mean colour in linear light (sRGB decoding through a 256-entry table) -> XYZ -> McCamy CCT.
    code = np.arange(256) / 255.0
    lut = np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4)
    counts = np.stack([np.stack([np.bincount(px[i, :, c], minlength=256) for c in range(3)]) for i in range(n)])
    linear = counts @ lut / px.shape[1]  # (N, 3)
    xyz = linear @ _RGB_TO_XYZ.T
    total = xyz.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = xyz[:, 0] / total
        y = xyz[:, 1] / total
        nn = (x - 0.3320) / (0.1858 - y)
        cct = 449.0 * nn**3 + 3525.0 * nn**2 + 6823.3 * nn + 5520.33
    # Near-black frames have no meaningful chromaticity.
    temperature_k = np.where(xyz[:, 1] > 1e-3, np.clip(cct, KELVIN_MIN, KELVIN_MAX), np.nan)
    # CIE Lab (L 0..100) of the frame's mean sRGB colour: the grade signal for colour shifts.
    mean_lab = cv2.cvtColor(mean_rgb.astype(np.float32)[None], cv2.COLOR_RGB2Lab)[0]
    return {
        "brightness": brightness.astype(np.float64),
        "saturation": saturation.astype(np.float64),
        "colorfulness": colorfulness.astype(np.float64),
        "temperature_k": temperature_k.astype(np.float64),
        "lab": mean_lab.astype(np.float64),
    }


def _temperature_label(kelvin: float) -> str:
    if kelvin < WARM_BELOW_K:
        return "warm"
    return "cool" if kelvin > COOL_ABOVE_K else "neutral"


def _palette(images: np.ndarray, k: int) -> list[dict]:
    """k-means in Lab over a fixed, evenly spaced subsample of all pixels; clusters that end up on
    the same colour (fewer distinct colours than k) are merged."""
    pixels = images.reshape(-1, 3)
    step = max(1, pixels.shape[0] // PALETTE_PIXELS)
    sample = np.ascontiguousarray(pixels[::step][:PALETTE_PIXELS])
    lab = cv2.cvtColor(sample[None], cv2.COLOR_RGB2Lab)[0].astype(np.float32)
    k = min(k, sample.shape[0])
    cv2.setRNGSeed(12345)  # reproducible k-means++ seeding
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, assign, _ = cv2.kmeans(lab, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    assign = assign.ravel()

    clusters: list[tuple[np.ndarray, np.ndarray, int]] = []  # (mean lab, mean rgb, count)
    for c in range(k):
        members = assign == c
        count = int(members.sum())
        if count == 0:
            continue
        c_lab, c_rgb = lab[members].mean(axis=0), sample[members].astype(np.float64).mean(axis=0)
        for j, (o_lab, o_rgb, o_count) in enumerate(clusters):
            if np.linalg.norm(o_lab - c_lab) < 3.0:  # same colour (8-bit Lab units)
                total = o_count + count
                clusters[j] = (
                    (o_lab * o_count + c_lab * count) / total,
                    (o_rgb * o_count + c_rgb * count) / total,
                    total,
                )
                break
        else:
            clusters.append((c_lab, c_rgb, count))

    total = sum(c[2] for c in clusters)
    out = []
    for _, rgb, count in sorted(clusters, key=lambda c: -c[2]):
        r, g, b = (round(float(v)) for v in rgb)
        out.append(
            {
                "hex": f"#{r:02x}{g:02x}{b:02x}",
                "rgb": [r, g, b],
                "share": round(count / total, 4),
                "name": color_name(r, g, b),
            }
        )
    return out


def color_name(r: int, g: int, b: int) -> str:
    """One of 12 basic colour names by hue, saturation and value."""
    h, s, v = colorsys.rgb_to_hsv(r / 255.0, g / 255.0, b / 255.0)
    hue_deg = h * 360.0
    if v < 0.18:
        return "black"
    if s < 0.18:
        return "white" if v > 0.85 else "gray"
    if hue_deg < 15 or hue_deg >= 345:
        return "pink" if s < 0.45 and v > 0.7 else ("brown" if v < 0.45 else "red")
    if hue_deg < 45:
        return "brown" if v < 0.6 else "orange"
    if hue_deg < 70:
        return "brown" if v < 0.45 else "yellow"
    if hue_deg < 165:
        return "green"
    if hue_deg < 200:
        return "cyan"
    if hue_deg < 260:
        return "blue"
    if hue_deg < 300:
        return "purple"
    return "pink"


def _shifts(stats: dict, times_s: np.ndarray, duration_s: float, threshold: float) -> list[Segment]:
    """Steps whose mean-Lab distance exceeds ``threshold``; consecutive ones merge into one segment
    spanning from the last sample before to the first sample after the change."""
    lab = stats["lab"]
    if lab.shape[0] < 2:
        return []
    delta_e = np.linalg.norm(np.diff(lab, axis=0), axis=1)
    big = delta_e > threshold
    segs: list[Segment] = []
    i = 0
    while i < big.shape[0]:
        if not big[i]:
            i += 1
            continue
        j = i
        while j + 1 < big.shape[0] and big[j + 1]:
            j += 1
        a, b = i, j + 1  # sample indices before and after
        total_de = float(np.linalg.norm(lab[b] - lab[a]))
        segs.append(
            Segment(
                kind="color_shift",
                start_s=min(float(times_s[a]), duration_s),
                end_s=min(float(times_s[b]), duration_s),
                label="color_shift",
                score=float(min(1.0, delta_e[i : j + 1].max() / (2.0 * threshold))),
                attributes={
                    "delta_e": round(total_de, 2),
                    "max_step_delta_e": round(float(delta_e[i : j + 1].max()), 2),
                    "before": _describe(stats, a),
                    "after": _describe(stats, b),
                },
            )
        )
        i = j + 1
    return segs


def _describe(stats: dict, i: int) -> dict:
    t = stats["temperature_k"][i]
    return {
        "brightness": round(float(stats["brightness"][i]), 4),
        "saturation": round(float(stats["saturation"][i]), 4),
        "lab": [round(float(v), 2) for v in stats["lab"][i]],
        "temperature_k": None if not np.isfinite(t) else round(float(t)),
    }
