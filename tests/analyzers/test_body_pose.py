"""body_pose: posture/gesture rules on hand-built skeletons with known answers, the analyzer's
bookkeeping (gesture runs, movement energy) with a fake pose model, and real MediaPipe runs on
real clips: a person entering and leaving a static scene, a speaker clip with an audience, and
the person-box crop path on a frame built from two real people side by side."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual import body_pose
from reelscope.analyzers.visual import pose_rules as R
from reelscope.analyzers.visual.body_pose import BodyPose
from reelscope.core.media_info import MediaInfo
from reelscope.core.results import AnalyzerOutput, Segment
from reelscope.media.bundle import FrameSet, MediaBundle
from reelscope.media.decode import decode
from reelscope.media.plan import build_frame_plan
from reelscope.media.probe import probe

PERSON_CLIP = "intel_sample_videos/one-by-one-person-detection.mp4"
# checked by eye on frames decoded at these times: someone stands at the table / the room is empty
PERSON_VISIBLE_S = (25.0, 30.0, 35.0, 40.0, 55.0, 60.0, 65.0, 95.0, 100.0, 105.0)
ROOM_EMPTY_S = (0.0, 5.0, 45.0, 50.0)


# ---------------------------------------------------------------- synthetic skeletons (pixels)
def skeleton(facing_camera: bool = True) -> np.ndarray:
    """A frontal standing person, arms hanging; torso length 100 px. Facing the camera, the
    person's left side is on the image right."""
    kp = np.zeros((33, 3))
    kp[:, 2] = 0.1  # face details etc. not visible unless set
    side = 1 if facing_camera else -1
    c = 200.0

    def put(i: int, x_off: float, y: float) -> None:
        kp[i] = [c + side * x_off, y, 0.99]

    put(R.NOSE, 0, 60)
    put(R.L_SHOULDER, 40, 100), put(R.R_SHOULDER, -40, 100)
    put(R.L_ELBOW, 45, 155), put(R.R_ELBOW, -45, 155)
    put(R.L_WRIST, 47, 205), put(R.R_WRIST, -47, 205)
    put(R.L_HIP, 25, 200), put(R.R_HIP, -25, 200)
    put(R.L_KNEE, 26, 290), put(R.R_KNEE, -26, 290)
    put(R.L_ANKLE, 27, 380), put(R.R_ANKLE, -27, 380)
    return kp


def with_arm(kp: np.ndarray, left: bool, elbow: tuple[float, float], wrist: tuple[float, float]) -> np.ndarray:
    """Move one arm; x offsets are towards the person's own side (+ = outwards)."""
    kp = kp.copy()
    shoulder, e, w = (R.L_SHOULDER, R.L_ELBOW, R.L_WRIST) if left else (R.R_SHOULDER, R.R_ELBOW, R.R_WRIST)
    outward = np.sign(kp[shoulder, 0] - (kp[R.L_SHOULDER, 0] + kp[R.R_SHOULDER, 0]) / 2)
    mid = (kp[R.L_SHOULDER, 0] + kp[R.R_SHOULDER, 0]) / 2
    kp[e, :2] = [mid + outward * elbow[0], elbow[1]]
    kp[w, :2] = [mid + outward * wrist[0], wrist[1]]
    return kp


def arms_raised(kp):
    kp = with_arm(kp, True, (60, 60), (70, 10))
    return with_arm(kp, False, (60, 60), (70, 10))


def hands_on_hips(kp):
    kp = with_arm(kp, True, (80, 150), (30, 195))
    return with_arm(kp, False, (80, 150), (30, 195))


def crossed_arms(kp):
    kp = with_arm(kp, True, (45, 160), (-30, 140))
    return with_arm(kp, False, (45, 165), (-30, 145))


def pointing(kp):
    return with_arm(kp, True, (95, 100), (150, 98))  # left arm straight out to the side


def sitting(kp):
    kp = kp.copy()
    for knee, ankle in ((R.L_KNEE, R.L_ANKLE), (R.R_KNEE, R.R_ANKLE)):
        kp[knee, :2] = [kp[knee, 0] + 85, 205]  # side view: thighs horizontal
        kp[ankle, :2] = [kp[knee, 0], 295]
    return kp


def rotate(kp: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    out = kp.copy()
    out[:, :2] = (kp[:, :2] - [200, 200]) @ rot.T + [200, 200]
    return out


@pytest.mark.parametrize("facing_camera", [True, False])
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda kp: kp, []),
        (arms_raised, ["arms_raised"]),
        (hands_on_hips, ["hands_on_hips"]),
        (crossed_arms, ["crossed_arms"]),
        (pointing, ["pointing"]),
    ],
)
def test_gesture_rules(make, expected, facing_camera):
    assert R.gestures(make(skeleton(facing_camera))) == expected


def test_gestures_need_visible_keypoints_and_two_straight_arms_are_no_point():
    kp = arms_raised(skeleton())
    kp[R.L_WRIST, 2] = 0.2
    assert not R.arms_raised(kp)
    spread = with_arm(pointing(skeleton()), False, (95, 100), (150, 98))  # both arms out: a T-pose
    assert not R.pointing(spread)
    akimbo_elbows_in = with_arm(with_arm(skeleton(), True, (20, 150), (30, 195)), False, (20, 150), (30, 195))
    assert not R.hands_on_hips(akimbo_elbows_in)


def test_postures():
    assert R.posture(skeleton()) == "standing"
    assert R.posture(skeleton(facing_camera=False)) == "standing"
    assert R.posture(sitting(skeleton())) == "sitting"
    assert R.posture(rotate(skeleton(), 40)) == "leaning"
    assert R.posture(rotate(skeleton(), 85)) == "lying"
    half_shot = skeleton()
    half_shot[[R.L_KNEE, R.R_KNEE, R.L_ANKLE, R.R_ANKLE], 2] = 0.1
    assert R.posture(half_shot) is None
    bent = skeleton()
    bent[[R.L_KNEE, R.R_KNEE], 0] += 60  # knees forward, legs bent: neither rule fits
    assert R.posture(bent) is None


def test_movement_is_in_torso_lengths():
    kp = skeleton()
    moved = kp.copy()
    moved[:, 0] += 30  # 0.3 torso lengths
    assert R.movement(kp, moved) == pytest.approx(0.3)
    assert R.movement(kp, kp) == 0.0
    far = kp.copy()
    far[:, :2] *= 2  # twice the size: another shot, not motion
    assert R.movement(kp, far) is None
    no_hips = kp.copy()
    no_hips[[R.L_HIP, R.R_HIP], 2] = 0.0
    moved_no_hips = no_hips.copy()
    moved_no_hips[:, 0] += 26  # shoulder width 80 px x 1.3 = 104 px body size
    assert R.movement(no_hips, moved_no_hips) == pytest.approx(0.25)


# ---------------------------------------------------------------- analyzer with a fake model
def _info(width: int, height: int, duration_s: float) -> MediaInfo:
    return MediaInfo(
        path="arrays", file_size_bytes=1, sha256="x", container="none", duration_s=duration_s,
        has_video=True, has_audio=False, width=width, height=height, avg_fps=2.0,
    )


@pytest.fixture(scope="module")
def analyzer():
    a = BodyPose()
    yield a
    a.close()


def _analyze(analyzer, images, times, outputs=None, **params):
    h, w = images.shape[1:3]
    view = MediaView(_info(w, h, float(times[-1]) + 0.5), FrameSet(images, np.asarray(times, dtype=float)))
    return analyzer.analyze(view, AnalysisContext(params=BodyPose.validate_params(params), outputs=outputs or {}))


def test_runs_merge_gestures_and_energy_follows_motion(analyzer, monkeypatch):
    # frame k's grey level picks the skeleton the fake model "finds": 0 none, 1 neutral, 2 arms raised
    script = [1, 2, 2, 2, 1, 0, 2]
    shifts = [0, 0, 10, 20, 20, 0, 0]
    images = np.stack([np.full((400, 400, 3), k, np.uint8) for k in script])

    calls = iter(range(len(script)))

    def fake_run(pose, image, region):
        i = next(calls)
        k = int(image[0, 0, 0])
        if k == 0:
            return None
        kp = skeleton() if k == 1 else arms_raised(skeleton())
        kp[:, 0] += shifts[i]  # known motion in pixels (torso = 100 px)
        return kp

    monkeypatch.setattr(body_pose, "_run", fake_run)
    out = _analyze(analyzer, images, np.arange(len(script)) * 0.5)
    runs = out.segments_of("body_gesture")
    assert [(s.label, s.start_s, s.end_s, s.attributes["frames"]) for s in runs] == [
        ("arms_raised", 0.5, 2.0, 3), ("arms_raised", 3.0, 3.5, 1)
    ]
    s = out.summary
    assert s["people_source"] == "whole_frame" and s["frames_analyzed"] == 7
    assert s["pose_frames"] == 6 and s["pose_frames_share"] == pytest.approx(6 / 7, abs=1e-3)
    assert s["gesture_counts"] == {"arms_raised": 2, "pointing": 0, "hands_on_hips": 0, "crossed_arms": 0}
    assert s["posture_shares"]["standing"] == 1.0
    energy = out.track("movement_energy").values
    # step 1->2: 10 px of 100 px torso in 0.5 s, but the raised arms moved too; 2->3 is a pure shift
    assert energy[0] is None and energy[1] is not None and energy[1] > 0
    assert energy[3] == pytest.approx(0.1 / 0.5)  # 10 px = 0.1 torso in 0.5 s
    assert energy[4] is not None and energy[5] is None and energy[6] is None  # nobody on frame 5
    poses = out.segments_of("pose")
    assert len(poses) == 6 and all(len(p.attributes["keypoints"]) == 33 for p in poses)
    assert poses[0].attributes["keypoints"][R.L_SHOULDER][:2] == [0.6, 0.25]  # 240/400, 100/400


# ---------------------------------------------------------------- real media
def _frames_at(path: Path, times_s, size=(640, 360)) -> np.ndarray:
    images = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for t in times_s:
            container.seek(int(t / stream.time_base), stream=stream)
            frame = next(f for f in container.decode(stream) if f.time >= t - 1e-3)
            images.append(cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA))
    return np.stack(images)


@pytest.fixture(scope="module")
def person_frames(shared_media):
    path = shared_media / PERSON_CLIP
    if not path.is_file():
        pytest.skip(f"{path} missing")
    times = PERSON_VISIBLE_S + ROOM_EMPTY_S
    return dict(zip(times, _frames_at(path, times), strict=True))


def test_pose_found_where_a_person_stands(analyzer, person_frames):
    times = sorted(person_frames)
    out = _analyze(analyzer, np.stack([person_frames[t] for t in times]), times)
    found = {s.start_s for s in out.segments_of("pose")}
    assert len(found & set(PERSON_VISIBLE_S)) >= 0.8 * len(PERSON_VISIBLE_S)
    assert len(found & set(ROOM_EMPTY_S)) <= 1  # the empty table is not a person
    assert out.summary["people_max"] == 1
    assert out.summary["posture_shares"]["standing"] >= 0.8  # everyone stands at the table
    for seg in out.segments_of("pose"):
        xy = np.array(seg.attributes["keypoints"])[:, :2]
        assert 0.35 < np.median(xy[:, 0]) < 0.9  # the table is right of centre


def test_speaker_clip_through_the_shared_decode(analyzer, shared_media):
    path = shared_media / "people" / "short_hamilton_clip.mp4"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    info = probe(path)
    params = BodyPose.validate_params({})
    plan = build_frame_plan({"pose": BodyPose.needs(params).frames}, {}, info)
    with tempfile.TemporaryDirectory() as work_dir:
        bundle = MediaBundle(decode(info, plan, Path(work_dir)))
        out = analyzer.analyze(MediaView(info, bundle.frames(*plan.frames_for["pose"])), AnalysisContext(params=params))
    s = out.summary
    assert s["frames_analyzed"] >= 18 and s["pose_frames_share"] >= 0.5
    # the last shot (after the cut at ~7.9 s) shows the audience, seated
    late = [p.label for p in out.segments_of("pose") if p.start_s > 8.0]
    assert late and late.count("sitting") >= len(late) - 1
    assert "lying" not in {p.label for p in out.segments_of("pose")}
    assert s["mean_movement_energy"] is not None and 0 < s["mean_movement_energy"] < 3


def test_person_boxes_give_one_pose_per_person(analyzer, person_frames):
    # two real people (different frames), each cropped to x 0.4..0.8 of the frame, side by side
    def crop(t):
        return person_frames[t][:, 256:512]

    pair = np.concatenate([crop(30.0), crop(100.0)], axis=1)[None]
    boxes = AnalyzerOutput(segments=[
        Segment(kind="person_box", start_s=0.0, end_s=0.0, label="person",
                attributes={"box": [0.125, 0.05, 0.2625, 0.85], "track_id": 7}),
        Segment(kind="person_box", start_s=0.0, end_s=0.0, label="person",
                attributes={"box": [0.625, 0.05, 0.2625, 0.85], "track_id": 9}),
    ])
    out = _analyze(analyzer, pair, [0.0], outputs={"object_detection": boxes})
    assert out.summary["people_source"] == "object_detection" and out.summary["frames_with_person_boxes"] == 1
    poses = {p.attributes["person"]: np.array(p.attributes["keypoints"]) for p in out.segments_of("pose")}
    assert set(poses) == {7, 9} and out.summary["people_max"] == 2
    assert 0.1 < poses[7][[11, 12, 23, 24], 0].mean() < 0.4  # mapped back to the left half
    assert 0.6 < poses[9][[11, 12, 23, 24], 0].mean() < 0.9

    whole = _analyze(analyzer, pair, [0.0])
    assert whole.summary["people_source"] == "whole_frame" and whole.summary["people_max"] == 1
    # boxes from a detection 3 s away do not apply: that frame is posed whole
    stale = AnalyzerOutput(segments=[s.model_copy(update={"start_s": 3.0, "end_s": 3.0}) for s in boxes.segments])
    far = _analyze(analyzer, pair, [0.0], outputs={"object_detection": stale})
    assert far.summary["frames_with_person_boxes"] == 0 and far.summary["people_max"] == 1
