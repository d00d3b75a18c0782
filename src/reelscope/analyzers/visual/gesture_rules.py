"""Hand gestures from the 21 MediaPipe hand landmarks: pure rules, no model.

Landmarks come as an array (21, 2) or (21, 3) in *pixel-proportional* units (x and y scaled by
the same factor, e.g. normalized x * width and y * height); only x and y are used, because
MediaPipe's z is a rough relative depth. Image convention: x grows to the right, y downwards.

A finger is extended when its tip is clearly farther from the wrist than its PIP joint (ratio
above ``EXTENDED_RATIO``). Distances from the wrist do not depend on how the hand is turned in the
image, so a hand pointing down is still ``pointing``. The thumb bends sideways, so it has its own
test: its tip lies outside the palm, beyond the index-finger base along the palm's width (little-
finger base 17 -> index base 5, which points to the thumb side for either hand and any mirroring),
and is farther from landmark 17 than its IP joint (research §3.2). The distance rule alone misses
thumbs held up at ~45 degrees, where tip and IP are about as far from 17.

Static labels: ``open_palm``, ``fist``, ``pointing``, ``thumbs_up``, ``thumbs_down``, ``peace``,
``ok``. ``waving`` is a rule over time (``wave_spans``): an open palm whose wrist x swings back
and forth with at least two direction changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WRIST = 0
THUMB_MCP, THUMB_IP, THUMB_TIP = 2, 3, 4
INDEX_MCP, INDEX_PIP, INDEX_TIP = 5, 6, 8
MIDDLE_MCP, MIDDLE_PIP, MIDDLE_TIP = 9, 10, 12
RING_PIP, RING_TIP = 14, 16
PINKY_MCP, PINKY_PIP, PINKY_TIP = 17, 18, 20
FINGERS = ("index", "middle", "ring", "pinky")
_FINGER_PIP_TIP = ((INDEX_PIP, INDEX_TIP), (MIDDLE_PIP, MIDDLE_TIP), (RING_PIP, RING_TIP), (PINKY_PIP, PINKY_TIP))

EXTENDED_RATIO = 1.1  # tip / PIP distance from the wrist above which a finger is straight (research §3.2)
THUMB_MIN_RATIO = 1.0  # thumb tip / IP distance from the little-finger base: the thumb is not curled back
THUMB_RATIO_MARGIN = 0.2
THUMB_MIN_OUT = 0.2  # thumb tip beyond the index base, across the palm, in palm lengths (tucked: < 0)
# Half-width of the soft margin around a ratio threshold: a ratio this far past it scores 1.0,
# exactly at it 0.5. Straight fingers measure ~1.3-1.4, curled ones ~0.6-0.9.
RATIO_MARGIN = 0.3
OK_TOUCH_SCALE = 0.3  # thumb tip to index tip, in palm lengths, that counts as touching
PEACE_SPREAD = 1.3  # index-middle tip gap / MCP gap: a V, not two fingers held together
THUMB_VERTICAL_COS = 0.7  # thumb within ~45 degrees of straight up/down for thumbs_up/down

STATIC_LABELS = ("open_palm", "fist", "pointing", "thumbs_up", "thumbs_down", "peace", "ok")


@dataclass(frozen=True)
class FingerStates:
    """Extension ratios (tip vs PIP distance from the wrist) of the four fingers, and the thumb's
    two measures (see the module docstring)."""

    thumb_ratio: float  # tip / IP distance from the little-finger base
    thumb_out: float  # tip beyond the index base across the palm, in palm lengths
    finger_ratios: tuple[float, float, float, float]  # index, middle, ring, pinky

    @property
    def thumb_confidence(self) -> float:
        """Soft confidence (0..1, 0.5 at the threshold) that the thumb is extended."""
        return min(
            _above(self.thumb_ratio, THUMB_MIN_RATIO, THUMB_RATIO_MARGIN), _above(self.thumb_out, THUMB_MIN_OUT, 0.2)
        )

    @property
    def thumb_extended(self) -> bool:
        return self.thumb_ratio > THUMB_MIN_RATIO and self.thumb_out > THUMB_MIN_OUT

    @property
    def extended(self) -> tuple[bool, bool, bool, bool]:
        return tuple(r > EXTENDED_RATIO for r in self.finger_ratios)  # type: ignore[return-value]

    @property
    def count(self) -> int:
        """Extended digits, thumb included (0..5)."""
        return int(self.thumb_extended) + sum(self.extended)


@dataclass(frozen=True)
class Gesture:
    label: str
    score: float  # 0..1: how clearly the finger tests pass (0.5 = a test exactly at its threshold)
    direction: str | None = None  # pointing: where the index finger points (up/down/left/right)


def _xy(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] != 21 or pts.shape[1] < 2:
        raise ValueError(f"expected (21, 2|3) hand landmarks, got shape {pts.shape}")
    return pts[:, :2]


def _dist(pts: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(pts[a] - pts[b]))


def palm_length(landmarks: np.ndarray) -> float:
    """Wrist to middle-finger base: the hand's size, for scale-free thresholds."""
    pts = _xy(landmarks)
    return max(_dist(pts, WRIST, MIDDLE_MCP), 1e-9)


def finger_states(landmarks: np.ndarray) -> FingerStates:
    pts = _xy(landmarks)
    ratios = tuple(_dist(pts, tip, WRIST) / max(_dist(pts, pip, WRIST), 1e-9) for pip, tip in _FINGER_PIP_TIP)
    thumb = _dist(pts, THUMB_TIP, PINKY_MCP) / max(_dist(pts, THUMB_IP, PINKY_MCP), 1e-9)
    across = pts[INDEX_MCP] - pts[PINKY_MCP]
    across /= max(float(np.linalg.norm(across)), 1e-9)
    out = float(np.dot(pts[THUMB_TIP] - pts[INDEX_MCP], across)) / palm_length(pts)
    return FingerStates(thumb_ratio=thumb, thumb_out=out, finger_ratios=ratios)  # type: ignore[arg-type]


def _above(value: float, threshold: float, margin: float) -> float:
    """Soft confidence that ``value > threshold``: 0.5 at the threshold, 1 at ``margin`` past it."""
    return float(np.clip(0.5 + 0.5 * (value - threshold) / margin, 0.0, 1.0))


def direction_of(vector: np.ndarray) -> str:
    """up/down/left/right of an image-space vector (y grows downwards)."""
    dx, dy = float(vector[0]), float(vector[1])
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def classify(landmarks: np.ndarray) -> Gesture | None:
    """The static gesture of one hand, or None when no rule matches."""
    pts = _xy(landmarks)
    fs = finger_states(pts)
    scale = palm_length(pts)
    ext = fs.extended
    ext_conf = [_above(r, EXTENDED_RATIO, RATIO_MARGIN) for r in fs.finger_ratios]
    curl_conf = [1.0 - c for c in ext_conf]
    thumb_ext_conf = fs.thumb_confidence

    # ok first: its index finger is bent into the ring, so the finger count alone would miss it.
    touch = _dist(pts, THUMB_TIP, INDEX_TIP) / scale
    if touch < OK_TOUCH_SCALE and all(ext[1:]):
        touch_conf = _above(OK_TOUCH_SCALE - touch, 0.0, OK_TOUCH_SCALE)
        return Gesture("ok", min([touch_conf, *ext_conf[1:]]))

    if all(ext):
        if fs.thumb_extended:
            return Gesture("open_palm", min([thumb_ext_conf, *ext_conf]))
        return None
    if not any(ext):
        if not fs.thumb_extended:
            return Gesture("fist", min([1.0 - thumb_ext_conf, *curl_conf]))
        thumb = pts[THUMB_TIP] - pts[THUMB_MCP]
        vertical = -thumb[1] / max(float(np.linalg.norm(thumb)), 1e-9)  # +1 straight up, -1 straight down
        if abs(vertical) < THUMB_VERTICAL_COS:
            return None  # thumb sideways: neither up nor down
        vertical_conf = _above(abs(vertical), THUMB_VERTICAL_COS, 1.0 - THUMB_VERTICAL_COS)
        label = "thumbs_up" if vertical > 0 else "thumbs_down"
        return Gesture(label, min([thumb_ext_conf, vertical_conf, *curl_conf]))
    if ext == (True, False, False, False):
        return Gesture("pointing", min(ext_conf[0], *curl_conf[1:]), direction_of(pts[INDEX_TIP] - pts[INDEX_MCP]))
    if ext == (True, True, False, False):
        spread = _dist(pts, INDEX_TIP, MIDDLE_TIP) / max(_dist(pts, INDEX_MCP, MIDDLE_MCP), 1e-9)
        if spread > PEACE_SPREAD:
            spread_conf = _above(spread, PEACE_SPREAD, 1.0)
            return Gesture("peace", min(spread_conf, ext_conf[0], ext_conf[1], curl_conf[2], curl_conf[3]))
    return None


def zigzag_pivots(x: np.ndarray, min_swing: float) -> list[int]:
    """Indices of the turning points of ``x``, ignoring wiggles smaller than ``min_swing``.

    The first pivot is where the first real swing starts, the last where the last swing ends;
    every pivot in between is one direction change."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return []
    lo = hi = 0
    direction = 0
    pivots: list[int] = []
    extreme = 0
    for i in range(1, len(x)):
        if direction == 0:
            lo = i if x[i] < x[lo] else lo
            hi = i if x[i] > x[hi] else hi
            if x[i] - x[lo] >= min_swing:
                pivots, direction, extreme = [lo], 1, i
            elif x[hi] - x[i] >= min_swing:
                pivots, direction, extreme = [hi], -1, i
        elif direction > 0:
            if x[i] > x[extreme]:
                extreme = i
            elif x[extreme] - x[i] >= min_swing:
                pivots.append(extreme)
                direction, extreme = -1, i
        else:
            if x[i] < x[extreme]:
                extreme = i
            elif x[i] - x[extreme] >= min_swing:
                pivots.append(extreme)
                direction, extreme = 1, i
    if direction != 0:
        pivots.append(extreme)
    return pivots


@dataclass(frozen=True)
class WaveSpan:
    start_index: int  # first sample of the waving motion
    end_index: int  # last sample (inclusive)
    direction_changes: int
    open_palm_share: float


def wave_spans(
    times_s: np.ndarray,
    wrist_x: np.ndarray,
    open_palm: np.ndarray,
    min_swing: float,
    *,
    max_reversal_gap_s: float = 2.0,
    min_direction_changes: int = 2,
    min_open_palm_share: float = 0.5,
) -> list[WaveSpan]:
    """Waving in one hand's continuous track: the wrist's x swings by at least ``min_swing`` (same
    units as ``wrist_x``, e.g. pixels with ``min_swing`` a fraction of the palm length) and turns
    at least ``min_direction_changes`` times, consecutive turns no more than ``max_reversal_gap_s``
    apart, while the hand is mostly an open palm."""
    times_s = np.asarray(times_s, dtype=np.float64)
    open_palm = np.asarray(open_palm, dtype=bool)
    pivots = zigzag_pivots(wrist_x, min_swing)
    reversals = pivots[1:-1]
    spans: list[WaveSpan] = []
    k = 0
    while k < len(reversals):
        j = k
        while j + 1 < len(reversals) and times_s[reversals[j + 1]] - times_s[reversals[j]] <= max_reversal_gap_s:
            j += 1
        changes = j - k + 1
        if changes >= min_direction_changes:
            # The waving motion runs from the extreme before the first turn to the one after the last.
            start, end = pivots[k], pivots[j + 2]
            share = float(open_palm[start : end + 1].mean())
            if share >= min_open_palm_share:
                spans.append(WaveSpan(start, end, changes, share))
        k = j + 1
    return spans
