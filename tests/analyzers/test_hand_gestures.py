"""hand_gestures: the gesture rules on synthetic 21-landmark hands built to known poses, waving on
synthetic wrist trajectories, tracking/segments from synthetic detections, and MediaPipe on real
frames (ASL clip: hands found; a face clip: none; an image and its mirror: handedness)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual import gesture_rules as rules
from reelscope.analyzers.visual.hand_gestures import HandGestures, HandObs, hands_output
from reelscope.core.media_info import MediaInfo
from reelscope.media.bundle import FrameSet

# ---------------------------------------------------------------- a parametric 2D hand
# Hand coordinates: u to the right, v up, wrist at 0, palm length (wrist -> middle base) 1.
MCP = {"index": (0.30, 0.95), "middle": (0.05, 1.0), "ring": (-0.18, 0.95), "pinky": (-0.38, 0.85)}
BASE = {"index": 5, "middle": 9, "ring": 13, "pinky": 17}
LENGTHS = {
    "index": (0.45, 0.27, 0.2),
    "middle": (0.5, 0.3, 0.22),
    "ring": (0.45, 0.28, 0.2),
    "pinky": (0.35, 0.2, 0.18),
}
STRAIGHT = (0.0, 0.0, 0.0)
CURLED = (80.0, 170.0, 250.0)  # cumulative flexion (deg) of the three segments, towards the camera
THUMB_OUT = (0.8, 0.6)


def _rot(vec, deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([vec[0] * math.cos(a) - vec[1] * math.sin(a), vec[0] * math.sin(a) + vec[1] * math.cos(a)])


def make_hand(
    fingers: dict[str, tuple[float, float, float]] | None = None,
    thumb: str | tuple[float, float] = "out",
    spread_deg: dict[str, float] | None = None,
    rotation_deg: float = 0.0,
    size_px: float = 80.0,
    origin_px: tuple[float, float] = (320.0, 300.0),
    thumb_tip: tuple[float, float] | None = None,
) -> np.ndarray:
    """(21, 2) image-pixel landmarks (y down) of a hand with the given finger flexions; each
    segment's projected length is cos(flexion) of its length (bending towards the camera)."""
    fingers = {f: STRAIGHT for f in BASE} | (fingers or {})
    spread_deg = spread_deg or {}
    pts = np.zeros((21, 2))
    for name, base in BASE.items():
        mcp = np.array(MCP[name])
        direction = _rot(mcp / np.linalg.norm(mcp), spread_deg.get(name, 0.0))
        pts[base] = pos = mcp
        for k, (length, flex) in enumerate(zip(LENGTHS[name], fingers[name], strict=True)):
            pos = pos + math.cos(math.radians(flex)) * length * direction
            pts[base + k + 1] = pos
    pts[1], pts[2] = (0.22, 0.22), (0.42, 0.42)
    if thumb_tip is not None:
        tip = np.array(thumb_tip)
        pts[3], pts[4] = (pts[2] + tip) / 2 + (0.12, 0.0), tip
    elif thumb != "folded":  # straight, "out" or along a given direction
        direction = np.array(THUMB_OUT if thumb == "out" else thumb)
        direction /= np.linalg.norm(direction)
        pts[3] = pts[2] + 0.32 * direction
        pts[4] = pts[3] + 0.27 * direction
    else:  # folded across the curled fingers
        pts[3], pts[4] = (0.32, 0.62), (0.10, 0.66)
    rotated = np.array([_rot(p, rotation_deg) for p in pts])
    return np.asarray(origin_px) + size_px * rotated * np.array([1.0, -1.0])  # v up -> image y down


FIST = {f: CURLED for f in BASE}
THUMB_UP_ROT = 90.0 - math.degrees(math.atan2(THUMB_OUT[1], THUMB_OUT[0]))  # turns the thumb to image-up


def _label(pts) -> str | None:
    g = rules.classify(pts)
    return None if g is None else g.label


# ---------------------------------------------------------------- static rules
@pytest.mark.parametrize("rotation_deg", [0, 45, 90, 180, 270])
def test_open_palm_and_fist_at_any_rotation(rotation_deg: float) -> None:
    assert _label(make_hand(rotation_deg=rotation_deg)) == "open_palm"
    assert _label(make_hand(FIST, thumb="folded", rotation_deg=rotation_deg)) == "fist"
    fs = rules.finger_states(make_hand(rotation_deg=rotation_deg))
    assert fs.count == 5 and rules.finger_states(make_hand(FIST, thumb="folded")).count == 0
    # a thumb held up at ~45 degrees (tip about as far from the little-finger base as its IP joint)
    assert _label(make_hand(thumb=(1.0, 1.0), rotation_deg=rotation_deg)) == "open_palm"
    assert _label(make_hand(thumb="folded", rotation_deg=rotation_deg)) is None  # four fingers, thumb tucked


@pytest.mark.parametrize(("rotation_deg", "direction"), [(0, "up"), (90, "left"), (180, "down"), (-90, "right")])
def test_pointing_in_every_direction(rotation_deg: float, direction: str) -> None:
    hand = make_hand(FIST | {"index": STRAIGHT}, thumb="folded", rotation_deg=rotation_deg)
    g = rules.classify(hand)
    assert g is not None and g.label == "pointing" and g.direction == direction
    assert g.score > 0.8  # every finger test passes with margin


def test_thumbs_up_and_down_by_orientation() -> None:
    up = make_hand(FIST, thumb="out", rotation_deg=THUMB_UP_ROT)
    down = make_hand(FIST, thumb="out", rotation_deg=THUMB_UP_ROT + 180)
    sideways = make_hand(FIST, thumb="out", rotation_deg=THUMB_UP_ROT + 90)
    assert _label(up) == "thumbs_up"
    assert _label(down) == "thumbs_down"
    assert _label(sideways) is None  # thumb out to the side: neither
    # 30 degrees off vertical still counts; the tilt lowers the score
    tilted = rules.classify(make_hand(FIST, thumb="out", rotation_deg=THUMB_UP_ROT + 30))
    assert tilted.label == "thumbs_up" and tilted.score < rules.classify(up).score


def test_peace_needs_a_v() -> None:
    two = FIST | {"index": STRAIGHT, "middle": STRAIGHT}
    v = make_hand(two, thumb="folded", spread_deg={"index": -12, "middle": 12})
    assert _label(v) == "peace"
    assert _label(make_hand(two, thumb="folded", spread_deg={"index": -12, "middle": 12}, rotation_deg=180)) == "peace"
    # the synthetic fingers fan out from the wrist; turning the index parallel to the middle finger
    # gives two fingers held together: no V
    angle = {f: math.degrees(math.atan2(MCP[f][1], MCP[f][0])) for f in ("index", "middle")}
    assert _label(make_hand(two, thumb="folded", spread_deg={"index": angle["middle"] - angle["index"]})) is None


def test_ok_thumb_touches_index_others_extended() -> None:
    bent_index = {"index": (30.0, 90.0, 140.0)}
    plain = make_hand(bent_index, thumb="folded")
    index_tip = (plain[8] - (320.0, 300.0)) / 80.0 * (1, -1)  # back to hand coordinates
    ok = make_hand(bent_index, thumb_tip=tuple(index_tip + (0.03, 0.0)))
    assert _label(ok) == "ok"
    assert _label(make_hand(bent_index, thumb_tip=tuple(index_tip + (0.03, 0.0)), rotation_deg=120)) == "ok"
    # the same hand with the thumb far from the index tip is no ok
    apart = make_hand(bent_index, thumb_tip=tuple(index_tip + (0.6, -0.3)))
    assert _label(apart) != "ok"


def test_unmatched_poses_give_none_and_half_bent_fingers_score_lower() -> None:
    three = FIST | {"index": STRAIGHT, "middle": STRAIGHT, "ring": STRAIGHT}
    assert _label(make_hand(three, thumb="folded")) is None
    assert _label(make_hand(FIST | {"ring": STRAIGHT}, thumb="folded")) is None
    straight = rules.classify(make_hand())
    half = rules.classify(make_hand({"middle": (30.0, 60.0, 70.0)}))
    assert straight.label == half.label == "open_palm"
    assert half.score < straight.score
    with pytest.raises(ValueError):
        rules.classify(np.zeros((20, 2)))


def test_rules_are_scale_free() -> None:
    for size_px in (15.0, 400.0):
        assert _label(make_hand(FIST | {"index": STRAIGHT}, thumb="folded", size_px=size_px)) == "pointing"


# ---------------------------------------------------------------- waving over time
RATE_HZ = 5.0


def _wave(freq_hz: float, amp_px: float, duration_s: float = 3.0, drift_px_per_s: float = 0.0):
    t = np.arange(0, duration_s, 1 / RATE_HZ)
    return t, 300 + amp_px * np.sin(2 * np.pi * freq_hz * t + 0.3) + drift_px_per_s * t


def test_waving_found_on_an_oscillating_open_palm() -> None:
    t, x = _wave(1.0, amp_px=40.0)
    spans = rules.wave_spans(t, x, np.ones(len(t), bool), min_swing=30.0)
    assert len(spans) == 1
    span = spans[0]
    assert span.direction_changes >= 4  # 1 Hz for 3 s: a turn every 0.5 s
    assert t[span.end_index] - t[span.start_index] >= 2.0


def test_waving_rejects_drift_jitter_fists_slow_sway_and_one_turn() -> None:
    palm = np.ones(15, bool)
    t, x = _wave(1.0, amp_px=0.0, drift_px_per_s=100.0)  # the hand moves one way only
    assert rules.wave_spans(t, x, palm, 30.0) == []
    t, x = _wave(1.0, amp_px=5.0)  # landmark jitter, far below a stroke
    assert rules.wave_spans(t, x, palm, 30.0) == []
    t, x = _wave(1.0, amp_px=40.0)
    assert rules.wave_spans(t, x, np.zeros(15, bool), 30.0) == []  # a shaking fist is no wave
    t, x = _wave(0.1, amp_px=60.0, duration_s=12.0)  # turns 5 s apart: a slow sway
    assert rules.wave_spans(t, x, np.ones(len(t), bool), 30.0) == []
    t = np.arange(0, 2.0, 1 / RATE_HZ)
    x = np.where(t < 1.0, 300 + 60 * t, 360 - 60 * (t - 1.0))  # out and back: one turn
    assert rules.wave_spans(t, x, np.ones(len(t), bool), 30.0) == []
    assert rules.zigzag_pivots(x, 30.0) == [0, 5, 9]


# ---------------------------------------------------------------- tracking and segments (no model)
W, H = 640, 360


def _obs(pts: np.ndarray, handedness: str, score: float = 0.9) -> HandObs:
    lo, hi = pts.min(axis=0) / (W, H), pts.max(axis=0) / (W, H)
    return HandObs(0, handedness, score, pts, [*lo, *(hi - lo)], rules.classify(pts))


def test_hands_output_tracks_two_hands_and_merges_gestures() -> None:
    """Frames 0-14 at 5 Hz: the right hand (image left) points for 8 frames then opens; the left
    hand (image right) waves from frame 3 on; frames 15-17 have no hands."""
    per_frame: list[list[HandObs]] = []
    for i in range(18):
        hands = []
        if i < 15:
            pose = (FIST | {"index": STRAIGHT}, "folded") if i < 8 else (None, "out")
            hands.append(_obs(make_hand(pose[0], thumb=pose[1], origin_px=(150 + i, 300)), "right"))
        if 3 <= i < 15:
            x = 480 + 45 * math.sin(2 * math.pi * 1.0 * i / RATE_HZ)
            # MediaPipe's label flickers on one frame: the track keeps the hand by position
            hands.append(_obs(make_hand(origin_px=(x, 280)), "right" if i == 9 else "left", 0.55 if i == 9 else 0.9))
        per_frame.append(hands)
    times_s = np.arange(18) / RATE_HZ
    out = hands_output(per_frame, times_s, (W, H), 3.6, HandGestures.Params())

    gestures = out.segments_of("gesture")
    by_label = {(s.label, s.attributes["handedness"]): s for s in gestures}
    point = by_label[("pointing", "right")]
    assert (point.start_s, point.end_s, point.attributes["frames"]) == (0.0, 1.6, 8)
    assert point.attributes["direction"] == "up"
    assert by_label[("open_palm", "right")].start_s == 1.6
    wave = by_label[("waving", "left")]
    assert wave.attributes["direction_changes"] >= 2 and wave.start_s >= 0.6 and wave.end_s <= 3.0
    left_palms = [s for s in gestures if s.label == "open_palm" and s.attributes["handedness"] == "left"]
    assert len(left_palms) == 1 and left_palms[0].attributes["frames"] == 12  # one track despite the flicker

    assert out.summary["hand_tracks"] == 2
    assert out.summary["frames_analyzed"] == 18
    assert out.summary["hand_frames_share"] == pytest.approx(15 / 18, abs=1e-3)
    assert out.summary["dominant_hand"] == "right"  # 15 right observations vs 12 left
    assert out.summary["hand_observations"] == {"left": 12, "right": 15}
    assert out.summary["gesture_counts"] == {"open_palm": 2, "pointing": 1, "waving": 1}
    assert out.track("hand_count").values == [1.0] * 3 + [2.0] * 12 + [0.0] * 3
    presence = out.segments_of("hand_presence")
    assert [(s.start_s, s.end_s, s.attributes["max_hands"]) for s in presence] == [(0.0, 3.0, 2)]


def test_short_gestures_are_dropped_with_min_gesture_frames() -> None:
    pts = make_hand(FIST, thumb="folded")
    per_frame = [[_obs(pts, "left")], [], [], [_obs(make_hand(), "left")]]
    params = HandGestures.validate_params({"min_gesture_frames": 2, "max_gap_frames": 0})
    out = hands_output(per_frame, np.arange(4) / RATE_HZ, (W, H), 0.8, params)
    assert out.segments_of("gesture") == []
    assert len(out.segments_of("hand_presence")) == 2


# ---------------------------------------------------------------- MediaPipe on real frames
def _frames_at(path: Path, times_s: list[float], short_side_px: int = 360) -> FrameSet:
    av = pytest.importorskip("av")
    cv2 = pytest.importorskip("cv2")
    images, stamps = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base)
            if len(stamps) < len(times_s) and t >= times_s[len(stamps)] - 1e-3:
                img = frame.to_ndarray(format="rgb24")
                scale = short_side_px / min(img.shape[:2])
                size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
                images.append(cv2.resize(img, size, interpolation=cv2.INTER_AREA))
                stamps.append(t)
    return FrameSet(np.stack(images), np.array(stamps))


def _media(frames: FrameSet, duration_s: float) -> MediaInfo:
    h, w = frames.images.shape[1:3]
    return MediaInfo(path="x", file_size_bytes=0, sha256="0", container="none", duration_s=duration_s,
                     has_video=True, has_audio=False, width=w, height=h)  # fmt: skip


@pytest.fixture(scope="module")
def analyzer():
    if HandGestures.unavailable_reason() is not None:
        pytest.skip(f"mediapipe-hands unavailable: {HandGestures.unavailable_reason()}")
    a = HandGestures()
    yield a
    a.close()


@pytest.fixture(scope="module")
def asl(shared_media: Path) -> Path:
    path = shared_media / "intel_sample_videos" / "asl_book.mkv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def test_asl_clip_has_hands_in_most_frames(analyzer, asl: Path) -> None:
    frames = _frames_at(asl, [0.5 * k for k in range(8)])
    params = HandGestures.Params(rate_hz=2.0)
    out = analyzer.analyze(MediaView(_media(frames, 3.666), frames), AnalysisContext(params=params))
    counts = out.track("hand_count").values
    assert out.summary["frames_analyzed"] == 8
    assert sum(c > 0 for c in counts) >= 5, counts  # research: 6 of 8
    assert out.summary["hand_frames_share"] >= 5 / 8
    assert out.summary["dominant_hand"] in ("left", "right")
    assert out.segments_of("hand_presence")


def test_face_without_hands_gives_none(analyzer, shared_media: Path) -> None:
    path = shared_media / "grid_corpus" / "bbaf2n.mpg"
    if not path.exists():
        pytest.skip(f"{path} not found")
    frames = _frames_at(path, [0.5, 1.5])
    out = analyzer.analyze(MediaView(_media(frames, 3.0), frames), AnalysisContext(params=HandGestures.Params()))
    assert out.track("hand_count").values == [0.0, 0.0]
    assert out.segments == [] and out.summary["dominant_hand"] is None
    assert out.summary["hand_frames_share"] == 0.0


def test_handedness_follows_the_mirror(analyzer, asl: Path) -> None:
    """Two hands at 0.83 s: the person's right hand is on the image's left (non-mirrored webcam
    file; the watch is on the hand on the image's right, the usual left wrist). Mirroring the
    image swaps the labels; ``mirrored=True`` on the mirror restores the original exactly."""
    image = _frames_at(asl, [0.83]).images[0]
    mirror = np.ascontiguousarray(image[:, ::-1])
    w = image.shape[1]
    plain = analyzer.detect(image, HandGestures.Params())
    assert len(plain) == 2
    by_x = sorted(plain, key=lambda o: o.landmarks_px[0, 0])
    assert [o.handedness for o in by_x] == ["right", "left"]

    # Mirrored, the same physical hand reads as the other hand. (Palm detection is not exactly
    # mirror-symmetric, so the mirror may find fewer hands: compare the ones it finds.)
    flipped = analyzer.detect(mirror, HandGestures.Params())
    assert flipped
    for hand in flipped:
        twin = min(plain, key=lambda o: abs((w - o.landmarks_px[0, 0]) - hand.landmarks_px[0, 0]))
        assert abs((w - twin.landmarks_px[0, 0]) - hand.landmarks_px[0, 0]) < 0.03 * w
        assert hand.handedness != twin.handedness

    restored = analyzer.detect(mirror, HandGestures.Params(mirrored=True))
    restored = sorted(restored, key=lambda o: -o.landmarks_px[0, 0])  # image right first = person's right
    assert [o.handedness for o in restored] == ["right", "left"]
    for r, o in zip(restored, by_x, strict=True):  # same model input, so identical up to the flip
        np.testing.assert_allclose(r.landmarks_px[:, 0], w - o.landmarks_px[:, 0], atol=1e-3)
