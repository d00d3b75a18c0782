"""background_segmentation on real people: a real speaker frame (person share), the same person
cut out and pasted onto a green, a blue and a foliage-like backdrop (green-screen hint), onto a
still and a sliding texture (static vs moving background) and across a backdrop swap (jump);
and a real clip through the shared decode against its known cuts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual.background_segmentation import BackgroundSegmentation
from reelscope.core.media_info import MediaInfo
from reelscope.media.bundle import FrameSet, MediaBundle
from reelscope.media.decode import decode
from reelscope.media.plan import build_frame_plan
from reelscope.media.probe import probe

HAMILTON = "people/short_hamilton_clip.mp4"
SPEAKER_S = 6.0  # the performer, waist up, in front of a curtain (checked by eye)
SIZE = (640, 360)


@pytest.fixture(scope="module")
def analyzer():
    a = BackgroundSegmentation()
    yield a
    a.close()


def _frame_at(path: Path, t_s: float) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(t_s / stream.time_base), stream=stream)
        frame = next(f for f in container.decode(stream) if f.time >= t_s - 1e-3)
        return cv2.resize(frame.to_ndarray(format="rgb24"), SIZE, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def speaker(shared_media, analyzer):
    """(real frame, person mask of it) from the speaker shot."""
    path = shared_media / HAMILTON
    if not path.is_file():
        pytest.skip(f"{path} missing")
    frame = _frame_at(path, SPEAKER_S)
    return frame, analyzer.person_mask(frame, 1) >= 0.5


def _run(analyzer, images, **params):
    images = np.stack(images)
    n, h, w = images.shape[:3]
    info = MediaInfo(
        path="arrays", file_size_bytes=1, sha256="x", container="none", duration_s=n * 0.5,
        has_video=True, has_audio=False, width=w, height=h, avg_fps=2.0,
    )
    params = BackgroundSegmentation.validate_params(params)
    return analyzer.analyze(MediaView(info, FrameSet(images, np.arange(n) * 0.5)), AnalysisContext(params=params))


def _paste(speaker, backdrop: np.ndarray) -> np.ndarray:
    frame, mask = speaker
    return np.where(mask[..., None], frame, backdrop).astype(np.uint8)


def _texture(seed: int, shift_px: int = 0) -> np.ndarray:
    """Smooth random texture (blobs ~20 px) filling the frame, slid left by ``shift_px``."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (SIZE[1] // 16 + 2, SIZE[0] // 16 + 8, 3), dtype=np.uint8)
    big = cv2.resize(coarse, (coarse.shape[1] * 16, coarse.shape[0] * 16), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(big[: SIZE[1], shift_px : shift_px + SIZE[0]])


def _noisy(image: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 3, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def test_person_share_of_a_real_speaker_frame(analyzer, speaker):
    frame, mask = speaker
    out = _run(analyzer, [frame, frame])
    share = out.track("person_share").values[0]
    assert 0.12 < share < 0.6  # waist-up performer, about a quarter of a 16:9 frame
    assert share == pytest.approx(float(mask.mean()), abs=1e-6)
    assert out.summary["model"] == "selfie_landscape"  # picked for a landscape frame
    # his body is in the middle third, not at the frame edges
    columns = mask.mean(axis=0)
    assert columns[SIZE[0] // 3 : 2 * SIZE[0] // 3].sum() > columns.sum() / 2


@pytest.mark.parametrize(("rgb", "colour"), [((0, 177, 64), "green"), ((0, 71, 187), "blue")])
def test_key_colour_backdrop_is_flagged(analyzer, speaker, rgb, colour):
    backdrop = np.zeros_like(speaker[0]) + np.array(rgb, np.uint8)
    # a real key backdrop is lit unevenly: a brightness ramp plus noise
    ramp = np.linspace(0.8, 1.1, SIZE[0])[None, :, None]
    images = [_noisy(_paste(speaker, np.clip(backdrop * ramp, 0, 255)), seed) for seed in range(3)]
    out = _run(analyzer, images)
    assert out.summary["green_screen_likely"] is True
    assert out.summary["green_screen_color"] == colour
    assert out.summary["green_screen_share"] > 0.8


def test_natural_backgrounds_are_not_key_screens(analyzer, speaker):
    assert _run(analyzer, [speaker[0]] * 2).summary["green_screen_likely"] is False
    # a solid green card with nobody in front of it is a graphic, not a key backdrop
    card = _run(analyzer, [np.zeros_like(speaker[0]) + np.array([0, 177, 64], np.uint8)] * 2)
    assert card.summary["person_frames_share"] == 0.0 and card.summary["green_screen_likely"] is False
    # foliage: saturated greens, but many hues and brightnesses
    rng = np.random.default_rng(3)
    hsv = np.stack([
        rng.integers(30, 90, (SIZE[1] // 8, SIZE[0] // 8)),
        rng.integers(110, 255, (SIZE[1] // 8, SIZE[0] // 8)),
        rng.integers(70, 255, (SIZE[1] // 8, SIZE[0] // 8)),
    ], axis=-1).astype(np.uint8)
    foliage = cv2.resize(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), SIZE, interpolation=cv2.INTER_NEAREST)
    out = _run(analyzer, [_paste(speaker, foliage)] * 2)
    assert out.summary["green_screen_share"] > 0.6  # the hue/saturation test alone would say yes
    assert out.summary["green_screen_likely"] is False  # the hue spread says no


def test_static_and_moving_backgrounds(analyzer, speaker):
    still = [_noisy(_paste(speaker, _texture(1)), seed) for seed in range(5)]
    out = _run(analyzer, still)
    assert out.summary["background_motion"] == "static"
    assert out.summary["background_motion_measure"] < 0.05
    assert out.summary["background_jump_count"] == 0

    sliding = [_noisy(_paste(speaker, _texture(1, shift_px=12 * k)), k) for k in range(5)]
    moving = _run(analyzer, sliding)
    assert moving.summary["background_motion"] == "moving"
    assert moving.summary["background_motion_measure"] > 3 * out.summary["background_motion_measure"]
    assert moving.summary["background_jump_count"] == 0  # the same backdrop slid: no new scene


def test_backdrop_swap_is_a_jump(analyzer, speaker):
    images = [_noisy(_paste(speaker, _texture(1)), k) for k in range(3)]
    images += [_noisy(_paste(speaker, _texture(2)), k) for k in range(3)]
    out = _run(analyzer, images)
    jumps = out.segments_of("background_change")
    assert [(s.start_s, s.end_s, s.label) for s in jumps] == [(1.0, 1.5, "background_jump")]
    changes = out.track("background_change").values
    assert changes[0] is None and changes[3] > 5 * max(changes[1], changes[2], changes[4], changes[5])
    assert out.summary["background_motion"] == "static"  # the steps around the swap are still


def test_real_clip_jumps_at_its_cuts(analyzer, shared_media):
    path = shared_media / HAMILTON
    if not path.is_file():
        pytest.skip(f"{path} missing")
    info = probe(path)
    params = BackgroundSegmentation.validate_params({})
    plan = build_frame_plan({"bg": BackgroundSegmentation.needs(params).frames}, {}, info)
    with tempfile.TemporaryDirectory() as work_dir:
        bundle = MediaBundle(decode(info, plan, Path(work_dir)))
        out = analyzer.analyze(MediaView(info, bundle.frames(*plan.frames_for["bg"])), AnalysisContext(params=params))
    # ground truth: cuts at frames 20, 82, 211 (29.97 fps, first frame at 0.844 s) = 1.51, 3.58, 7.88 s.
    # The 3.58 s cut (audience close-up -> performer, dark on dark, mostly masked) is not found.
    jumps = out.segments_of("background_change")
    assert 1 <= len(jumps) <= 3
    cut_times = (1.511, 3.58, 7.884)
    for jump in jumps:
        assert any(jump.start_s < t <= jump.end_s for t in cut_times), jump
    assert any(jump.start_s < 7.884 <= jump.end_s for jump in jumps)
    assert out.summary["person_frames_share"] == 1.0  # someone is on screen throughout
    assert out.summary["green_screen_likely"] is False
