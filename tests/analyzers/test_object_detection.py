"""object_detection: YOLOX decode arithmetic, the IoU tracker, and runs on real clips whose
content was checked by eye (frames saved with their boxes)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual.object_detection import ObjectDetection
from reelscope.analyzers.visual.tracking import IouTracker, iou
from reelscope.analyzers.visual.yolox import COCO_CLASSES, decode, grid_and_strides, letterbox
from reelscope.core.errors import InvalidParams
from reelscope.core.media_info import MediaInfo
from reelscope.media.bundle import FrameSet, MediaBundle
from reelscope.media.decode import decode as decode_media
from reelscope.media.plan import build_frame_plan
from reelscope.media.probe import probe

# ------------------------------------------------------------------------------------ yolox decode


def test_coco_classes_are_80_snake_case_in_model_order() -> None:
    assert len(COCO_CLASSES) == 80 and len(set(COCO_CLASSES)) == 80
    assert COCO_CLASSES[0] == "person" and COCO_CLASSES[2] == "car" and COCO_CLASSES[67] == "cell_phone"
    assert all(c.islower() and " " not in c for c in COCO_CLASSES)


def test_letterbox_scales_into_the_top_left_and_keeps_raw_pixel_values() -> None:
    image = np.full((100, 200, 3), 200, dtype=np.uint8)
    tensor, ratio = letterbox(image, 416)
    assert tensor.shape == (1, 3, 416, 416) and tensor.dtype == np.float32
    assert ratio == pytest.approx(416 / 200)
    assert tensor[0, :, :208, :].max() == 200 and tensor[0, :, :208, :].min() == 200  # image, 0..255 unscaled
    assert np.all(tensor[0, :, 209:, :] == 114)  # padding below


def test_decode_places_a_cell_by_grid_and_stride_and_undoes_the_letterbox() -> None:
    size = 416
    grid, strides = grid_and_strides(size)
    assert grid.shape == (52 * 52 + 26 * 26 + 13 * 13, 2)
    raw = np.zeros((grid.shape[0], 85), dtype=np.float32)
    raw[:, 4] = 0.01  # every other cell: objectness too low
    # Stride-16 cell (gx=10, gy=5): offset 0.5 -> centre (168, 88) px; exp(1) * 16 wide, exp(0.5) * 16 high.
    row = 52 * 52 + 5 * 26 + 10
    assert tuple(grid[row]) == (10, 5) and strides[row, 0] == 16
    raw[row, :4] = [0.5, 0.5, 1.0, 0.5]
    raw[row, 4] = 0.9
    raw[row, 5 + 2] = 0.8  # car
    ratio = 0.5  # the frame was twice the input size
    dets = decode(raw, size, ratio, 0.5, (832, 832))
    assert len(dets) == 1 and dets[0].label == "car" and dets[0].score == pytest.approx(0.72)
    w, h = np.exp(1.0) * 16, np.exp(0.5) * 16
    expected = ((168 - w / 2) / ratio, (88 - h / 2) / ratio, w / ratio, h / ratio)
    assert dets[0].box_px == pytest.approx(expected, rel=1e-5)


def test_decode_suppresses_overlaps_within_a_class_only() -> None:
    raw = np.zeros((grid_and_strides(416)[0].shape[0], 85), dtype=np.float32)
    for row, cls, dx in ((100, 0, 0.0), (101, 0, -0.9), (102, 39, 0.0)):  # 2 persons on one spot, a bottle
        raw[row, :4] = [dx, 0.0, 2.0, 2.0]  # neighbouring stride-8 cells, ~59 px boxes: heavy overlap
        raw[row, 4] = 1.0
        raw[row, 5 + cls] = 0.9 if row != 101 else 0.7
    dets = decode(raw, 416, 1.0, 0.5, (416, 416))
    assert sorted(d.label for d in dets) == ["bottle", "person"]
    assert next(d for d in dets if d.label == "person").score == pytest.approx(0.9)


# ----------------------------------------------------------------------------------------- tracker


def test_iou() -> None:
    assert iou((0, 0, 2, 2), (1, 1, 2, 2)) == pytest.approx(1 / 7)
    assert iou((0, 0, 1, 1), (2, 2, 1, 1)) == 0.0 and iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


@pytest.mark.parametrize("method", ["hungarian", "greedy"])
def test_two_crossing_boxes_keep_their_ids(method: str) -> None:
    tracker = IouTracker(min_iou=0.1, max_gap=1, method=method)
    first_ids = None
    for frame in range(11):
        a = (0.05 + 0.07 * frame, 0.40, 0.15, 0.30)  # moves right
        # moves left; past the crossing (frames 5-6) each last box is nearer the other box than its own
        b = (0.78 - 0.07 * frame, 0.42, 0.15, 0.30)
        ids = tracker.update(frame, [("person", b, 0.9), ("person", a, 0.8)])
        first_ids = first_ids or ids
        assert ids == first_ids, f"frame {frame}: ids swapped"
    assert len(tracker.tracks) == 2
    right_mover = next(t for t in tracker.tracks if t.track_id == first_ids[1])
    assert right_mover.observations[-1].box[0] > right_mover.observations[0].box[0]


def test_a_gap_within_max_gap_keeps_the_id_and_a_longer_one_starts_a_new_track() -> None:
    tracker = IouTracker(min_iou=0.3, max_gap=2)
    box = (0.4, 0.4, 0.2, 0.2)
    assert tracker.update(0, [("cup", box, 0.9)]) == [1]
    assert tracker.update(1, []) == []
    assert tracker.update(2, []) == []
    assert tracker.update(3, [("cup", box, 0.9)]) == [1]  # missed 2 frames: same cup
    for frame in (4, 5, 6):
        tracker.update(frame, [])
    assert tracker.update(7, [("cup", box, 0.9)]) == [2]  # missed 3 frames: a new track
    assert [len(t.observations) for t in tracker.tracks] == [2, 1]


def test_tracks_never_jump_between_classes_and_ids_are_not_reused() -> None:
    tracker = IouTracker()
    box = (0.1, 0.1, 0.3, 0.3)
    assert tracker.update(0, [("cup", box, 0.9)]) == [1]
    assert tracker.update(1, [("bottle", box, 0.9)]) == [2]
    assert tracker.update(2, [("cup", box, 0.9), ("bottle", box, 0.8)]) == [1, 2]
    with pytest.raises(ValueError):
        tracker.update(2, [])


# -------------------------------------------------------------------------------------- analyzer


@pytest.fixture(scope="module")
def analyzer() -> ObjectDetection:
    return ObjectDetection()


def _media(frames: FrameSet, duration_s: float) -> MediaInfo:
    h, w = frames.images.shape[1:3]
    return MediaInfo(
        path="x",
        file_size_bytes=0,
        sha256="0",
        container="none",
        duration_s=duration_s,
        has_video=True,
        has_audio=False,
        width=w,
        height=h,
    )


def _run_on_file(analyzer: ObjectDetection, path: Path, tmp: Path, **params):
    """Decode ``path`` the way a job does (shared decode at the analyzer's request), then analyze."""
    p = ObjectDetection.validate_params(params)
    info = probe(path)
    plan = build_frame_plan({"object_detection": ObjectDetection.needs(p).frames}, {}, info)
    key, rate_hz = plan.frames_for["object_detection"]
    frames = MediaBundle(decode_media(info, plan, tmp)).frames(key, rate_hz)
    started = time.perf_counter()
    out = analyzer.analyze(MediaView(info, frames), AnalysisContext(params=p))
    ms_per_frame = 1000 * (time.perf_counter() - started) / len(frames)
    return out, frames, ms_per_frame


def test_a_frame_with_no_objects_gives_nothing(analyzer: ObjectDetection) -> None:
    rng = np.random.default_rng(0)
    images = np.stack([np.full((416, 740, 3), 128, np.uint8), rng.integers(90, 110, (416, 740, 3), dtype=np.uint8)])
    frames = FrameSet(images, np.array([0.0, 0.5]))
    p = ObjectDetection.validate_params({})
    out = analyzer.analyze(MediaView(_media(frames, 1.0), frames), AnalysisContext(params=p))
    assert out.segments == [] and out.summary["classes"] == {} and out.summary["frames_analyzed"] == 2
    assert out.track("object_count").values == [0.0, 0.0]


def test_params_are_checked() -> None:
    with pytest.raises(ValidationError):
        ObjectDetection.validate_params({"product_classes": ["bottle", "lightsaber"]})
    with pytest.raises(ValidationError):
        ObjectDetection.validate_params({"input_size": 420})  # not a multiple of 32
    assert (
        ObjectDetection.needs(ObjectDetection.validate_params({"input_size": 640, "rate_hz": 1})).frames.short_side_px
        == 640
    )


def test_an_input_size_the_model_does_not_take_is_refused(analyzer: ObjectDetection) -> None:
    frames = FrameSet(np.zeros((1, 64, 64, 3), np.uint8), np.array([0.0]))
    p = ObjectDetection.validate_params({"input_size": 640})
    with pytest.raises(InvalidParams) as err:
        analyzer.analyze(MediaView(_media(frames, 1.0), frames), AnalysisContext(params=p))
    assert err.value.fix == "input_size=416"


def test_people_who_come_one_by_one_are_each_one_track(analyzer, shared_media: Path, tmp_path: Path) -> None:
    """Checked by eye: six different people walk up to the table one after the other (about 6-20,
    23-45, 51-70, 74-87, 92-119, 124-136 s), with empty frames between them."""
    out, frames, ms = _run_on_file(
        analyzer, shared_media / "intel_sample_videos/one-by-one-person-detection.mp4", tmp_path
    )
    print(f"one-by-one: {len(frames)} frames, {ms:.1f} ms per frame")
    persons = sorted((s for s in out.segments_of("object_track") if s.label == "person"), key=lambda s: s.start_s)
    assert out.summary["person_max"] == 1
    assert 6 <= len(persons) <= 7, [(s.start_s, s.end_s) for s in persons]
    long_visits = [s for s in persons if s.attributes["frames_seen"] >= 10]
    assert len(long_visits) == 6
    for (start_s, end_s), s in zip(
        [(6, 20), (23, 45), (51, 70), (74, 87), (92, 119), (124, 136)], long_visits, strict=True
    ):
        assert abs(s.start_s - start_s) <= 2 and abs(s.end_s - end_s) <= 2, s
        x, y, w, h = s.attributes["mean_box"]
        assert 0.35 < x + w / 2 < 0.75 and h > 0.6  # a standing person at the table, mid-frame
    person = out.summary["classes"]["person"]
    assert 90 <= person["screen_time_s"] <= 115 and 0.6 < person["screen_time_share"] < 0.85
    # One person_box per frame a person was tracked in, each naming its track.
    boxes = out.segments_of("person_box")
    assert len(boxes) == sum(s.attributes["frames_seen"] for s in persons)
    ids = {s.attributes["track_id"] for s in persons}
    assert {b.attributes["track_id"] for b in boxes} == ids and all(b.start_s == b.end_s for b in boxes)
    counts = out.track("person_count")
    assert len(counts.times_s) == len(frames) and max(counts.values) == 1
    assert (
        counts.values[np.searchsorted(counts.times_s, 0.0)] == 0
        and counts.values[np.searchsorted(counts.times_s, 30.0)] == 1
    )


def test_parking_lot_cars_are_found_but_misnamed(analyzer, shared_media: Path, tmp_path: Path) -> None:
    """Checked by eye (frames saved with boxes): cars drive through at about 5.5-8.5, 15-19 and
    25-28 s; the lot is empty otherwise. YOLOX-Nano localises them but, seen from straight above,
    calls them cell_phone / bus / suitcase; 'car' only reaches 0.37. This documents the limit."""
    out, frames, ms = _run_on_file(analyzer, shared_media / "intel_sample_videos/car-detection.mp4", tmp_path)
    print(f"car-detection: {len(frames)} frames, {ms:.1f} ms per frame")
    tracks = out.segments_of("object_track")
    assert len(tracks) >= 3
    windows = [(5.5, 9.0), (15.0, 19.5), (25.0, 28.5)]
    for s in tracks:  # every box lies where a car is in view
        assert any(a <= s.start_s and s.end_s <= b for a, b in windows), s
    for a, b in windows:  # and each passing car is found
        assert any(a <= s.start_s < b for s in tracks), (a, b)
    assert "car" not in out.summary["classes"]
    assert "cell_phone" in out.summary["products"] and out.summary["person_max"] == 0
