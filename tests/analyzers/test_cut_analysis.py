"""cut_analysis against known truth: synthetic clips (encoded and decoded for real, or built as
arrays) and the ground-truth cuts of ../shared/media."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

import media_factory as mf
from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual.cut_analysis import CutAnalysis
from reelscope.core.media_info import MediaInfo
from reelscope.core.results import AnalyzerOutput
from reelscope.media.bundle import FrameSet, MediaBundle
from reelscope.media.decode import decode
from reelscope.media.plan import build_frame_plan
from reelscope.media.probe import probe


def run_on_file(path: Path, **params) -> AnalyzerOutput:
    info = probe(path)
    validated = CutAnalysis.validate_params(params)
    plan = build_frame_plan({"cut": CutAnalysis.needs(validated).frames}, {}, info)
    bundle = MediaBundle(decode(info, plan, Path(tempfile.mkdtemp())))
    view = MediaView(info, frames=bundle.frames(*plan.frames_for["cut"]))
    return CutAnalysis().analyze(view, AnalysisContext(params=validated))


def run_on_arrays(images: list[np.ndarray], fps: float = 30.0) -> AnalyzerOutput:
    stack = np.stack(images)
    times = np.arange(len(images)) / fps
    h, w = stack.shape[1:3]
    info = MediaInfo(
        path="arrays", file_size_bytes=1, sha256="x", container="none", duration_s=len(images) / fps,
        has_video=True, has_audio=False, width=w, height=h, avg_fps=fps,
    )
    return CutAnalysis().analyze(MediaView(info, frames=FrameSet(stack, times)), AnalysisContext(params=CutAnalysis.Params()))


def texture(seed: int, size: tuple[int, int] = (170, 96), extra: int = 0) -> np.ndarray:
    h, w = size
    return mf._random_texture(h + extra, w + extra, seed)


def transitions(out: AnalyzerOutput) -> list[tuple[str, int, int]]:
    return [(s.label, s.attributes["start_frame"], s.attributes["end_frame"]) for s in out.segments_of("transition")]


def test_fast_montage_every_cut_found_exactly(factory) -> None:
    # shots of 4-6 frames at 30 fps: every shot shorter than 0.2 s
    colors = [(200, 40, 40), (40, 180, 60), (50, 60, 210), (220, 200, 40), (150, 40, 160), (30, 160, 170), (230, 120, 30)]
    shots = [(c, 4 + k % 3) for k, c in enumerate(colors)]
    path, truth = factory("montage.mp4", mf.color_shots, shots=shots, fps=30.0)
    out = run_on_file(path)
    assert [t for t in transitions(out)] == [("hard_cut", c, c) for c in truth.cut_frames]
    shots_out = out.segments_of("shot")
    assert len(shots_out) == len(shots)
    assert out.summary["hard_cut_count"] == len(truth.cut_frames)
    assert out.summary["pacing"] == "very_fast"
    expected_cpm = len(truth.cut_frames) / truth.duration_s * 60
    assert out.summary["cuts_per_minute"] == pytest.approx(expected_cpm, rel=0.05)
    for segment, cut_s in zip(out.segments_of("transition"), truth.cut_times_s):
        assert segment.start_s == pytest.approx(cut_s, abs=0.001)


def test_cut_between_shots_with_the_same_palette() -> None:
    # two different pictures with identical colour statistics (two angles of one room): the colour
    # histogram barely moves, the picture's structure does
    a, b = texture(31), texture(32)
    out = run_on_arrays([a] * 12 + [b] * 12)
    assert transitions(out) == [("hard_cut", 12, 12)]


def test_fades_found_with_type_and_span(factory) -> None:
    path, truth = factory("fades.mp4", mf.fade_clip, fade_frames=10, black_frames=6, fps=24.0)
    found = transitions(run_on_file(path))
    assert [label for label, _, _ in found] == ["fade_out", "fade_in"]
    for (label, start, end), expected in zip(found, truth.transitions):
        assert abs(start - expected.start_frame) <= 2, (label, start, expected)
        assert abs(end - (expected.end_frame - 1)) <= 2, (label, end, expected)


def test_dissolve_found(factory) -> None:
    path, truth = factory("dissolve.mp4", mf.dissolve_clip, dissolve_frames=12, fps=24.0)
    found = transitions(run_on_file(path))
    assert len(found) == 1
    label, start, end = found[0]
    expected = truth.transitions[0]
    assert label == "dissolve"
    assert abs(start - expected.start_frame) <= 2 and abs(end - (expected.end_frame - 1)) <= 2


def test_wipe_found() -> None:
    # two shots with different colour mixes (a wipe between two shots of the same colour mix is
    # indistinguishable from a lighting change for this detector, and is not reported)
    a = np.clip(texture(1).astype(int) * [1.3, 0.8, 0.5], 0, 255).astype(np.uint8)
    b = np.clip(texture(2).astype(int) * [0.5, 0.9, 1.3], 0, 255).astype(np.uint8)
    frames = [a] * 10
    for k in range(1, 12):  # a vertical edge sweeping left to right over 11 frames
        edge = int(a.shape[1] * k / 12)
        frame = a.copy()
        frame[:, :edge] = b[:, :edge]
        frames.append(frame)
    frames += [b] * 10
    found = transitions(run_on_arrays(frames))
    assert [label for label, _, _ in found] == ["wipe"]
    assert abs(found[0][1] - 10) <= 2 and abs(found[0][2] - 20) <= 2


def test_zoom_punch_in_and_fast_pan_are_not_cuts() -> None:
    big = texture(5, extra=200)
    frames = []
    for i in range(20):  # a fast pan: 9 px per frame at 96 px wide (~2.8 frame widths per second)
        frames.append(big[:170, i * 9 : i * 9 + 96])
    base = frames[-1]
    h, w = base.shape[:2]
    crop = base[int(h * 0.15) : int(h * 0.85), int(w * 0.15) : int(w * 0.85)]
    punched = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)  # a 1.4x punch-in
    frames += [punched] * 10
    out = run_on_arrays(frames)
    assert transitions(out) == []
    assert out.summary["shot_count"] == 1


def test_white_flash_between_shots_is_one_flash_transition_and_inside_a_shot_none() -> None:
    a, b = texture(11), texture(12)
    white = np.full_like(a, 250)
    between = run_on_arrays([a] * 10 + [white] * 2 + [b] * 10)
    assert [label for label, _, _ in transitions(between)] == ["flash"]
    inside = run_on_arrays([a] * 10 + [white] * 2 + [a] * 10)
    assert transitions(inside) == []


def test_scenes_group_similar_shots() -> None:
    a, b, c = texture(21), np.clip(texture(21).astype(int) + 6, 0, 255).astype(np.uint8), texture(22)
    a_red = np.clip(a.astype(int) * [1.4, 0.5, 0.5], 0, 255).astype(np.uint8)
    c_blue = np.clip(c.astype(int) * [0.4, 0.6, 1.5], 0, 255).astype(np.uint8)
    b_red = np.clip(b.astype(int) * [1.4, 0.5, 0.5], 0, 255).astype(np.uint8)
    # red shot, blue shot, red again (shot / reverse shot), then a new blue-ish scene
    out = run_on_arrays([a_red] * 8 + [c_blue] * 8 + [b_red[::-1]] * 8)
    shots = out.segments_of("shot")
    assert len(shots) == 3
    assert out.summary["scene_count"] <= 2


def test_empty_and_single_frame_inputs() -> None:
    out = run_on_arrays([texture(1)])
    assert out.summary["shot_count"] == 1 and transitions(out) == []


# ------------------------------------------------------------------ real media, ground truth


def _truth(shared_media: Path) -> dict:
    return json.loads((shared_media / "ground_truth.json").read_text())


@pytest.mark.parametrize(
    "name",
    [
        "pyscenedetect/testvideo.mp4",
        "pyscenedetect/issue-134-rotate.mp4",
        "pyscenedetect/goldeneye-vfr-drop3.mp4",
        "pyscenedetect/issue-195-aspect-ratio.mp4",
        "people/short_hamilton_clip.mp4",
        "people/chaplin.mp4",
    ],
)
def test_ground_truth_cuts(shared_media: Path, name: str) -> None:
    """Every ground-truth cut is found within 2 frames; hard cuts are never invented."""
    path = shared_media / name
    info = probe(path)
    out = run_on_file(path)
    found = out.segments_of("transition")
    gt_frames = _truth(shared_media)[name]["cuts"]
    fps = 24000 / 1001 if info.is_variable_frame_rate else None
    for frame in gt_frames:
        if fps:  # VFR: truth is in the source's nominal frame numbering (see ground_truth.json)
            gt_s = frame / fps
        else:
            gt_s = float(out.track("luma").times_s[frame])
        tol_s = 2.0 / (info.avg_fps or 25)
        assert any(s.start_s - tol_s <= gt_s <= s.end_s + tol_s for s in found), (name, frame, gt_s, found)
    hard = [s for s in found if s.label == "hard_cut"]
    assert len(hard) <= len(gt_frames)


@pytest.mark.parametrize(
    "name", ["intel_sample_videos/one-by-one-person-detection.mp4", "intel_sample_videos/car-detection.mp4"]
)
def test_no_transitions_on_single_shot_footage_with_motion_and_exposure_changes(shared_media: Path, name: str) -> None:
    out = run_on_file(shared_media / name)
    assert out.segments_of("transition") == []
    assert out.summary["shot_count"] == 1
