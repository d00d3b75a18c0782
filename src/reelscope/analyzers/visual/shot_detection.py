"""Shot-boundary detection on small frames at the full frame rate: hard cuts, flashes, fades and
gradual transitions (dissolves, wipes), as plain functions over arrays so they are easy to test.

Signals per frame: a joint RGB histogram (8 levels per channel) and mean luma; per frame pair: the
histogram distance (half the L1 distance, 0..1) and the mean absolute pixel difference. A hard cut
is a pair whose histogram AND pixel distances both stand far above their neighbourhood; candidates
are then vetoed when the new frame is the old one moved or scaled (fast pans, zoom punch-ins).
Gradual transitions are found on a strided distance (frame t vs t-s) and kept only when the frames
in between are explained by the two ends: a linear blend (dissolve) or a spatial switch (wipe).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HIST_LEVELS = 8  # per channel, so 512 joint bins
BLACK_LUMA = 0.06
WHITE_LUMA = 0.92


@dataclass(frozen=True)
class Transition:
    """Frames ``[start, end]``: for a hard cut ``start == end`` is the first frame of the new shot;
    for gradual ones the first and last frame that belong to the transition."""

    start: int
    end: int
    label: str  # hard_cut, flash, fade_in, fade_out, dissolve, wipe
    score: float


@dataclass(frozen=True)
class Signals:
    hist: np.ndarray  # (N, 512) float32, rows sum to 1
    luma: np.ndarray  # (N,) 0..1
    gray: np.ndarray  # (N, h, w) float32 0..1
    hist_dist: np.ndarray  # (N,) distance of frame t to t-1; [0] = 0
    pix_dist: np.ndarray  # (N,) mean |gray_t - gray_t-1|; [0] = 0
    images: np.ndarray  # the RGB frames the signals came from
    correlation: np.ndarray  # (N,) structure correlation of frame t with t-1 (1 = same picture); [0] = 1


def joint_histograms(images: np.ndarray, chunk: int = 256) -> np.ndarray:
    n = images.shape[0]
    out = np.empty((n, HIST_LEVELS**3), dtype=np.float32)
    shift = 8 - int(np.log2(HIST_LEVELS))
    for start in range(0, n, chunk):
        block = np.asarray(images[start : start + chunk])
        q = (block >> shift).astype(np.int32)
        idx = (q[..., 0] * HIST_LEVELS + q[..., 1]) * HIST_LEVELS + q[..., 2]
        m = block.shape[0]
        offsets = np.arange(m, dtype=np.int32)[:, None] * HIST_LEVELS**3
        counts = np.bincount((idx.reshape(m, -1) + offsets).ravel(), minlength=m * HIST_LEVELS**3)
        counts = counts.reshape(m, -1).astype(np.float32)
        out[start : start + m] = counts / counts.sum(axis=1, keepdims=True)
    return out


def hist_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 0.5 * np.abs(a - b).sum(axis=-1)


def coarse_histograms(hist: np.ndarray) -> np.ndarray:
    """512-bin joint histograms summed down to 4 levels per channel (64 bins): tolerant of the
    small lighting shifts between shots of one scene."""
    shape = hist.shape[:-1] + (4, 2, 4, 2, 4, 2)
    return hist.reshape(shape).sum(axis=(-5, -3, -1)).reshape(hist.shape[:-1] + (64,))


def compute_signals(images: np.ndarray) -> Signals:
    """``images``: (N, H, W, 3) uint8 RGB at low resolution."""
    hist = joint_histograms(images)
    gray = (np.asarray(images, dtype=np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)) / 255.0
    luma = gray.mean(axis=(1, 2))
    hist_dist = np.zeros(len(images), np.float32)
    pix_dist = np.zeros(len(images), np.float32)
    if len(images) > 1:
        hist_dist[1:] = hist_distance(hist[1:], hist[:-1])
        pix_dist[1:] = np.abs(np.diff(gray, axis=0)).mean(axis=(1, 2))
    return Signals(hist, luma, gray, hist_dist, pix_dist, images, _consecutive_correlation(gray))


def _consecutive_correlation(gray: np.ndarray) -> np.ndarray:
    """Pearson correlation of each frame with the previous one, on 2x2-pooled frames (less noise).
    Colour-blind on purpose: it catches cuts between shots with the same palette (two angles of one
    room), which the colour histogram cannot see."""
    n, h, w = gray.shape
    out = np.ones(n, np.float32)
    if n < 2:
        return out
    pooled = gray[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    z = pooled.reshape(n, -1)
    z = z - z.mean(axis=1, keepdims=True)
    z /= np.maximum(np.sqrt((z**2).mean(axis=1, keepdims=True)), 1e-3)  # flat frames: ~0, not NaN
    out[1:] = (z[1:] * z[:-1]).mean(axis=1)
    return out


def _local_level(values: np.ndarray, i: int, radius: int) -> float:
    """Typical value around ``i`` (excluding it): the median of the neighbours, so a second cut a
    few frames away (fast montages) does not raise the bar."""
    lo, hi = max(1, i - radius), min(len(values), i + radius + 1)
    neighbours = np.concatenate([values[lo:i], values[i + 1 : hi]])
    return float(np.median(neighbours)) if neighbours.size else 0.0


def same_content_transformed(prev: np.ndarray, cur: np.ndarray, raw_diff: float) -> bool:
    """True when ``cur`` is ``prev`` shifted or scaled (pan, shake, zoom punch-in), not a new shot.

    Tries the translation found by phase correlation and centre zooms in and out; a real cut stays
    far apart under every one of them.
    """
    h, w = prev.shape
    best = raw_diff
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    # copies: OpenCV 5's phaseCorrelate writes into its inputs
    (dx, dy), response = cv2.phaseCorrelate(prev.copy(), cur.copy(), window)
    if response > 0.05:
        matrix = np.float32([[1, 0, dx], [0, 1, dy]])
        moved = cv2.warpAffine(prev, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
        mx, my = int(abs(dx)) + 1, int(abs(dy)) + 1
        if mx < w // 3 and my < h // 3:
            best = min(best, float(np.abs(moved - cur)[my:-my, mx:-mx].mean()))
    for scale in (1.15, 1.3, 1.5, 1.75, 2.0):
        for src, dst in ((prev, cur), (cur, prev)):  # zoom in, zoom out
            cw, ch = int(round(w / scale)), int(round(h / scale))
            x0, y0 = (w - cw) // 2, (h - ch) // 2
            zoomed = cv2.resize(src[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
            best = min(best, float(np.abs(cv2.GaussianBlur(zoomed, (3, 3), 0) - cv2.GaussianBlur(dst, (3, 3), 0)).mean()))
    return best < 0.4 * raw_diff


def detect_hard_cuts(sig: Signals, min_hist_dist: float, min_ratio: float, radius: int = 3) -> list[int]:
    """Candidates: the colour histogram jumps, or the picture's structure decorrelates while its
    neighbours stay correlated (a same-palette cut). Both then pass the same vetoes."""
    cuts: list[int] = []
    by_structure = sig.correlation < 0.5
    for i in np.flatnonzero((sig.hist_dist >= min_hist_dist) | by_structure):
        i = int(i)
        hist_level = _local_level(sig.hist_dist, i, radius)
        pix_level = _local_level(sig.pix_dist, i, radius)
        colour_jump = sig.hist_dist[i] >= max(min_hist_dist, min_ratio * max(hist_level, 0.01))
        structure_jump = by_structure[i] and _local_level(sig.correlation, i, radius) >= 0.75
        if not (colour_jump or structure_jump):
            continue
        if sig.pix_dist[i] < max(0.02, 0.6 * min_ratio * pix_level):
            continue
        # A cut is complete at once: frame i is already as far from the old shot as frame i+2.
        # At the start of a dissolve or wipe the change keeps growing after i. (Pixels, not
        # histograms: on near-flat frames every small step flips the coarse histogram.)
        later = min(i + 2, len(sig.gray) - 1)
        if sig.pix_dist[i] < 0.6 * float(np.abs(sig.gray[later] - sig.gray[i - 1]).mean()):
            continue
        if same_content_transformed(sig.gray[i - 1], sig.gray[i], float(sig.pix_dist[i])):
            continue
        cuts.append(i)
    return cuts


def resolve_flashes(sig: Signals, cuts: list[int], max_len: int = 4) -> tuple[list[int], list[Transition]]:
    """A white flash makes two cut candidates (into and out of the flash). If the shot after the
    flash is the shot before it, both go (an in-shot flash is an effect, not a boundary); else they
    become one ``flash`` transition."""
    remaining = sorted(cuts)
    flashes: list[Transition] = []
    i = 0
    kept: list[int] = []
    while i < len(remaining):
        a = remaining[i]
        b = remaining[i + 1] if i + 1 < len(remaining) else None
        if b is not None and b - a <= max_len:
            inside = sig.luma[a:b].mean()
            around = max(sig.luma[a - 1], sig.luma[min(b, len(sig.luma) - 1)])
            if inside > around + 0.2 and _washed_out(sig.images[a:b]):
                if hist_distance(sig.hist[a - 1], sig.hist[b]) >= 0.25:
                    flashes.append(Transition(a, b, "flash", float(min(1.0, inside - around))))
                i += 2
                continue
        kept.append(a)
        i += 1
    return kept, flashes


def _washed_out(images: np.ndarray) -> bool:
    """Flash frames are near white: very bright, or bright with little colour left. A short
    bright, saturated shot in a montage is not a flash."""
    rgb = np.asarray(images, dtype=np.float32) / 255.0
    luma = float(rgb.mean())
    saturation = float((rgb.max(axis=-1) - rgb.min(axis=-1)).mean())
    return luma > 0.85 or (luma > 0.6 and saturation < 0.2)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive [start, end] of each True run."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e) - 1) for s, e in zip(edges[::2], edges[1::2])]


def detect_fades(sig: Signals, cuts: list[int], min_frames: int = 3) -> list[Transition]:
    """Fades to and from black (or white): monotone luma ramps that end or start at a black run."""
    fades: list[Transition] = []
    cut_set = set(cuts)
    n = len(sig.luma)
    for target, mask in (("black", sig.luma < BLACK_LUMA), ("white", sig.luma > WHITE_LUMA)):
        sign = 1.0 if target == "black" else -1.0  # black: luma rises away from the run
        for start, end in _runs(mask):
            # the ramp starts (or ends) inside the dark run: luma keeps changing there too
            while start + 1 <= end and sign * (sig.luma[start] - sig.luma[start + 1]) > 0.0015:
                start += 1
            while end - 1 >= start and sign * (sig.luma[end] - sig.luma[end - 1]) > 0.0015:
                end -= 1
            # fade out: walking back from the run, luma keeps moving away from the target
            k = start
            while k - 1 >= 0 and k not in cut_set and sign * (sig.luma[k - 1] - sig.luma[k]) > 0.0015:
                k -= 1
            if start - k >= min_frames and abs(sig.luma[k] - sig.luma[start]) >= 0.04:
                label = "fade_out" if target == "black" else "fade_to_white"
                fades.append(Transition(k, start, label, float(min(1.0, abs(sig.luma[k] - sig.luma[start]) * 4))))
            k = end
            while k + 1 < n and (k + 1) not in cut_set and sign * (sig.luma[k + 1] - sig.luma[k]) > 0.0015:
                k += 1
            if k - end >= min_frames and abs(sig.luma[k] - sig.luma[end]) >= 0.04:
                label = "fade_in" if target == "black" else "fade_from_white"
                fades.append(Transition(end + 1, k, label, float(min(1.0, abs(sig.luma[k] - sig.luma[end]) * 4))))
    return fades


def chromaticity_distance(a: np.ndarray, b: np.ndarray, bins: int = 8) -> float:
    """Histogram distance of the (r, g) chromaticity of two RGB frames. Brightness and exposure
    changes leave chromaticity alone, so the same scene re-exposed scores near 0."""
    hists = []
    for image in (a, b):
        rgb = np.asarray(image, dtype=np.float32).reshape(-1, 3)
        total = rgb.sum(axis=1)
        rgb, total = rgb[total > 30], total[total > 30]  # chromaticity is noise in near-black pixels
        if total.size == 0:
            hists.append(np.zeros(bins * bins, np.float32))
            continue
        r = np.minimum((rgb[:, 0] / total * bins).astype(np.int32), bins - 1)
        g = np.minimum((rgb[:, 1] / total * bins).astype(np.int32), bins - 1)
        h = np.bincount(r * bins + g, minlength=bins * bins).astype(np.float32)
        hists.append(h / h.sum())
    return float(hist_distance(hists[0], hists[1]))


def _steady_progress(progress: np.ndarray) -> tuple[int, int] | None:
    """Where a 1 -> 0 progress curve (share of the old shot) moves, if it moves the way edited
    transitions do: over at least 3 frames, steadily (no single step over 40 %), close to linear.
    Auto-exposure and lighting steps jump instead."""
    if progress.size < 3 or progress[0] - progress[-1] < 0.5 or np.any(np.diff(progress) > 0.08):
        return None
    moving = np.flatnonzero((progress < 0.97) & (progress > 0.03))
    if moving.size < 3 or np.max(-np.diff(progress)) > 0.4:
        return None
    segment = progress[moving[0] : moving[-1] + 1]
    if np.corrcoef(np.arange(segment.size), segment)[0, 1] > -0.9:
        return None
    return int(moving[0]), int(moving[-1])


def _blend_fit(frames: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: alpha of ``alpha * a + (1 - alpha) * b`` and the relative residual."""
    diff = (a - b).ravel()
    norm = float(diff @ diff) or 1e-9
    centred = frames.reshape(len(frames), -1) - b.ravel()
    alpha = centred @ diff / norm
    residual = centred - alpha[:, None] * diff
    rel = np.sqrt((residual**2).mean(axis=1)) / np.sqrt(norm / diff.size)
    return alpha, rel


def _wipe_fit(frames: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: share of pixels still showing ``a``, share explained by a or b, and how well a
    straight edge sweeping horizontally or vertically explains the a/b map (1 = every column, or
    every row, is all-a or all-b)."""
    da, db = np.abs(frames - a), np.abs(frames - b)
    distinct = np.abs(a - b) > 0.08
    still_a = ((da < db) & distinct).astype(np.float32)
    explained = (np.minimum(da, db) < 0.06) | ~distinct
    share_a = still_a.sum(axis=(1, 2)) / max(1, distinct.sum())
    weight = np.maximum(distinct.sum(), 1)
    by_col = still_a.sum(axis=1) / np.maximum(distinct.sum(axis=0), 1)  # (n, w)
    by_row = still_a.sum(axis=2) / np.maximum(distinct.sum(axis=1), 1)  # (n, h)
    purity_x = (np.maximum(by_col, 1 - by_col) * distinct.sum(axis=0)).sum(axis=1) / weight
    purity_y = (np.maximum(by_row, 1 - by_row) * distinct.sum(axis=1)).sum(axis=1) / weight
    return share_a, explained.mean(axis=(1, 2)), np.maximum(purity_x, purity_y)


def detect_gradual(
    sig: Signals, boundaries: list[tuple[int, int]], stride: int, max_frames: int, min_change: float
) -> list[Transition]:
    """Dissolves and wipes inside the spans between already-known boundaries."""
    n = len(sig.luma)
    if n <= 2 * stride:
        return []
    strided = np.zeros(n, np.float32)
    strided[stride:] = hist_distance(sig.hist[stride:], sig.hist[:-stride])
    blocked = np.zeros(n, bool)
    for s, e in boundaries:
        blocked[max(0, s - stride) : min(n, e + stride + 1)] = True
    found: list[Transition] = []
    active = (strided >= min_change * 0.5) & ~blocked
    for run_start, run_end in _runs(active):
        a_idx, b_idx = max(0, run_start - stride), run_end
        if b_idx - a_idx < 3 or b_idx - a_idx > max_frames + stride:
            continue
        change = float(hist_distance(sig.hist[a_idx], sig.hist[b_idx]))
        if change < min_change:
            continue
        a, b = sig.gray[a_idx], sig.gray[b_idx]
        if float((np.abs(a - b) > 0.08).mean()) < 0.5:
            continue  # a transition replaces most of the picture; an object moving in does not
        if chromaticity_distance(sig.images[a_idx], sig.images[b_idx]) < 0.15:
            # same colours, other brightness: exposure or lighting, not a new shot. (The price:
            # a gradual transition between two shots of the same colour mix is not reported.)
            continue
        inner = sig.gray[a_idx + 1 : b_idx]
        alpha, rel = _blend_fit(inner, a, b)
        span = _steady_progress(alpha)
        if span is not None and float(np.median(rel)) < 0.35:
            found.append(Transition(a_idx + 1 + span[0], a_idx + 1 + span[1], "dissolve", float(min(1.0, change))))
            continue
        share_a, explained, straightness = _wipe_fit(inner, a, b)
        span = _steady_progress(share_a)
        if span is not None and float(np.median(explained)) > 0.8 and float(np.median(straightness)) > 0.85:
            found.append(Transition(a_idx + 1 + span[0], a_idx + 1 + span[1], "wipe", float(min(1.0, change))))
    return found


def detect_transitions(
    images: np.ndarray,
    *,
    min_hist_dist: float = 0.1,
    min_ratio: float = 3.0,
    gradual: bool = True,
    gradual_stride: int = 4,
    gradual_max_frames: int = 60,
    gradual_min_change: float = 0.3,
) -> tuple[Signals, list[Transition]]:
    sig = compute_signals(images)
    cuts = detect_hard_cuts(sig, min_hist_dist, min_ratio)
    cuts, flashes = resolve_flashes(sig, cuts)
    fades = detect_fades(sig, cuts)
    transitions = [Transition(c, c, "hard_cut", float(min(1.0, sig.hist_dist[c]))) for c in cuts] + flashes + fades
    if gradual:
        known = [(t.start, t.end) for t in transitions]
        transitions += detect_gradual(sig, known, gradual_stride, gradual_max_frames, gradual_min_change)
    return sig, sorted(transitions, key=lambda t: (t.start, t.end))
