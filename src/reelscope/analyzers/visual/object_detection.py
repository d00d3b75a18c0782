"""Objects and products: YOLOX COCO detections on sampled frames, tracked into objects over time.

Each sampled frame goes through YOLOX (``yolox.py``); the boxes of each class are linked across
frames by the IoU tracker (``tracking.py``). Out come one ``object_track`` segment per tracked
object, per-class counts and screen time (how long a class is visible at all), products (a
configurable list of COCO classes), and every person box per frame (``person_box``) so later
analyzers (body pose) can crop around each person.

A frame sampled at time t stands for ``[t, next sample)``; screen time adds those spans.
"""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.analyzers.visual.tracking import IouTracker, ObjectTrack
from reelscope.analyzers.visual.yolox import COCO_CLASSES, YoloxDetector
from reelscope.core.errors import InvalidParams, ModelUnavailable
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs, PackageRequirement
from reelscope.core.results import AnalyzerOutput, Segment, Track
from reelscope.models.files import problem, resolve

MODEL = "yolox-nano"
MODEL_FILE = "model.onnx"
DEFAULT_PRODUCTS = (
    "backpack", "umbrella", "handbag", "tie", "suitcase", "sports_ball", "skateboard", "surfboard",
    "tennis_racket", "bottle", "wine_glass", "cup", "bowl", "laptop", "mouse", "remote", "keyboard",
    "cell_phone", "book", "clock", "vase", "scissors", "teddy_bear", "hair_drier", "toothbrush",
)  # fmt: skip


class ObjectDetection(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        rate_hz: float = Field(2.0, gt=0, le=30, description="frames sampled per second")
        min_score: float = Field(
            0.5,
            gt=0,
            lt=1,
            description="objectness x class probability to keep a box (lower gives spurious small boxes)",
        )
        input_size: int = Field(
            416,
            ge=160,
            le=1280,
            multiple_of=32,
            description="YOLOX input side in px (416 for Nano; a larger model's own)",
        )
        track_min_iou: float = Field(0.1, gt=0, le=1, description="box overlap that continues a track")
        max_gap_frames: int = Field(2, ge=0, le=100, description="sampled frames a track may be missed and go on")
        min_track_frames: int = Field(1, ge=1, description="shorter tracks are dropped as flicker")
        product_classes: tuple[str, ...] = Field(DEFAULT_PRODUCTS, description="COCO classes counted as products")

        @field_validator("product_classes")
        @classmethod
        def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
            unknown = sorted(set(value) - set(COCO_CLASSES))
            if unknown:
                raise ValueError(f"not COCO classes: {unknown}; known: {', '.join(COCO_CLASSES)}")
            return value

    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="object_detection",
        version="1.0.0",
        description="COCO objects (YOLOX) tracked over sampled frames: per-class counts, screen time, products, "
        "person boxes.",
        needs=Needs(frames=FrameRequest(rate_hz=2.0, short_side_px=416, pixel_format="rgb24")),
        timeout_s=300,
        requires=(PackageRequirement("onnxruntime"),),
        tags=("visual", "objects"),
    )

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        # The short side at the input size keeps the long side >= it: the letterbox only shrinks.
        return Needs(frames=FrameRequest(rate_hz=params.rate_hz, short_side_px=params.input_size, pixel_format="rgb24"))

    @classmethod
    def unavailable_reason(cls) -> tuple[str, str] | None:
        return problem(MODEL)

    def __init__(self) -> None:
        model_path = resolve(MODEL) / MODEL_FILE
        if not model_path.is_file():  # an override folder without the file we load
            raise ModelUnavailable(f"{model_path} not found", fix=f"put a YOLOX ONNX export there named {MODEL_FILE}")
        self._detector = YoloxDetector(model_path)

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        p = context.params
        fixed = self._detector.fixed_input_size
        if fixed is not None and fixed != p.input_size:
            raise InvalidParams(
                f"the {MODEL} model takes {fixed} px input, not {p.input_size}", fix=f"input_size={fixed}"
            )
        frames = view.frames
        if frames is None or len(frames) == 0:
            return AnalyzerOutput(summary=_empty_summary())
        times_s = np.asarray(frames.times_s, dtype=np.float64)
        h, w = frames.images.shape[1:3]
        tracker = IouTracker(min_iou=p.track_min_iou, max_gap=p.max_gap_frames)
        for i, image in enumerate(frames.images):
            detections = self._detector.detect(image, p.input_size, p.min_score)
            # Track in normalized boxes: what we publish, independent of the decoded size.
            tracker.update(
                i,
                [
                    (d.label, (d.box_px[0] / w, d.box_px[1] / h, d.box_px[2] / w, d.box_px[3] / h), d.score)
                    for d in detections
                ],
            )
        tracks = [t for t in tracker.tracks if len(t.observations) >= p.min_track_frames]
        duration_s = float(view.media.duration_s) if view.media.duration_s > 0 else 0.0
        ends_s = _frame_ends(times_s, duration_s)
        return _output(tracks, times_s, ends_s, set(p.product_classes))


def _frame_ends(times_s: np.ndarray, duration_s: float) -> np.ndarray:
    """Where each sampled frame's span ends: the next sample, the last one a typical step on,
    never past the media's end."""
    step_s = float(np.median(np.diff(times_s))) if len(times_s) > 1 else 0.0
    ends = np.append(times_s[1:], times_s[-1] + step_s)
    if duration_s > 0:
        ends = np.minimum(ends, duration_s)
    return np.maximum(ends, times_s)


def _box(values) -> list[float]:  # noqa: ANN001 - a 4-sequence of floats
    return [round(float(v), 4) for v in values]


def _output(tracks: list[ObjectTrack], times_s: np.ndarray, ends_s: np.ndarray, products: set[str]) -> AnalyzerOutput:
    n = len(times_s)
    per_frame: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n, dtype=np.int64))
    segments: list[Segment] = []
    tracks_per_class: dict[str, int] = defaultdict(int)
    for track in tracks:
        tracks_per_class[track.label] += 1
        for ob in track.observations:
            per_frame[track.label][ob.frame_index] += 1
        boxes = np.array([ob.box for ob in track.observations])
        segments.append(
            Segment(
                kind="object_track",
                start_s=float(times_s[track.first_frame]),
                end_s=float(ends_s[track.last_frame]),
                label=track.label,
                score=round(float(np.mean([ob.score for ob in track.observations])), 4),
                attributes={
                    "track_id": track.track_id,
                    "frames_seen": len(track.observations),
                    "first_box": _box(boxes[0]),
                    "mean_box": _box(boxes.mean(axis=0)),
                    "is_product": track.label in products,
                },
            )
        )
        if track.label == "person":
            segments.extend(
                Segment(
                    kind="person_box",
                    start_s=float(times_s[ob.frame_index]),
                    end_s=float(times_s[ob.frame_index]),
                    label="person",
                    score=round(ob.score, 4),
                    attributes={"box": _box(ob.box), "track_id": track.track_id},
                )
                for ob in track.observations
            )
    segments.sort(key=lambda s: (s.start_s, s.kind, s.attributes["track_id"]))

    span_s = ends_s - times_s
    covered_s = float(span_s.sum())
    classes = {}
    for label in sorted(per_frame, key=lambda k: (-tracks_per_class[k], k)):
        visible_s = float(span_s[per_frame[label] > 0].sum())
        classes[label] = {
            "tracks": tracks_per_class[label],
            "max_simultaneous": int(per_frame[label].max()),
            "screen_time_s": round(visible_s, 3),
            "screen_time_share": round(visible_s / covered_s, 4) if covered_s > 0 else 0.0,
        }
    total = np.sum(list(per_frame.values()), axis=0) if per_frame else np.zeros(n, dtype=np.int64)
    persons = per_frame["person"] if "person" in per_frame else np.zeros(n, dtype=np.int64)
    summary = {
        "frames_analyzed": n,
        "classes": classes,
        "object_tracks": len(tracks),
        "product_tracks": sum(1 for t in tracks if t.label in products),
        "products": sorted(label for label in classes if label in products),
        "person_max": int(persons.max()) if n else 0,
        "person_tracks": tracks_per_class.get("person", 0),
    }
    series = [
        Track(name="object_count", unit="count", times_s=times_s.tolist(), values=total.astype(float).tolist()),
        Track(name="person_count", unit="count", times_s=times_s.tolist(), values=persons.astype(float).tolist()),
    ]
    return AnalyzerOutput(summary=summary, segments=segments, tracks=series)


def _empty_summary() -> dict:
    return {
        "frames_analyzed": 0,
        "classes": {},
        "object_tracks": 0,
        "product_tracks": 0,
        "products": [],
        "person_max": 0,
        "person_tracks": 0,
    }
