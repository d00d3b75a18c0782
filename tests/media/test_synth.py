"""The doctor's self-test clip: its container facts match its truth, the cut is a real cut, the
camera really moves, the tone and its beat are where the truth says, and it is deterministic."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from reelscope.media.probe import probe
from reelscope.media.synth import AUDIO_RATE_HZ, SelftestTruth, write_selftest_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SelftestTruth]:
    path = tmp_path_factory.mktemp("synth") / "selftest.mp4"
    return path, write_selftest_clip(path)


def decoded_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]).astype(np.int16)


def decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [f.to_ndarray().mean(axis=0) for f in container.decode(stream)]
        return np.concatenate(chunks), stream.rate


def test_probe_matches_the_truth(clip):
    path, truth = clip
    info = probe(path)
    assert truth.duration_s == pytest.approx(4.0) and truth.fps == 30.0 and truth.cut_times_s == (2.0,)
    assert info.duration_s == pytest.approx(truth.duration_s, abs=1 / truth.fps)
    assert (info.width, info.height) == (360, 640)
    assert info.avg_fps == pytest.approx(truth.fps, abs=0.01) and not info.is_variable_frame_rate
    assert info.has_video and info.video_codec == "h264"
    assert info.has_audio and info.audio_codec == "aac" and info.audio_sample_rate_hz == AUDIO_RATE_HZ


def test_the_cut_is_real_and_where_the_truth_says(clip):
    path, truth = clip
    frames = decoded_frames(path)
    assert len(frames) == round(truth.duration_s * truth.fps)
    change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # change[i]: frame i -> i + 1
    cut_frame = round(truth.cut_times_s[0] * truth.fps)
    within = np.delete(change, cut_frame - 1)
    assert int(np.argmax(change)) == cut_frame - 1
    assert change[cut_frame - 1] > 8 * within.max()
    assert within.min() > 1.0  # and the shots are not still pictures


def test_the_camera_moves_two_pixels_a_frame(clip):
    frames = decoded_frames(clip[0])
    first, second = frames[10], frames[11]  # shot 1 pans: content moves left as the window moves right
    shifted = np.abs(second[:, :-2] - first[:, 2:]).mean()
    unshifted = np.abs(second - first).mean()
    assert shifted < unshifted / 3
    a, b = frames[80], frames[81]  # shot 2 tilts: content moves up
    assert np.abs(b[:-2] - a[2:]).mean() < np.abs(b - a).mean() / 3


def test_the_audio_is_the_tone_pulsing_on_the_beat(clip):
    path, truth = clip
    samples, rate_hz = decoded_audio(path)
    assert len(samples) / rate_hz == pytest.approx(truth.duration_s, abs=0.05)
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.fft.rfftfreq(len(samples), 1 / rate_hz)[np.argmax(spectrum)]
    assert peak_hz == pytest.approx(truth.tone_hz, abs=2.0)
    window = int(0.05 * rate_hz)
    beats_s = np.arange(truth.beat_period_s, truth.duration_s - truth.beat_period_s, truth.beat_period_s)
    for beat_s in beats_s:  # AAC delays by a few ms: compare windows well clear of the edge
        at = int(beat_s * rate_hz) + window // 5
        after = np.sqrt(np.mean(samples[at : at + window] ** 2))
        before = np.sqrt(np.mean(samples[at - 2 * window : at - window] ** 2))
        assert after > 2.5 * before, beat_s


def test_same_call_same_clip(tmp_path):
    a = write_selftest_clip(tmp_path / "a.mp4", duration_s=0.6, width=64, height=96)
    b = write_selftest_clip(tmp_path / "b.mp4", duration_s=0.6, width=64, height=96)
    assert a == b and a.cut_times_s == (0.3,)
    # the content is seeded; the encoder may still spend its bits differently (measured up to ~2
    # grey levels of mean difference), while other content (another seed) differs by tens
    frames_a, frames_b = _decoded_frames(tmp_path / "a.mp4"), _decoded_frames(tmp_path / "b.mp4")
    assert len(frames_a) == len(frames_b) > 0
    assert max(float(np.abs(x.astype(int) - y.astype(int)).mean()) for x, y in zip(frames_a, frames_b, strict=True)) < 6.0
    shifted = frames_b[1:] + frames_b[:1]  # a different frame at every position must not pass
    assert max(float(np.abs(x.astype(int) - y.astype(int)).mean()) for x, y in zip(frames_a, shifted, strict=True)) > 6.0


def _decoded_frames(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


@pytest.mark.parametrize(("kwargs", "fragment"), [({"width": 361}, "even size"), ({"duration_s": 0.05}, "too short")])
def test_bad_arguments_are_refused(tmp_path, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        write_selftest_clip(tmp_path / "x.mp4", **kwargs)
