"""Editing effects on full-rate low-res frames: flashes, freeze frames, zoom punch-ins, speed ramps
and colour-grade changes, plus the transitions found by cut_analysis passed through, so that every
effect of a video is listed in one place.

Frames are the same 96-px every-frame stream cut detection decodes (one decode serves both).
Times come from each frame's presentation time, never from index x fps.
"""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs
from reelscope.core.results import AnalyzerOutput, Segment, Track

EFFECT_LABELS = (
    "flash",
    "freeze_frame",
    "zoom_punch_in",
    "zoom_punch_out",
    "speed_ramp_up",
    "speed_ramp_down",
    "color_grade_change",
)
_ZOOM_SCALES = np.round(np.arange(1.08, 2.001, 0.04), 3)


class VisualEffects(Analyzer):
    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="visual_effects",
        version="1.0.0",
        description="Flashes, freeze frames, zoom punch-ins, speed ramps, colour-grade changes and transitions by type.",
        needs=Needs(frames=FrameRequest(rate_hz=None, short_side_px=96, pixel_format="rgb24"), after=("cut_analysis",)),
        timeout_s=60,
        tags=("visual",),
    )

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        flash_margin: float = Field(0.15, gt=0, le=1, description="luma (0..1) a flash rises above both neighbours")
        flash_max_frames: int = Field(4, ge=1, le=10)
        freeze_min_s: float = Field(0.5, gt=0)
        freeze_max_diff: float = Field(0.002, gt=0, description="mean abs frame difference (0..1) of a frozen frame")
        motion_min: float = Field(0.006, gt=0, description="motion energy that counts as 'the video is moving'")
        zoom_min_gain: float = Field(
            2.5, gt=1, description="how much better the rescaled match must be than the raw one"
        )
        speed_ratio: float = Field(2.0, gt=1)
        speed_min_s: float = Field(0.6, gt=0, description="how long each side of a speed change must last")
        grade_delta_e: float = Field(12.0, gt=0, description="Lab distance of a within-shot colour-grade change")
        grade_contrast_ratio: float = Field(1.8, gt=1, description="contrast (std of L) ratio of a grade change")
        grade_delta_e_at_cut: float = Field(30.0, gt=0, description="Lab distance of a grade change across a cut")

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        p = context.params
        assert isinstance(p, self.Params)
        cut_output = context.outputs.get("cut_analysis")
        transitions = _passthrough(cut_output)
        frames = view.frames
        duration_s = float(view.media.duration_s)
        if frames is None or len(frames) < 3:
            return _finish([], transitions, None, duration_s, cut_output is not None)
        times = np.asarray(frames.times_s, dtype=np.float64)
        if duration_s <= 0:
            duration_s = float(times[-1])
        rgb = frames.images
        n = len(times)
        _, h, w, _ = rgb.shape
        # One cvtColor over all frames stacked vertically (per-frame calls cost more than the work).
        gray = cv2.cvtColor(np.ascontiguousarray(rgb).reshape(n * h, w, 3), cv2.COLOR_RGB2GRAY)
        gray = gray.reshape(n, h, w).astype(np.float32) * np.float32(1 / 255)
        luma = gray.mean(axis=(1, 2))
        motion = np.zeros(n)
        diffs = np.abs(np.diff(gray, axis=0))
        motion[1:] = diffs.mean(axis=(1, 2))
        # Share of pixels that changed: near 1 for camera or full-scene motion, small for a
        # subject moving in front of a still background.
        moving_share = np.zeros(n)
        moving_share[1:] = (diffs > 3 / 255).mean(axis=(1, 2))
        del diffs
        boundary = _boundaries(gray, times, transitions)  # boundary[i]: frame i starts a new shot

        effects: list[Segment] = []
        flash_frames = np.zeros(n, bool)
        for start, end in _flashes(luma, p.flash_margin, p.flash_max_frames):
            flash_frames[start : end + 1] = True
            peak = float(luma[start : end + 1].max())
            rise = peak - max(luma[start - 1], luma[end + 1])
            sat = _saturation(rgb[start : end + 1])
            effects.append(
                _seg(
                    "flash",
                    times[start],
                    _end_time(times, end, duration_s),
                    min(1.0, rise / 0.5),
                    frames=end - start + 1,
                    peak_luma=round(peak, 3),
                    color="white" if sat < 0.15 and peak > 0.7 else "colored",
                )
            )

        freeze_frames = np.zeros(n, bool)
        for start, end, before, after in _freezes(motion, times, boundary, p):
            freeze_frames[start : end + 1] = True
            effects.append(
                _seg(
                    "freeze_frame",
                    times[start],
                    _end_time(times, end, duration_s),
                    1.0 - float(motion[start + 1 : end + 1].mean()) / p.freeze_max_diff,
                    frames=end - start + 1,
                    motion_before=round(before, 4),
                    motion_after=round(after, 4),
                )
            )

        special = flash_frames | freeze_frames
        zoom_frames = np.zeros(n, bool)
        for i, k, scale, gain in _zoom_jumps(gray, motion, boundary, special, p.zoom_min_gain):
            zoom_frames[i : i + k + 1] = True
            label = "zoom_punch_in" if scale > 1 else "zoom_punch_out"
            effects.append(
                _seg(
                    label,
                    times[i],
                    times[i + k],
                    min(1.0, (gain - 1) / 9),
                    scale=round(float(max(scale, 1 / scale)), 3),
                    frames=k + 1,
                    at_detected_cut=bool(boundary[i]),
                )
            )
        special |= zoom_frames

        effects += _speed_ramps(motion, moving_share, times, boundary, special, p)
        effects += _grade_changes(rgb, gray, times, boundary, special, p)
        return _finish(effects, transitions, (times, motion), duration_s, cut_output is not None)


def _seg(label: str, start_s: float, end_s: float, score: float, **attributes) -> Segment:
    return Segment(
        kind="effect",
        start_s=float(start_s),
        end_s=float(max(end_s, start_s)),
        label=label,
        score=round(float(np.clip(score, 0.0, 1.0)), 3),
        attributes=attributes,
    )


def _end_time(times: np.ndarray, last: int, duration_s: float) -> float:
    """End of frame ``last``: the next frame's time (half-open), or the video end."""
    return float(times[last + 1]) if last + 1 < len(times) else max(float(times[last]), duration_s)


def _saturation(rgb: np.ndarray) -> float:
    f = rgb.astype(np.float32)
    return float(((f.max(axis=-1) - f.min(axis=-1)) / 255).mean())


def _passthrough(cut_output) -> list[Segment]:
    if cut_output is None:
        return []
    return [
        Segment(
            kind="transition",
            start_s=s.start_s,
            end_s=s.end_s,
            label=s.label,
            score=s.score,
            attributes={**s.attributes, "source": "cut_analysis"},
        )
        for s in cut_output.segments
        if s.kind == "transition"
    ]


def _boundaries(gray: np.ndarray, times: np.ndarray, transitions: list[Segment]) -> np.ndarray:
    """Frames that start a new shot (or lie inside a gradual transition): from cut_analysis when it
    ran, else our own crude hard-cut test (consecutive frames nearly uncorrelated and a changed
    brightness histogram)."""
    n = len(times)
    boundary = np.zeros(n, bool)
    boundary[0] = True
    if transitions:
        for t in transitions:
            inside = (times >= t.start_s - 1e-3) & (times <= t.end_s + 1e-3)
            boundary |= inside
            boundary[min(n - 1, int(np.searchsorted(times, t.start_s - 1e-3)))] = True
        return boundary
    flat = gray[:, ::2, ::2].reshape(n, -1)  # every 4th pixel is plenty for a global statistic
    std = flat.std(axis=1)
    z = (flat - flat.mean(axis=1, keepdims=True)) / np.maximum(std, 1e-6)[:, None]
    corr = (z[1:] * z[:-1]).mean(axis=1)
    textured = (std[1:] > 0.02) & (std[:-1] > 0.02)  # a flat (black, white) frame has no structure
    # A fast pan also decorrelates fine texture, but keeps the brightness histogram: ask for both.
    bins = np.minimum((flat * 32).astype(np.int64), 31) + 32 * np.arange(n)[:, None]
    hist = np.bincount(bins.ravel(), minlength=32 * n).reshape(n, 32) / flat.shape[1]
    hist_change = np.abs(np.diff(hist, axis=0)).sum(axis=1) / 2
    boundary[1:] |= textured & (corr < 0.4) & (hist_change > 0.3)
    return boundary


def _flashes(luma: np.ndarray, margin: float, max_frames: int) -> list[tuple[int, int]]:
    """Runs of 1..max_frames frames brighter than the frames on both sides by ``margin``, with the
    brightness back near its level before the flash afterwards."""
    found, n, i = [], len(luma), 1
    while i < n - 1:
        hit = None
        for length in range(1, max_frames + 1):
            j = i + length - 1
            if j + 1 >= n:
                break
            outside = max(luma[i - 1], luma[j + 1])
            if luma[i : j + 1].min() > outside + margin and abs(luma[i - 1] - luma[j + 1]) < margin / 2:
                hit = (i, j)
                break
        if hit:
            found.append(hit)
            i = hit[1] + 2
        else:
            i += 1
    return found


def _shot_id(boundary: np.ndarray) -> np.ndarray:
    return np.cumsum(boundary)


def _freezes(motion: np.ndarray, times: np.ndarray, boundary: np.ndarray, p) -> list[tuple[int, int, float, float]]:
    """A freeze is a run of identical frames lasting >= freeze_min_s while the video moves on both
    sides: the median motion over up to 1 s before the run (same shot) and after it must reach
    motion_min and be >= 5x the run's own difference. A static shot (still before or after) is
    therefore never a freeze."""
    shot = _shot_id(boundary)
    still = motion < p.freeze_max_diff
    still[boundary] = False
    out, n, i = [], len(motion), 1
    while i < n:
        if not still[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and still[j + 1]:
            j += 1
        start, end = i - 1, j  # frames start..end show one picture
        if _end_time(times, end, times[-1]) - times[start] >= p.freeze_min_s - 1e-6:
            before_idx = np.nonzero((times >= times[start] - 1.0) & (np.arange(n) <= start) & (shot == shot[start]))[0]
            after_idx = np.nonzero((times > times[end]) & (times <= times[end] + 1.0))[0]
            before = float(np.median(motion[before_idx])) if before_idx.size >= 2 else 0.0
            after = float(np.median(motion[after_idx[1:]])) if after_idx.size >= 3 else 0.0
            level = float(motion[i : j + 1].mean())
            if min(before, after) >= max(p.motion_min, 5 * level):
                out.append((start, end, before, after))
        i = j + 1
    return out


def _centre_zoom(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape
    ch, cw = max(2, round(h / scale)), max(2, round(w / scale))
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(img[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def _zoom_jumps(gray, motion, boundary, special, min_gain):
    """Sudden centred scale jumps inside a shot. Candidates are motion spikes; each is confirmed by
    rescaling the frame before it (centre crop, scales 1.08..2) and finding that the rescaled frame
    matches the frame 1..3 later min_gain times better than the unscaled one (a cut matches no scale,
    so a "cut" that does match is reported as a punch-in with at_detected_cut)."""
    n = len(motion)
    out, last = [], -10
    for i in range(2, n):
        # A hard cut (ours or cut_analysis's) may really be a punch-in: test it too; frames inside
        # a gradual transition are skipped.
        if boundary[i - 1] or special[i] or i - last < 3:
            continue
        local = np.median(motion[max(1, i - 15) : i])
        if motion[i] < max(0.02, 3 * local):
            continue
        prev = gray[i - 1]
        m = 8  # ignore the border, where a zoomed crop has no counterpart
        best = None
        for k in range(3):
            if i + k >= n or (k > 0 and boundary[i + k]):
                break
            nxt = gray[i + k]
            raw = float(np.abs(nxt - prev)[m:-m, m:-m].mean())
            for direction in (1, -1):
                a, b = (prev, nxt) if direction == 1 else (nxt, prev)
                errs = [float(np.abs(_centre_zoom(a, s) - b)[m:-m, m:-m].mean()) for s in _ZOOM_SCALES]
                j = int(np.argmin(errs))
                gain = raw / max(errs[j], 1e-4)
                if gain >= min_gain and (best is None or gain > best[3]):
                    scale = float(_ZOOM_SCALES[j]) if direction == 1 else 1 / float(_ZOOM_SCALES[j])
                    best = (i, k, scale, gain)
            if best is not None:
                break
        if best is not None:
            out.append(best)
            last = i + best[1]
    return out


def _window_median(values: np.ndarray, times: np.ndarray, mask: np.ndarray, lo: float, hi: float) -> float | None:
    sel = mask & (times >= lo) & (times < hi)
    return float(np.median(values[sel])) if sel.sum() >= 3 else None


def _speed_ramps(motion, moving_share, times, boundary, special, p) -> list[Segment]:
    """A sustained change of motion energy within one shot: the median over speed_min_s after a
    frame differs from the median over speed_min_s before it by >= speed_ratio. Flash, freeze and
    zoom frames are left out of the medians; both sides must reach motion_min; the strongest change
    per stretch is kept. Only whole-picture motion counts (>= 40 % of pixels changing on both
    sides): a ramp re-times the whole picture, while a subject starting to run in a still scene
    changes the energy just as much."""
    shot = _shot_id(boundary)
    usable = ~special & ~boundary
    n = len(times)
    ratios = np.ones(n)
    for i in range(1, n):
        same = (shot == shot[i]) & usable
        before = _window_median(motion, times, same, times[i] - p.speed_min_s, times[i])
        after = _window_median(motion, times, same, times[i], times[i] + p.speed_min_s)
        # Both sides must move: motion starting or stopping (a subject walking in) is no ramp.
        if before is None or after is None or min(before, after) < p.motion_min:
            continue
        share_b = _window_median(moving_share, times, same, times[i] - p.speed_min_s, times[i])
        share_a = _window_median(moving_share, times, same, times[i], times[i] + p.speed_min_s)
        if min(share_b or 0.0, share_a or 0.0) < 0.4:
            continue
        # Both sides must cover the whole window inside the shot (no half-empty windows at shot edges).
        if (
            times[i] - p.speed_min_s < times[np.argmax(shot == shot[i])]
            or times[i] + p.speed_min_s > times[n - 1 - np.argmax((shot == shot[i])[::-1])]
        ):
            continue
        ratios[i] = max(after, 1e-4) / max(before, 1e-4)
    out = []
    log_r = np.abs(np.log(ratios))
    threshold = np.log(p.speed_ratio)
    i = 0
    while i < n:
        if log_r[i] < threshold:
            i += 1
            continue
        j = i
        while j + 1 < n and log_r[j + 1] >= threshold and shot[j + 1] == shot[i]:
            j += 1
        k = i + int(np.argmax(log_r[i : j + 1]))
        label = "speed_ramp_up" if ratios[k] > 1 else "speed_ramp_down"
        out.append(
            _seg(label, times[k], times[k], (log_r[k] - threshold) / threshold + 0.5, ratio=round(float(ratios[k]), 3))
        )
        i = j + 1
    return out


def _frame_stats(rgb: np.ndarray) -> np.ndarray:
    """Per frame: mean L, a, b (CIE Lab, L 0..100) and luma contrast (std of L), on every 3rd
    pixel of every 3rd row (means barely move; one cvtColor call for all frames)."""
    sub = np.ascontiguousarray(rgb[:, ::3, ::3]).astype(np.float32) / 255
    n, h, w, _ = sub.shape
    lab = cv2.cvtColor(sub.reshape(n * h, w, 3), cv2.COLOR_RGB2Lab).reshape(n, h * w, 3)
    return np.concatenate([lab.mean(axis=1), lab[:, :, 0].std(axis=1)[:, None]], axis=1)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).mean() / max(float(a.std() * b.std()), 1e-9))


def _grade_changes(rgb, gray, times, boundary, special, p) -> list[Segment]:
    """Within a shot: mean Lab jumps by grade_delta_e (or contrast by grade_contrast_ratio) between
    the 0.3 s before and after a frame, each side steady, while the picture structure stays (the
    normalised frames still correlate): a re-grade, not new content. Across a cut: the 0.5 s
    windows either side differ by grade_delta_e_at_cut."""
    n = len(times)
    stats = _frame_stats(rgb)
    shot = _shot_id(boundary)
    usable = ~special
    out = []
    last = -1e9
    for i in range(1, n):
        at_cut = bool(boundary[i] and shot[i] != shot[i - 1])
        half = 0.5 if at_cut else 0.3
        lo, hi = int(np.searchsorted(times, times[i] - half)), int(np.searchsorted(times, times[i] + half))
        before = np.arange(lo, i)[usable[lo:i] & (shot[lo:i] == shot[i - 1])]
        after = np.arange(i, hi)[usable[i:hi] & (shot[i:hi] == shot[i])]
        if before.size < 3 or after.size < 3:
            continue
        sb, sa = stats[before], stats[after]
        delta_e = float(np.linalg.norm(sa[:, :3].mean(0) - sb[:, :3].mean(0)))
        contrast = float(max(sa[:, 3].mean(), 1e-3) / max(sb[:, 3].mean(), 1e-3))
        if min(sb[:, 0].mean(), sa[:, 0].mean()) < 8 or min(sb[:, 3].mean(), sa[:, 3].mean()) < 2:
            continue  # black or flat on one side: a fade or cut to black, not a re-grade
        if at_cut:
            hit = delta_e >= p.grade_delta_e_at_cut
        else:
            steady = max(sb[:, :3].std(0).max(), sa[:, :3].std(0).max()) < delta_e / 4
            same_picture = steady and _correlation(gray[i], gray[i - 1]) > 0.7
            hit = (
                steady
                and same_picture
                and (delta_e >= p.grade_delta_e or max(contrast, 1 / contrast) >= p.grade_contrast_ratio)
            )
        if hit and times[i] - last > 0.5:
            last = times[i]
            out.append(
                _seg(
                    "color_grade_change",
                    times[i],
                    times[i],
                    delta_e / (2 * p.grade_delta_e),
                    delta_e=round(delta_e, 2),
                    contrast_ratio=round(contrast, 3),
                    at_cut=at_cut,
                )
            )
    return out


def _finish(effects, transitions, motion, duration_s, used_cut_analysis) -> AnalyzerOutput:
    effects = sorted(effects, key=lambda s: (s.start_s, s.label))
    counts = {label: sum(1 for s in effects if s.label == label) for label in EFFECT_LABELS}
    by_type: dict[str, int] = {}
    for t in transitions:
        by_type[t.label] = by_type.get(t.label, 0) + 1
    minutes = duration_s / 60.0
    summary = {
        "effect_counts": counts,
        "effects_total": len(effects),
        "effects_per_minute": round(len(effects) / minutes, 3) if minutes > 0 else None,
        "transitions_by_type": by_type,
        "transitions_total": len(transitions),
        "cut_analysis_used": used_cut_analysis,
    }
    tracks = []
    if motion is not None:
        times, values = motion
        summary["mean_motion_energy"] = round(float(values[1:].mean()), 5)
        tracks.append(Track(name="motion_energy", unit="ratio", times_s=times.tolist(), values=values.tolist()))
    segments = sorted(effects + transitions, key=lambda s: (s.start_s, s.kind, s.label))
    return AnalyzerOutput(summary=summary, segments=segments, tracks=tracks)
