"""Camera motion: global pan, tilt, zoom and handheld shake between consecutive sampled frames.

Per step (frame i -> i+1) we measure the global translation with Hanning-windowed phase
correlation and the scale with sparse Lucas-Kanade flow fitted by a RANSAC similarity transform.
Steps across a hard scene change (phase correlation finds no peak, the tracks are lost and the
frames differ a lot) are marked ``cut`` and carry no motion, so cuts never read as violent shake.
The remaining steps are smoothed over ~1 s, split into a consistent part (pan/tilt/zoom) and a
jitter part (shake), classified and merged into ``camera_motion`` segments.

Sign conventions: ``pan_x`` > 0 means the camera pans right (content moves left); ``tilt_y`` > 0
means the camera tilts up (content moves down); ``zoom`` > 0 means zoom in (content grows).
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

SHORT_SIDE_PX = 96  # shared with cut_analysis so both read one decoded stream
GAPS = ("cut", "flat")  # step labels without a measured motion
LABELS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "handheld")

# A step is a cut only when every cue agrees: (almost) no tracked corner survives the RANSAC fit,
# the grey-level difference is as large as between unrelated images (~1.1x their standard
# deviation, i.e. diff_ratio ~2) and phase correlation has no clear peak. Measured on real clips:
# cuts give tracked <= 0.13, diff_ratio >= 1.7, response <= 0.3; handheld steps within a shot
# tracked >= 0.2 or diff_ratio <= 1.3.
CUT_MAX_RESPONSE = 0.4
CUT_MAX_TRACKED_FRAC = 0.15
CUT_MIN_DIFF_RATIO = 1.2
CUT_MIN_DIFF_PER_CONTRAST = 0.5
CUT_MIN_MEAN_ABS_DIFF = 0.02  # grey levels as 0..1
# Below this grey-level standard deviation (0..1) a frame has nothing to register (black, flat).
FLAT_MAX_CONTRAST = 0.02
RANSAC_MIN_TRACKED_FRAC = 0.3  # enough inlier corners to trust the similarity fit's translation
PC_MIN_RESPONSE = 0.1  # below it the phase-correlation peak is noise; use the RANSAC fit instead


class CameraAnalysis(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        rate_hz: float = Field(10.0, gt=0, le=60, description="frames sampled per second")
        move_threshold_frac_per_s: float = Field(
            0.04, gt=0, description="smoothed pan/tilt speed (frame fraction per s) above which the camera moves"
        )
        zoom_threshold_log_per_s: float = Field(
            0.06, gt=0, description="smoothed |ln(scale)| per s above which the camera zooms"
        )
        shake_threshold_frac_per_s: float = Field(
            0.08, gt=0, description="jitter RMS (frame fraction per s) above which the camera is handheld"
        )
        smoothing_s: float = Field(1.0, gt=0, description="window separating consistent motion from jitter")
        min_segment_s: float = Field(0.5, ge=0, description="shorter label runs merge into their neighbours")

    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="camera_analysis",
        version="1.0.0",
        description="Global camera motion (static, pan, tilt, zoom, handheld) and stability from frame-to-frame registration.",
        needs=Needs(frames=FrameRequest(rate_hz=10.0, short_side_px=SHORT_SIDE_PX, pixel_format="rgb24")),
        timeout_s=60,
        tags=("visual", "camera"),
    )

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        return Needs(frames=FrameRequest(rate_hz=params.rate_hz, short_side_px=SHORT_SIDE_PX, pixel_format="rgb24"))

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        p = context.params
        frames = view.frames
        n = 0 if frames is None else len(frames)
        if frames is None or n < 2:
            return AnalyzerOutput(summary={"frames_analyzed": n, "steps_analyzed": 0, "dominant_motion": None})

        times_s = np.asarray(frames.times_s, dtype=np.float64)
        steps = _measure_steps(frames.images)
        dt_s = np.maximum(np.diff(times_s), 1e-3)
        h, w = frames.images.shape[1:3]

        valid = ~(steps["cut"] | steps["flat"])
        # Content displacement -> camera motion: content moving left means a pan right.
        pan = np.where(valid, -steps["dx_px"] / w / dt_s, np.nan)
        tilt = np.where(valid, steps["dy_px"] / h / dt_s, np.nan)
        zoom = np.where(valid, np.log(steps["scale"]) / dt_s, np.nan)

        step_rate_hz = 1.0 / float(np.median(dt_s))
        win = max(3, round(p.smoothing_s * step_rate_hz) | 1)
        cut = steps["cut"]
        pan_s, tilt_s, zoom_s = (_smooth(x, valid, cut, win) for x in (pan, tilt, zoom))
        # Jitter: what the smoothed (consistent) motion does not explain, RMS over the window.
        resid_sq = (pan - pan_s) ** 2 + (tilt - tilt_s) ** 2
        shake = np.sqrt(_smooth(resid_sq, valid, cut, win))

        raw = _classify(pan_s, tilt_s, zoom_s, shake, steps["cut"], steps["flat"], p)
        mids_s = 0.5 * (times_s[:-1] + times_s[1:])
        labels = _absorb_short_runs(raw, times_s, p.min_segment_s)
        # Segments stay inside the media; a probe without a duration falls back to the last sample.
        duration_s = float(view.media.duration_s) if view.media.duration_s > 0 else float(times_s[-1])
        segments = _segments(labels, raw, times_s, duration_s, pan_s, tilt_s, zoom_s, shake)

        tracks = [
            Track(name="pan_x", unit="width_frac_per_s", times_s=mids_s.tolist(), values=_vals(pan)),
            Track(name="tilt_y", unit="height_frac_per_s", times_s=mids_s.tolist(), values=_vals(tilt)),
            Track(name="zoom", unit="log_scale_per_s", times_s=mids_s.tolist(), values=_vals(zoom)),
            Track(name="shake", unit="frame_frac_per_s_rms", times_s=mids_s.tolist(), values=_vals(shake)),
        ]
        return AnalyzerOutput(
            summary=_summary(labels, times_s, valid, pan, tilt, zoom, shake, steps, n), segments=segments, tracks=tracks
        )


def _measure_steps(images: np.ndarray) -> dict[str, np.ndarray]:
    """Translation (px), scale and cut flag for each consecutive pair of frames."""
    n = images.shape[0]
    h, w = images.shape[1:3]
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    dx = np.zeros(n - 1)
    dy = np.zeros(n - 1)
    scale = np.ones(n - 1)
    cut = np.zeros(n - 1, dtype=bool)
    flat = np.zeros(n - 1, dtype=bool)
    response = np.zeros(n - 1)
    tracked = np.zeros(n - 1)
    diff_ratio = np.zeros(n - 1)
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])

    prev_u8 = _gray(images[0])
    prev_f = prev_u8.astype(np.float32) / 255.0
    for i in range(n - 1):
        cur_u8 = _gray(images[i + 1])
        cur_f = cur_u8.astype(np.float32) / 255.0
        # Copies: this OpenCV build applies the window to its inputs in place.
        (sx, sy), resp = cv2.phaseCorrelate(prev_f.copy(), cur_f.copy(), window)
        response[i] = resp
        s, tracked[i], centre_shift = _similarity(prev_u8, cur_u8, centre)
        mad = float(np.mean(np.abs(cur_f - prev_f)))
        prev_std, cur_std = float(prev_f.std()), float(cur_f.std())
        diff_ratio[i] = mad / max(CUT_MIN_MEAN_ABS_DIFF, CUT_MIN_DIFF_PER_CONTRAST * 0.5 * (prev_std + cur_std))
        if max(prev_std, cur_std) < FLAT_MAX_CONTRAST:
            flat[i] = True
        elif resp < CUT_MAX_RESPONSE and tracked[i] < CUT_MAX_TRACKED_FRAC and diff_ratio[i] > CUT_MIN_DIFF_RATIO:
            cut[i] = True
        else:
            if centre_shift is not None and (tracked[i] >= RANSAC_MIN_TRACKED_FRAC or resp < PC_MIN_RESPONSE):
                # RANSAC ignores a subject moving over a still background (phase correlation may
                # lock onto it) and stays right during zooms; phase correlation covers low texture.
                sx, sy = centre_shift
            dx[i], dy[i], scale[i] = sx, sy, s
        prev_u8, prev_f = cur_u8, cur_f
    return {
        "dx_px": dx,
        "dy_px": dy,
        "scale": scale,
        "cut": cut,
        "flat": flat,
        "response": response,
        "tracked_frac": tracked,
        "diff_ratio": diff_ratio,
    }


def _gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)


def _similarity(a: np.ndarray, b: np.ndarray, centre: np.ndarray) -> tuple[float, float, tuple[float, float] | None]:
    """Scale from LK tracks + RANSAC similarity; also the fraction of corners tracked as inliers
    and the displacement of the frame centre. Scale 1 when too little texture to tell."""
    pts = cv2.goodFeaturesToTrack(a, maxCorners=60, qualityLevel=0.01, minDistance=5, blockSize=5)
    if pts is None or len(pts) < 8:
        return 1.0, 0.0, None
    nxt, status, _ = cv2.calcOpticalFlowPyrLK(a, b, pts, None, winSize=(11, 11), maxLevel=2)
    ok = status.ravel() == 1
    if ok.sum() < 8:
        return 1.0, 0.0, None
    m, inliers = cv2.estimateAffinePartial2D(
        pts[ok], nxt[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0, maxIters=200, refineIters=5
    )
    if m is None or inliers is None or inliers.sum() < 8:
        return 1.0, 0.0 if inliers is None else float(inliers.sum()) / len(pts), None
    s = float(math.hypot(m[0, 0], m[1, 0]))
    shift = m[:, :2] @ centre + m[:, 2] - centre
    tracked = float(inliers.sum()) / len(pts)
    return (s if 0.5 < s < 2.0 else 1.0), tracked, (float(shift[0]), float(shift[1]))


def _smooth(x: np.ndarray, valid: np.ndarray, cut: np.ndarray, win: int) -> np.ndarray:
    """Centred moving mean over valid steps within each shot: cut/flat steps neither contribute
    nor receive, and no window reaches across a cut."""
    out = np.full(x.shape, np.nan)
    shot = np.cumsum(cut)
    k = np.ones(win)
    for sid in np.unique(shot[valid]):
        sel = (shot == sid) & ~cut
        v = np.where(valid[sel], np.nan_to_num(x[sel]), 0.0)
        # "full" then the centred slice: "same" pads to the kernel when the shot is shorter.
        lo, hi = (win - 1) // 2, (win - 1) // 2 + v.shape[0]
        num = np.convolve(v, k, mode="full")[lo:hi]
        den = np.convolve(valid[sel].astype(np.float64), k, mode="full")[lo:hi]
        out[sel] = np.where(valid[sel], num / np.maximum(den, 1e-9), np.nan)
    return out


def _classify(pan, tilt, zoom, shake, cut, flat, p) -> list[str]:
    """One label per step; ``cut`` and ``flat`` steps carry no motion and end segments."""
    labels: list[str] = []
    for i in range(len(pan)):
        if cut[i] or flat[i]:
            labels.append("cut" if cut[i] else "flat")
            continue
        # Compare zoom with pan/tilt by how far it moves the frame edges (half the frame per unit log-scale).
        move = {
            "pan": abs(pan[i]) / p.move_threshold_frac_per_s,
            "tilt": abs(tilt[i]) / p.move_threshold_frac_per_s,
            "zoom": abs(zoom[i]) / p.zoom_threshold_log_per_s,
        }
        kind = max(move, key=move.get)
        directed_frac_per_s = max(abs(pan[i]), abs(tilt[i]), 0.5 * abs(zoom[i]))
        # Directional only when it exceeds its threshold and is not drowned in jitter.
        if move[kind] >= 1.0 and directed_frac_per_s >= 0.5 * shake[i]:
            if kind == "pan":
                labels.append("pan_right" if pan[i] > 0 else "pan_left")
            elif kind == "tilt":
                labels.append("tilt_up" if tilt[i] > 0 else "tilt_down")
            else:
                labels.append("zoom_in" if zoom[i] > 0 else "zoom_out")
        elif shake[i] >= p.shake_threshold_frac_per_s:
            labels.append("handheld")
        else:
            labels.append("static")
    return labels


def _runs(labels: list[str]) -> list[tuple[int, int, str]]:
    """(first_step, last_step_exclusive, label) for runs of equal labels."""
    runs: list[tuple[int, int, str]] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            runs.append((start, i, labels[start]))
            start = i
    return runs


def _absorb_short_runs(labels: list[str], times_s: np.ndarray, min_s: float) -> list[str]:
    """Relabel motion runs shorter than ``min_s`` as their longer neighbouring motion run
    (cut/flat gaps are never relabelled and never spread)."""
    out = list(labels)
    kept: set[int] = set()  # start steps of short runs that have no motion neighbour
    for _ in range(len(labels)):
        runs = _runs(out)
        dur = [times_s[b] - times_s[a] for a, b, _ in runs]
        short = [k for k, (a, _, lab) in enumerate(runs) if lab not in GAPS and dur[k] < min_s and a not in kept]
        if not short:
            break
        k = min(short, key=lambda j: dur[j])
        neighbours = [j for j in (k - 1, k + 1) if 0 <= j < len(runs) and runs[j][2] not in GAPS]
        a, b, _ = runs[k]
        if not neighbours:
            kept.add(a)
            continue
        j = max(neighbours, key=lambda j: dur[j])
        out[a:b] = [runs[j][2]] * (b - a)
    return out


def _segments(labels, raw, times_s, duration_s, pan, tilt, zoom, shake) -> list[Segment]:
    segs: list[Segment] = []
    for a, b, lab in _runs(labels):
        if lab in GAPS:
            continue
        start_s = min(float(times_s[a]), duration_s)
        end_s = min(float(times_s[b]), duration_s)
        agree = float(np.mean([r == lab for r in raw[a:b]]))
        segs.append(
            Segment(
                kind="camera_motion",
                start_s=start_s,
                end_s=end_s,
                label=lab,
                score=agree,
                attributes={
                    "pan_speed_frac_per_s": round(float(np.nanmean(pan[a:b])), 4),
                    "tilt_speed_frac_per_s": round(float(np.nanmean(tilt[a:b])), 4),
                    "zoom_log_per_s": round(float(np.nanmean(zoom[a:b])), 4),
                    "shake_frac_per_s": round(float(np.nanmean(shake[a:b])), 4),
                },
            )
        )
    return segs


def _summary(labels, times_s, valid, pan, tilt, zoom, shake, steps, n_frames) -> dict:
    dur = np.diff(times_s)
    moving_s = float(dur[valid].sum())
    share = {}
    for lab in LABELS:
        sel = np.array([x == lab for x in labels])
        if sel.any():
            share[lab] = round(float(dur[sel].sum()) / max(moving_s, 1e-9), 4)
    dominant = max(share, key=share.get) if share else None
    measured = bool(valid.any())  # all steps cut or flat: nothing to report on motion
    mean_shake = float(np.nanmean(shake)) if measured else None
    return {
        "frames_analyzed": int(n_frames),
        "steps_analyzed": int(valid.sum()),
        "cut_steps": int(steps["cut"].sum()),
        "cut_times_s": [round(float(t), 3) for t in times_s[1:][steps["cut"]]],
        "flat_steps": int(steps["flat"].sum()),
        "dominant_motion": dominant,
        "label_share": share,
        # 1 for a perfectly steady camera; halves every ~0.07 frame-widths/s of jitter.
        "stability_score": round(math.exp(-mean_shake / 0.1), 4) if measured else None,
        "mean_motion_frac_per_s": round(float(np.nanmean(np.hypot(pan, tilt))), 4) if measured else None,
        "mean_abs_zoom_log_per_s": round(float(np.nanmean(np.abs(zoom))), 4) if measured else None,
        "mean_shake_frac_per_s": round(mean_shake, 4) if measured else None,
    }


def _vals(x: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in x]
