"""The media layer against clips with known truth: probe facts, frame times from PTS (CFR and VFR),
rate subsampling, rotation, resizing, audio resampling and alignment, and bad files mapped onto
reelscope's own errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import media_factory as mf
from reelscope.core.errors import (
    DecodeFailed,
    MediaError,
    MediaNotFound,
    ReelscopeError,
    UnsupportedMedia,
)
from reelscope.core.needs import AudioRequest, FrameRequest
from reelscope.media.bundle import AudioClip, BundleRef, FrameSet, MediaBundle
from reelscope.media.decode import decode
from reelscope.media.plan import build_frame_plan
from reelscope.media.probe import probe
from reelscope.media.source import resolve_local

MS = 1e-3
ALL_FRAMES = FrameRequest()  # native size, every frame


def run_media(
    path: Path,
    work_dir: Path,
    frames: FrameRequest | None = ALL_FRAMES,
    audio_rate_hz: int | None = None,
) -> tuple[BundleRef, FrameSet | None, AudioClip | None]:
    """resolve -> probe -> plan -> decode -> bundle, the way the engine chains them."""
    info = probe(resolve_local(path))
    frame_requests = {"a": frames} if frames is not None else {}
    audio_requests = {"a": AudioRequest(sample_rate_hz=audio_rate_hz)} if audio_rate_hz else {}
    plan = build_frame_plan(frame_requests, audio_requests, info)
    ref = decode(info, plan, work_dir)
    bundle = MediaBundle(ref)
    frame_set = bundle.frames(*plan.frames_for["a"]) if "a" in plan.frames_for else None
    clip = bundle.audio(plan.audio_for["a"]) if "a" in plan.audio_for else None
    return ref, frame_set, clip


def nearest_shot(frame_set: FrameSet, colors: tuple) -> np.ndarray:
    """Index of the closest shot colour for every decoded frame."""
    means = frame_set.images.reshape(len(frame_set), -1, 3).mean(axis=1)
    dists = np.linalg.norm(means[:, None, :] - np.asarray(colors, dtype=float)[None], axis=2)
    return dists.argmin(axis=1)


def dominant_hz(samples: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.shape[0])))
    return float(np.fft.rfftfreq(samples.shape[0], 1 / rate_hz)[spectrum.argmax()])


@pytest.fixture(scope="module")
def shots(factory):
    return factory("shots.mp4", mf.color_shots)


@pytest.fixture(scope="module")
def vfr(factory):
    return factory("vfr.mp4", mf.vfr_clip)


# ---------------------------------------------------------------------------- probe


def test_probe_reports_the_written_facts(shots):
    path, truth = shots
    info = probe(path)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (truth.width, truth.height) == (64, 112)
    assert info.is_portrait
    assert info.duration_s == pytest.approx(truth.duration_s, abs=0.03)
    assert info.avg_fps == pytest.approx(truth.fps, abs=0.01)
    assert not info.is_variable_frame_rate
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.audio_sample_rate_hz == truth.audio_rate_hz
    assert info.rotation_deg == 0


def test_probe_no_audio(factory, tmp_path):
    path, _truth = factory("no_audio.mp4", mf.no_audio_clip)
    info = probe(path)
    assert info.has_video and not info.has_audio and info.audio_codec is None
    plan = build_frame_plan({}, {"a": AudioRequest(sample_rate_hz=16_000)}, info)
    assert plan.audio_for == {} and plan.audio_rates_hz == ()


# ---------------------------------------------------------------------------- frame times


def test_cut_times_survive_decode(shots, tmp_path):
    path, truth = shots
    ref, frame_set, _ = run_media(path, tmp_path)
    assert ref.warnings == ()
    assert frame_set.images.shape == (truth.n_frames, truth.height, truth.width, 3)
    np.testing.assert_allclose(frame_set.times_s, truth.frame_times_s, atol=MS)
    shot_of_frame = nearest_shot(frame_set, truth.shot_colors)
    decoded_cuts = np.flatnonzero(np.diff(shot_of_frame)) + 1
    assert tuple(decoded_cuts) == truth.cut_frames
    np.testing.assert_allclose(frame_set.times_s[decoded_cuts], truth.cut_times_s, atol=MS)


def test_vfr_is_detected_and_times_follow_pts(vfr, tmp_path):
    path, truth = vfr
    info = probe(path)
    assert info.is_variable_frame_rate
    _, frame_set, _ = run_media(path, tmp_path)
    assert len(frame_set) == truth.n_frames
    np.testing.assert_allclose(frame_set.times_s, truth.frame_times_s, atol=MS)
    # each frame is brighter than the one before: decoded in presentation order
    assert np.all(np.diff(frame_set.images.reshape(len(frame_set), -1).mean(axis=1)) > 5)


def _first_at_or_after_each_tick(times_s: np.ndarray, rate_hz: float) -> np.ndarray:
    ticks = np.arange(0.0, times_s[-1] + 1e-9, 1.0 / rate_hz)
    picked = [int(np.searchsorted(times_s, t - 1e-6)) for t in ticks]
    return np.unique([i for i in picked if i < times_s.shape[0]])


@pytest.mark.parametrize("rate_hz", [5.0, 4.0, 1.0])
def test_rate_hz_keeps_first_frame_at_or_after_each_tick(shots, tmp_path, rate_hz):
    path, truth = shots
    all_times = np.asarray(truth.frame_times_s)
    expected = all_times[_first_at_or_after_each_tick(all_times, rate_hz)]
    _, frame_set, _ = run_media(path, tmp_path, FrameRequest(rate_hz=rate_hz))
    np.testing.assert_allclose(frame_set.times_s, expected, atol=MS)
    assert len(frame_set) == math.ceil(truth.duration_s * rate_hz)


def test_rate_hz_on_vfr_and_shared_stream(vfr, tmp_path):
    """Two requests of one size share a full-rate stream; the 10 Hz one sees its own subset."""
    path, truth = vfr
    info = probe(path)
    plan = build_frame_plan({"full": FrameRequest(), "slow": FrameRequest(rate_hz=10.0)}, {}, info)
    assert len(plan.streams) == 1
    bundle = MediaBundle(decode(info, plan, tmp_path))
    full = bundle.frames(*plan.frames_for["full"])
    slow = bundle.frames(*plan.frames_for["slow"])
    times = np.asarray(truth.frame_times_s)
    np.testing.assert_allclose(full.times_s, times, atol=MS)
    np.testing.assert_allclose(slow.times_s, times[_first_at_or_after_each_tick(times, 10.0)], atol=MS)
    # the subset carries the pixels of the frames it names
    index = [int(np.argmin(np.abs(times - t))) for t in slow.times_s]
    np.testing.assert_array_equal(slow.images, np.asarray(full.images)[index])


# ---------------------------------------------------------------------------- geometry


def _bright_corner(image: np.ndarray) -> str:
    gray = image.mean(axis=-1) if image.ndim == 3 else image.astype(float)
    h, w = gray.shape
    corners = {
        "top_left": gray[: h // 4, : w // 4],
        "top_right": gray[: h // 4, -(w // 4) :],
        "bottom_left": gray[-(h // 4) :, : w // 4],
        "bottom_right": gray[-(h // 4) :, -(w // 4) :],
    }
    return max(corners, key=lambda k: corners[k].mean())


@pytest.mark.parametrize("rotation_ccw_deg", [-90, 90, 180])
def test_rotation_is_applied_like_ffmpeg_autorotate(factory, tmp_path, rotation_ccw_deg):
    path, truth = factory(f"rot{rotation_ccw_deg}.mp4", mf.rotated_clip, rotation_ccw_deg=rotation_ccw_deg)
    info = probe(path)
    assert info.rotation_deg == rotation_ccw_deg % 360
    assert (info.stored_width, info.stored_height) == (truth.stored_width, truth.stored_height)
    assert (info.width, info.height) == (truth.width, truth.height)
    _, frame_set, _ = run_media(path, tmp_path)
    assert frame_set.images.shape[1:3] == (truth.height, truth.width)
    # -90 (a phone's "rotate=90") turns the picture clockwise: stored top-left -> top-right
    assert _bright_corner(frame_set.images[0]) == truth.displayed_corner


def test_rotated_and_resized_keeps_displayed_orientation(factory, tmp_path):
    path, truth = factory("rot-90.mp4", mf.rotated_clip, rotation_ccw_deg=-90)
    _, frame_set, _ = run_media(path, tmp_path, FrameRequest(short_side_px=32, pixel_format="gray"))
    assert frame_set.images.shape == (truth.n_frames, 56, 32)
    assert _bright_corner(frame_set.images[0]) == "top_right"


@pytest.mark.parametrize(
    ("short_side_px", "pixel_format", "expected_hw"),
    [(64, "rgb24", (114, 64)), (32, "gray", (56, 32)), (500, "rgb24", (228, 128)), (None, "gray", (228, 128))],
)
def test_short_side_resize_keeps_aspect(factory, tmp_path, short_side_px, pixel_format, expected_hw):
    path, truth = factory("pan_right.mp4", mf.pan_clip, direction="right")
    _, frame_set, _ = run_media(path, tmp_path, FrameRequest(short_side_px=short_side_px, pixel_format=pixel_format))
    channels = (3,) if pixel_format == "rgb24" else ()
    assert frame_set.images.shape == (truth.n_frames, *expected_hw, *channels)
    height, width = expected_hw
    assert width / height == pytest.approx(truth.width / truth.height, rel=0.03)
    assert frame_set.images.dtype == np.uint8


# ---------------------------------------------------------------------------- audio


@pytest.mark.parametrize("rate_hz", [16_000, 22_050, 48_000])
def test_audio_resampled_with_right_length_and_pitch(shots, tmp_path, rate_hz):
    path, truth = shots
    _, _, clip = run_media(path, tmp_path, frames=None, audio_rate_hz=rate_hz)
    assert clip.sample_rate_hz == rate_hz and clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    # within one AAC frame (1024 samples at the 48 kHz source) of the written length
    assert abs(clip.samples.shape[0] - truth.duration_s * rate_hz) <= 1024 / 48_000 * rate_hz
    # the tone changes pitch at each cut: check the middle of every shot
    bounds = (0.0, *truth.cut_times_s, truth.duration_s)
    for k, freq in enumerate(truth.tone_hz):
        mid = (bounds[k] + bounds[k + 1]) / 2
        window = np.asarray(clip.samples[int((mid - 0.2) * rate_hz) : int((mid + 0.2) * rate_hz)])
        assert dominant_hz(window, rate_hz) == pytest.approx(freq, abs=5)


@pytest.mark.parametrize("name", ["tone.m4a", "tone.wav"])
def test_audio_only_sample_zero_is_time_zero(factory, tmp_path, name):
    path, truth = factory(name, mf.tone_clip, segments=(("silence", 0.5), ("tone", 440.0, 1.0), ("silence", 0.5)))
    info = probe(path)
    assert info.has_audio and not info.has_video and (info.width, info.height) == (0, 0)
    assert info.duration_s == pytest.approx(truth.duration_s, abs=0.03)
    ref, frame_set, clip = run_media(path, tmp_path, frames=FrameRequest(), audio_rate_hz=16_000)
    assert frame_set is None and ref.streams == {}
    samples = np.asarray(clip.samples)
    tone = truth.spans[1]
    onset_s = np.flatnonzero(np.abs(samples) > 0.05)[0] / 16_000
    assert onset_s == pytest.approx(tone.start_s, abs=0.005)
    offset_s = np.flatnonzero(np.abs(samples) > 0.05)[-1] / 16_000
    assert offset_s == pytest.approx(tone.end_s, abs=0.03)
    mid = samples[int(0.7 * 16_000) : int(1.3 * 16_000)]
    assert dominant_hz(mid, 16_000) == pytest.approx(tone.freq_hz, abs=3)
    assert abs(samples.shape[0] - truth.duration_s * 16_000) <= 1024 / 3


def test_silent_audio_track_decodes_to_silence(factory, tmp_path):
    path, truth = factory("silent_audio.mp4", mf.video_with_silent_audio)
    assert probe(path).has_audio
    _, frame_set, clip = run_media(path, tmp_path, audio_rate_hz=16_000)
    assert len(frame_set) == truth.n_frames
    assert abs(clip.samples.shape[0] - truth.duration_s * 16_000) <= 1024 / 3
    assert float(np.abs(clip.samples).max()) < 1e-3


# ---------------------------------------------------------------------------- bad files


def _assert_readable(exc: ReelscopeError, path: Path) -> None:
    assert exc.message and path.name in exc.message
    assert "Traceback" not in exc.message


def test_missing_file_is_media_not_found(tmp_path):
    with pytest.raises(MediaNotFound, match="no such file"):
        resolve_local(tmp_path / "nope.mp4")
    with pytest.raises(MediaError):  # probe used directly: still reelscope's error, not av's
        probe(tmp_path / "nope.mp4")


def test_empty_file(factory):
    path, _ = factory("empty.mp4", mf.empty_file)
    with pytest.raises(UnsupportedMedia, match="empty"):
        resolve_local(path)
    with pytest.raises(UnsupportedMedia) as caught:
        probe(path)
    _assert_readable(caught.value, path)


@pytest.mark.parametrize(
    ("name", "maker"),
    [
        ("text.mp4", mf.text_as_mp4),
        ("zero.mp4", mf.zero_duration),
        ("subtitles.mkv", mf.unsupported_stream),
        ("truncated_moov_end.mp4", lambda p: mf.truncated_mp4(p, faststart=False)),
    ],
)
def test_unreadable_files_raise_unsupported_media(factory, name, maker):
    path, _ = factory(name, maker)
    resolve_local(path)  # exists and is not empty: the problem is the content
    with pytest.raises(UnsupportedMedia) as caught:
        probe(path)
    _assert_readable(caught.value, path)
    assert caught.value.exit_code == 4 and caught.value.code == "unsupported_media"


def test_truncated_faststart_decodes_partially_with_warning(factory, tmp_path):
    path, truth = factory("truncated_faststart.mp4", lambda p: mf.truncated_mp4(p, faststart=True))
    assert truth.note == "moov before mdat"
    info = probe(path)  # the index survived, so the header still promises the full clip
    ref, frame_set, clip = run_media(path, tmp_path, audio_rate_hz=16_000)
    assert 0 < len(frame_set) < truth.extra["full_n_frames"]
    assert np.all(np.diff(frame_set.times_s) > 0)
    assert ref.warnings and all(isinstance(w, str) and w for w in ref.warnings)
    assert clip.duration_s < info.duration_s


def test_truncated_moov_at_end_really_lost_its_index(factory):
    _, truth = factory("truncated_moov_end.mp4", lambda p: mf.truncated_mp4(p, faststart=False))
    assert truth.note == "moov after mdat"


def test_corrupt_middle_never_leaks_an_av_error(factory, tmp_path):
    path, truth = factory("corrupt_middle.mp4", mf.corrupt_middle)
    try:
        ref, frame_set, _ = run_media(path, tmp_path, audio_rate_hz=16_000)
    except (DecodeFailed, UnsupportedMedia) as exc:
        _assert_readable(exc, path)
        return
    assert 0 < len(frame_set) <= truth.extra["full_n_frames"]
    assert np.all(np.diff(frame_set.times_s) > 0)
    if len(frame_set) < truth.extra["full_n_frames"]:
        assert ref.warnings  # a shortened result always says why


# ---------------------------------------------------------------------------- real files


@pytest.mark.slow
def test_real_vfr_file(shared_media, tmp_path):
    path = shared_media / "pyscenedetect" / "goldeneye-vfr-drop3.mp4"
    info = probe(path)
    assert info.is_variable_frame_rate and (info.width, info.height) == (1280, 544)
    _, frame_set, _ = run_media(path, tmp_path, FrameRequest(short_side_px=64, pixel_format="gray"))
    gaps = np.diff(frame_set.times_s)
    # every 3rd frame of 23.976 fps dropped: gaps of one and two source frame durations
    assert gaps.min() == pytest.approx(1001 / 24000, abs=2 * MS)
    assert gaps.max() == pytest.approx(2 * 1001 / 24000, abs=2 * MS)
    assert len(frame_set) == pytest.approx(160, abs=2)


@pytest.mark.slow
def test_real_rotated_file(shared_media, tmp_path):
    path = shared_media / "pyscenedetect" / "issue-134-rotate.mp4"
    info = probe(path)
    assert (info.stored_width, info.stored_height) == (1280, 544)
    assert (info.width, info.height) == (544, 1280) and info.is_portrait
    _, frame_set, _ = run_media(path, tmp_path, FrameRequest(rate_hz=1.0, short_side_px=68, pixel_format="gray"))
    assert frame_set.images.shape[1:] == (160, 68)


@pytest.mark.slow
def test_real_non_square_pixels(shared_media, tmp_path):
    path = shared_media / "pyscenedetect" / "issue-195-aspect-ratio.mp4"
    info = probe(path)
    assert (info.stored_width, info.stored_height) == (704, 576)
    assert (info.width, info.height) == (1024, 576)
    _, frame_set, _ = run_media(path, tmp_path, FrameRequest(rate_hz=1.0, short_side_px=144))
    assert frame_set.images.shape[1:] == (144, 256, 3)
