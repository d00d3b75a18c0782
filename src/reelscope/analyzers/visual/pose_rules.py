"""Posture and gesture rules over the 33 MediaPipe/BlazePose keypoints of one person.

Pure functions, no model: input is a ``(33, 3)`` array of ``[x, y, visibility]`` with x and y in
one unit on both axes (pixels, not frame-normalised coordinates, so that angles are true) and y
growing downwards. A keypoint counts only when its visibility is at least ``MIN_VISIBILITY``; a
rule whose keypoints are not all visible answers "no" (gestures) or ``None`` (posture), never a
guess. Lengths are measured in torso lengths (shoulder midpoint to hip midpoint), so the rules do
not depend on how large the person is in the frame.

"Left"/"right" are the person's own sides (MediaPipe's convention). Whether the person faces the
camera or turns away, the image x-direction of their left side is read from the shoulders, so
the rules that test crossing the body midline work for both views.

Rules (T = torso length, torso angle = angle of hip-mid -> shoulder-mid from the image vertical):
- posture ``lying``: torso angle > 60 deg.
- posture ``leaning``: torso angle 25..60 deg.
- posture ``sitting``: torso angle < 25 deg and a visible thigh (hip -> knee) at >= 50 deg from
  the vertical (near horizontal, seen from the side), or a thigh foreshortened towards the camera
  (knee < 0.25 T below the hip) with a bent knee (< 150 deg, when the ankle is visible).
- posture ``standing``: torso angle < 25 deg and every visible leg straight and vertical: ankle
  visible and below the knee, knee angle (hip-knee-ankle) >= 150 deg, thigh < 30 deg from the
  vertical, knee >= 0.3 T below the hip. With the ankles out of frame (a shot cut at the
  shins), thighs < 20 deg from the vertical and knees >= 0.5 T below the hips also read standing. (A camera looking down from above shortens a standing
  thigh to ~0.45-0.8 T, measured on a real clip, so the knee drop alone cannot tell sitting.)
- otherwise (legs out of view, crouching ...) the posture is ``None``: unknown.
- ``arms_raised``: both wrists above their shoulders by >= 0.3 T.
- ``hands_on_hips``: both wrists within 0.45 T of their own hip, elbows bent (< 130 deg) and
  pointing outwards (each elbow farther out from the body midline than its shoulder).
- ``crossed_arms``: each wrist past the body midline on the other side (by >= 0.05 T), both
  wrists at chest/belly height (between 0.2 T above the shoulders and the hips).
- ``pointing``: exactly one arm straight (elbow angle >= 150 deg) and lifted away from the body
  (>= 50 deg from hanging straight down), its wrist >= 0.6 T from the shoulder (an arm held out towards the side and
  the camera is foreshortened to ~0.65 T on a real clip), and the other arm
  not lifted in the same way. A point straight at the camera is foreshortened and is missed.
"""

from __future__ import annotations

import math

import numpy as np

NOSE = 0
L_SHOULDER, R_SHOULDER = 11, 12
L_ELBOW, R_ELBOW = 13, 14
L_WRIST, R_WRIST = 15, 16
L_HIP, R_HIP = 23, 24
L_KNEE, R_KNEE = 25, 26
L_ANKLE, R_ANKLE = 27, 28
N_KEYPOINTS = 33

MIN_VISIBILITY = 0.5
POSTURES = ("standing", "sitting", "leaning", "lying")
GESTURES = ("arms_raised", "pointing", "hands_on_hips", "crossed_arms")

LYING_MIN_DEG = 60.0
LEANING_MIN_DEG = 25.0
SITTING_MIN_THIGH_DEG = 50.0
SITTING_MAX_KNEE_DROP_T = 0.25
SITTING_MAX_KNEE_DEG = 150.0
STANDING_MAX_THIGH_DEG = 30.0
STANDING_MIN_KNEE_DROP_T = 0.3
STANDING_MIN_KNEE_DEG = 150.0
CUT_STANDING_MAX_THIGH_DEG = 20.0
CUT_STANDING_MIN_KNEE_DROP_T = 0.5
TORSO_PER_SHOULDER_WIDTH = 1.3  # adult torso length / shoulder (acromion) width, frontal view
RAISED_MIN_T = 0.3
HIP_NEAR_T = 0.45
HIP_MAX_ELBOW_DEG = 130.0
CROSS_MIN_T = 0.05
POINT_MIN_ELBOW_DEG = 150.0
POINT_MIN_LIFT_DEG = 50.0
POINT_MIN_REACH_T = 0.6


def _visible(kp: np.ndarray, *indices: int) -> bool:
    return bool(np.all(kp[list(indices), 2] >= MIN_VISIBILITY))


def _xy(kp: np.ndarray, i: int) -> np.ndarray:
    return kp[i, :2].astype(np.float64)


def _angle_deg(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Angle at ``b`` between b->a and b->c."""
    u, v = a - b, c - b
    norm = float(np.linalg.norm(u) * np.linalg.norm(v))
    if norm == 0:
        return 0.0
    return math.degrees(math.acos(float(np.clip(np.dot(u, v) / norm, -1.0, 1.0))))


def torso_length(kp: np.ndarray) -> float | None:
    """Shoulder midpoint to hip midpoint, or None when a shoulder or hip is not visible."""
    if not _visible(kp, L_SHOULDER, R_SHOULDER, L_HIP, R_HIP):
        return None
    length = float(np.linalg.norm(_mid(kp, L_SHOULDER, R_SHOULDER) - _mid(kp, L_HIP, R_HIP)))
    return length if length > 0 else None


def _mid(kp: np.ndarray, i: int, j: int) -> np.ndarray:
    return (_xy(kp, i) + _xy(kp, j)) / 2


def torso_angle_deg(kp: np.ndarray) -> float | None:
    """0 for an upright torso (head up or down), 90 for a horizontal one."""
    if torso_length(kp) is None:
        return None
    dx, dy = _mid(kp, L_SHOULDER, R_SHOULDER) - _mid(kp, L_HIP, R_HIP)
    return math.degrees(math.atan2(abs(dx), abs(dy)))


def posture(kp: np.ndarray) -> str | None:
    """One of ``POSTURES`` or None when the visible keypoints do not decide it."""
    tilt = torso_angle_deg(kp)
    if tilt is None:
        return None
    if tilt > LYING_MIN_DEG:
        return "lying"
    if tilt >= LEANING_MIN_DEG:
        return "leaning"
    torso = torso_length(kp)
    assert torso is not None
    legs = [(h, k, a) for h, k, a in ((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE)) if _visible(kp, h, k)]
    if not legs:
        return None
    for h, k, a in legs:
        if _thigh_deg(kp, h, k) >= SITTING_MIN_THIGH_DEG:
            return "sitting"
        drop = (kp[k, 1] - kp[h, 1]) / torso
        bent = not _visible(kp, a) or _angle_deg(_xy(kp, h), _xy(kp, k), _xy(kp, a)) < SITTING_MAX_KNEE_DEG
        if drop < SITTING_MAX_KNEE_DROP_T and bent:
            return "sitting"
    straight = all(
        _visible(kp, a)
        and kp[a, 1] > kp[k, 1]
        and _angle_deg(_xy(kp, h), _xy(kp, k), _xy(kp, a)) >= STANDING_MIN_KNEE_DEG
        and _thigh_deg(kp, h, k) < STANDING_MAX_THIGH_DEG
        and (kp[k, 1] - kp[h, 1]) / torso >= STANDING_MIN_KNEE_DROP_T
        for h, k, a in legs
    )
    if straight:
        return "standing"
    if not any(_visible(kp, a) for _, _, a in legs) and all(
        _thigh_deg(kp, h, k) < CUT_STANDING_MAX_THIGH_DEG and (kp[k, 1] - kp[h, 1]) / torso >= CUT_STANDING_MIN_KNEE_DROP_T
        for h, k, _ in legs
    ):
        return "standing"
    return None


def _thigh_deg(kp: np.ndarray, hip: int, knee: int) -> float:
    """Angle of hip -> knee from straight down (0 = vertical, 90 = horizontal, 180 = knee up)."""
    return _angle_deg(_xy(kp, hip) + np.array([0.0, 1.0]), _xy(kp, hip), _xy(kp, knee))


def _lateral(kp: np.ndarray, x: float) -> float:
    """Signed image-x distance from the body midline, positive towards the person's left."""
    side = 1.0 if kp[L_SHOULDER, 0] >= kp[R_SHOULDER, 0] else -1.0
    return (x - _mid(kp, L_SHOULDER, R_SHOULDER)[0]) * side


def arms_raised(kp: np.ndarray) -> bool:
    torso = torso_length(kp)
    if torso is None or not _visible(kp, L_WRIST, R_WRIST):
        return False
    return bool(
        kp[L_SHOULDER, 1] - kp[L_WRIST, 1] >= RAISED_MIN_T * torso
        and kp[R_SHOULDER, 1] - kp[R_WRIST, 1] >= RAISED_MIN_T * torso
    )


def hands_on_hips(kp: np.ndarray) -> bool:
    torso = torso_length(kp)
    if torso is None or not _visible(kp, L_WRIST, R_WRIST, L_ELBOW, R_ELBOW):
        return False
    for shoulder, elbow, wrist, hip, sign in (
        (L_SHOULDER, L_ELBOW, L_WRIST, L_HIP, 1.0),
        (R_SHOULDER, R_ELBOW, R_WRIST, R_HIP, -1.0),
    ):
        if np.linalg.norm(_xy(kp, wrist) - _xy(kp, hip)) > HIP_NEAR_T * torso:
            return False
        if _angle_deg(_xy(kp, shoulder), _xy(kp, elbow), _xy(kp, wrist)) >= HIP_MAX_ELBOW_DEG:
            return False
        # the elbow sticks out beyond the shoulder on its own side (akimbo)
        if sign * _lateral(kp, kp[elbow, 0]) <= sign * _lateral(kp, kp[shoulder, 0]):
            return False
    return True


def crossed_arms(kp: np.ndarray) -> bool:
    torso = torso_length(kp)
    if torso is None or not _visible(kp, L_WRIST, R_WRIST):
        return False
    if not (_lateral(kp, kp[L_WRIST, 0]) <= -CROSS_MIN_T * torso and _lateral(kp, kp[R_WRIST, 0]) >= CROSS_MIN_T * torso):
        return False
    top = min(kp[L_SHOULDER, 1], kp[R_SHOULDER, 1]) - 0.2 * torso
    bottom = max(kp[L_HIP, 1], kp[R_HIP, 1])
    return bool(all(top <= kp[w, 1] <= bottom for w in (L_WRIST, R_WRIST)))


def _arm_lifted_straight(kp: np.ndarray, shoulder: int, elbow: int, wrist: int, torso: float) -> bool:
    if not _visible(kp, shoulder, elbow, wrist):
        return False
    s, e, w = _xy(kp, shoulder), _xy(kp, elbow), _xy(kp, wrist)
    if _angle_deg(s, e, w) < POINT_MIN_ELBOW_DEG or np.linalg.norm(w - s) < POINT_MIN_REACH_T * torso:
        return False
    down = s + np.array([0.0, 1.0])
    return _angle_deg(down, s, w) >= POINT_MIN_LIFT_DEG


def pointing(kp: np.ndarray) -> bool:
    torso = torso_length(kp)
    if torso is None:
        return False
    left = _arm_lifted_straight(kp, L_SHOULDER, L_ELBOW, L_WRIST, torso)
    right = _arm_lifted_straight(kp, R_SHOULDER, R_ELBOW, R_WRIST, torso)
    # both arms out is a spread or a raise, not a point
    return left != right and not arms_raised(kp)


def gestures(kp: np.ndarray) -> list[str]:
    """The ``GESTURES`` this keypoint set shows, in ``GESTURES`` order."""
    rules = {"arms_raised": arms_raised, "pointing": pointing, "hands_on_hips": hands_on_hips, "crossed_arms": crossed_arms}
    return [name for name in GESTURES if rules[name](kp)]


def body_size(kp: np.ndarray) -> float | None:
    """Torso length, or when the hips are out of view (talking heads, half shots) the shoulder
    width x ``TORSO_PER_SHOULDER_WIDTH`` (shrinks when the person turns sideways)."""
    torso = torso_length(kp)
    if torso is not None or not _visible(kp, L_SHOULDER, R_SHOULDER):
        return torso
    width = float(np.linalg.norm(_xy(kp, L_SHOULDER) - _xy(kp, R_SHOULDER)))
    return width * TORSO_PER_SHOULDER_WIDTH if width > 0 else None


def movement(previous: np.ndarray, current: np.ndarray) -> float | None:
    """Mean displacement of the keypoints visible in both sets, in body sizes (``body_size``, the
    mean of the two), or None when fewer than 4 keypoints or no body size are visible in both. A
    step where the size changes by more than 1.5x is a different shot or person, not motion: None."""
    torso_a, torso_b = body_size(previous), body_size(current)
    if torso_a is None or torso_b is None or max(torso_a, torso_b) > 1.5 * min(torso_a, torso_b):
        return None
    both = (previous[:, 2] >= MIN_VISIBILITY) & (current[:, 2] >= MIN_VISIBILITY)
    if int(both.sum()) < 4:
        return None
    shift = np.linalg.norm(current[both, :2] - previous[both, :2], axis=1)
    return float(shift.mean() / ((torso_a + torso_b) / 2))
