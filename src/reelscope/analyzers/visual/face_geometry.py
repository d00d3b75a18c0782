"""Face signals from MediaPipe face-mesh geometry: gaze, eye openness, mouth opening, head pose
and shot type.

Every function takes one face's landmarks as a ``(478, 2)`` array in **pixels** of the frame
(the mesh's normalised x/y times width/height, so distances are not distorted by the frame's
aspect ratio). Indices are MediaPipe's canonical mesh with ``refine_landmarks=True`` (468 face
points + 10 iris points). "Left"/"right" below mean the image's left/right, not the subject's.

The values are geometric proxies, not calibrated angles: they are ratios of landmark distances
chosen so a frontal face looking into the lens reads ~0.5 (gaze) or ~0 (yaw, pitch).
"""

from __future__ import annotations

import numpy as np

# Eye corners: image-left eye 33 (outer) -> 133 (inner), image-right eye 362 (inner) -> 263 (outer).
LEFT_EYE_CORNERS = (33, 133)
RIGHT_EYE_CORNERS = (362, 263)
LEFT_IRIS, RIGHT_IRIS = 468, 473  # iris centres (refined mesh only)
LEFT_LIDS, RIGHT_LIDS = (159, 145), (386, 374)  # upper, lower lid
LIPS_INNER = (13, 14)  # upper, lower inner lip
CHEEKS = (234, 454)  # face contour at the cheekbones: the face width
NOSE_TIP, NOSE_BOTTOM, CHIN = 1, 2, 152
MESH_POINTS = 478

# Looking into the lens: the iris sits in the middle of the eye (0.45-0.49 measured on portraits
# that look at the camera; it moves to ~0.3/0.7 at the corners). Beyond +-0.1 the eyes look away.
GAZE_CENTRE_TOLERANCE = 0.1
# A turned head with centred irises is looking past the camera, not into it.
GAZE_MAX_ABS_YAW = 0.15
# Open eyes measure 0.25-0.4 (lid gap / eye width); closed lids ~0.05-0.1.
EYE_CLOSED_MAX_OPENNESS = 0.15
# Lip gap / face width: 0.0 closed, ~0.075 smiling with teeth, > 0.1 wide open.
MOUTH_OPEN_MIN_RATIO = 0.035
# Speech moves the jaw: a change of this much between consecutive samples of one face reads as talking.
MOUTH_MOVE_MIN_RATIO = 0.025
# Pitch proxy: the nose tip sits ~0.42 of the way from the eye line to the chin on a level head.
PITCH_NEUTRAL_RATIO = 0.42

# Shot type from face box height as a share of frame height. A head is ~1/8 of a body: a standing
# person filling the frame's height gives ~0.12, so below 0.13 is a wide shot (full body or a
# scene); 0.13-0.3 a medium shot (waist or chest up); 0.3 and above a close-up (head and
# shoulders or tighter; GRID's studio framing measures 0.45-0.51).
CLOSE_UP_MIN_FACE_SHARE = 0.3
MEDIUM_MIN_FACE_SHARE = 0.13
SHOT_TYPES = ("close_up", "medium", "wide")


def _project(point: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    """Where ``point`` falls along ``start -> end``: 0 at start, 1 at end."""
    axis = end - start
    denom = float(axis @ axis)
    return float((point - start) @ axis / denom) if denom > 1e-9 else 0.5


def horizontal_gaze(points_px: np.ndarray) -> float:
    """Mean position of both irises between their eye corners, image left -> right (0.5 = centred)."""
    left = _project(points_px[LEFT_IRIS], points_px[LEFT_EYE_CORNERS[0]], points_px[LEFT_EYE_CORNERS[1]])
    right = _project(points_px[RIGHT_IRIS], points_px[RIGHT_EYE_CORNERS[0]], points_px[RIGHT_EYE_CORNERS[1]])
    return 0.5 * (left + right)


def eye_openness(points_px: np.ndarray) -> float:
    """Lid gap over eye width, mean of both eyes (0 = closed)."""
    ratios = []
    for (outer, inner), (upper, lower) in ((LEFT_EYE_CORNERS, LEFT_LIDS), (RIGHT_EYE_CORNERS, RIGHT_LIDS)):
        width = float(np.linalg.norm(points_px[inner] - points_px[outer]))
        gap = float(np.linalg.norm(points_px[upper] - points_px[lower]))
        ratios.append(gap / width if width > 1e-9 else 0.0)
    return float(np.mean(ratios))


def face_width_px(points_px: np.ndarray) -> float:
    return float(np.linalg.norm(points_px[CHEEKS[1]] - points_px[CHEEKS[0]]))


def mouth_open_ratio(points_px: np.ndarray) -> float:
    """Inner-lip gap over face width (0 = closed)."""
    width = face_width_px(points_px)
    gap = float(np.linalg.norm(points_px[LIPS_INNER[1]] - points_px[LIPS_INNER[0]]))
    return gap / width if width > 1e-9 else 0.0


def head_yaw(points_px: np.ndarray) -> float:
    """Nose-tip offset from the cheek midpoint along the cheek line, over face width.

    0 for a frontal face, positive when the nose points to the image right; ~+-0.3 and beyond
    for near-profile faces."""
    left, right = points_px[CHEEKS[0]], points_px[CHEEKS[1]]
    return _project(points_px[NOSE_TIP], left, right) - 0.5


def head_pitch(points_px: np.ndarray) -> float:
    """Nose-tip position between the eye line and the chin, minus its level-head value.

    Positive when the nose drops toward the chin (head tilted down), negative when raised."""
    eyes = 0.5 * (points_px[LEFT_EYE_CORNERS[0]] + points_px[RIGHT_EYE_CORNERS[1]])
    return _project(points_px[NOSE_TIP], eyes, points_px[CHIN]) - PITCH_NEUTRAL_RATIO


def gaze_at_camera(gaze: float, yaw: float) -> bool:
    """Irises centred between the eye corners on a roughly frontal head."""
    return abs(gaze - 0.5) <= GAZE_CENTRE_TOLERANCE and abs(yaw) <= GAZE_MAX_ABS_YAW


def eyes_closed(openness: float) -> bool:
    return openness < EYE_CLOSED_MAX_OPENNESS


def count_blinks(closed: list[bool]) -> int:
    """Closed runs that open again, in one face's consecutive samples (open -> closed -> open).

    A run still closed at the end is not counted (the eyes may simply be shut)."""
    blinks = 0
    was_closed = False
    seen_open = False
    for c in closed:
        if c and seen_open:
            was_closed = True
        elif not c:
            if was_closed:
                blinks += 1
            was_closed = False
            seen_open = True
    return blinks


def talking_flags(mouth_ratios: list[float]) -> list[bool]:
    """Per sample of one face: mouth open, or moved clearly since the previous sample."""
    flags = []
    for i, ratio in enumerate(mouth_ratios):
        moved = i > 0 and abs(ratio - mouth_ratios[i - 1]) >= MOUTH_MOVE_MIN_RATIO
        flags.append(ratio >= MOUTH_OPEN_MIN_RATIO or moved)
    return flags


def shot_type(face_height_share: float) -> str:
    """close_up / medium / wide from the face box height as a share of the frame height."""
    if face_height_share >= CLOSE_UP_MIN_FACE_SHARE:
        return "close_up"
    if face_height_share >= MEDIUM_MIN_FACE_SHARE:
        return "medium"
    return "wide"


def dlib_five_points(points_px: np.ndarray) -> np.ndarray:
    """The 5 points dlib's 5-point predictor marks, taken from the mesh, in dlib's order:
    image-right eye outer and inner corner, image-left eye outer and inner corner, nose bottom."""
    idx = (RIGHT_EYE_CORNERS[1], RIGHT_EYE_CORNERS[0], LEFT_EYE_CORNERS[0], LEFT_EYE_CORNERS[1], NOSE_BOTTOM)
    return np.asarray(points_px[list(idx)], dtype=np.float64)
