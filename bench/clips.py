"""Benchmark clips, generated once and cached in bench/.cache (never committed).

``speech_clip``: real speech back to back (JFK, read speech, the GRID sentences, BBC narration, a
poetry reading) from ../shared/media, optionally over a quiet music bed, as AAC in an .m4a.

``face_text_clip``: a 9:16 1080x1920 repost of the real Hamilton speaker clip (looped to 30 s,
letterboxed) with three text overlays in known places and times: a face and captions for the
vision analyzers, with the overlay truth in ``FACE_TEXT_CAPTIONS``.

``short_clip``: a TikTok-like portrait short (default 30 s, 1080x1920, 30 fps, H.264 + AAC):
shots of a camera panning over detailed textures, a hard cut every 3 s, and a music-like
soundtrack (a chord with a click on every beat at 120 BPM) so decode and every analyzer do
real work.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import media_factory as mf

CACHE = ROOT / "bench" / ".cache"


def _soundtrack(duration_s: float, rate_hz: int) -> np.ndarray:
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    chord = sum(0.08 * np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0))
    clicks = np.zeros_like(t)
    rng = np.random.default_rng(3)
    for beat_s in np.arange(0, duration_s, 0.5):
        i = int(beat_s * rate_hz)
        n = min(int(0.03 * rate_hz), t.size - i)
        clicks[i : i + n] = rng.uniform(-0.5, 0.5, n) * np.exp(-np.arange(n) / (0.008 * rate_hz))
    return (chord + clicks).astype(np.float32)


def short_clip(duration_s: float = 30.0, size: tuple[int, int] = (1080, 1920), fps: float = 30.0, shot_s: float = 3.0) -> Path:
    width, height = size
    path = CACHE / f"short_{int(duration_s)}s_{width}x{height}_{int(fps)}fps.mp4"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    n_frames = int(duration_s * fps)
    per_shot = int(shot_s * fps)
    speed_px = max(1, width // 270)  # ~4 px per frame at 1080 wide: a calm handheld-speed pan
    textures = [mf._random_texture(height, width + speed_px * per_shot, seed=k) for k in range(3)]

    def frames():
        for i in range(n_frames):
            shot, j = divmod(i, per_shot)
            tex = textures[shot % len(textures)]
            x = j * speed_px
            yield tex[:, x : x + width]

    tmp = path.with_suffix(".tmp.mp4")
    mf._write_av(
        tmp, frames(), fps=fps, width=width, height=height,
        audio=_soundtrack(duration_s, mf.AUDIO_RATE_HZ), preset="veryfast",
    )
    tmp.rename(path)
    return path


SPEECH_SOURCES = (
    "speech/jfk.flac",
    "speech/stereo_diarization.wav",
    *(f"grid_corpus/{n}" for n in ("bbaf2n.mpg", "brbk7n.mpg", "lbax4n.mpg", "lwbsza.mpg", "swiz3n.mpg")),
    "pyscenedetect/issue-195-aspect-ratio.mp4",
    "people/short_hamilton_clip.mp4",
)


def speech_clip(duration_s: float = 60.0, music_bed_db: float | None = None) -> Path:
    """``duration_s`` of real speech (cut at the end), mono 44.1 kHz AAC; with ``music_bed_db`` the
    bench soundtrack runs under it that many dB below the speech peak level."""
    from faster_whisper.audio import decode_audio

    bed = "" if music_bed_db is None else f"_music{int(music_bed_db)}db"
    path = CACHE / f"speech_{int(duration_s)}s{bed}.m4a"
    if path.exists():
        return path
    media = ROOT.parent / "shared" / "media"
    rate_hz = 44100
    parts = [decode_audio(str(media / rel), sampling_rate=rate_hz) for rel in SPEECH_SOURCES]
    speech = np.concatenate(parts)
    n = int(duration_s * rate_hz)
    if speech.size < n:
        raise ValueError(f"only {speech.size / rate_hz:.1f} s of speech in {media}")
    audio = speech[:n] / max(1e-6, float(np.max(np.abs(speech[:n])))) * 0.7
    if music_bed_db is not None:
        music = _soundtrack(duration_s, rate_hz)[:n]
        audio = audio + music / float(np.max(np.abs(music))) * 0.7 * 10 ** (-music_bed_db / 20)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.m4a")
    mf.write_audio(tmp, audio.astype(np.float32), rate_hz)
    tmp.rename(path)
    return path


FACE_TEXT_CAPTIONS = (  # (start_s, end_s, text, y position as a share of the height)
    (0.0, 10.0, "Wait for the end!!", 0.12),
    (10.0, 20.0, "Größte Überraschung für Jürgen", 0.85),
    (20.0, 30.0, "Link in bio: 50% OFF", 0.85),
)


def _overlay(img: np.ndarray, text: str, y_share: float):
    from PIL import Image, ImageDraw, ImageFont

    height, width = img.shape[:2]
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", int(0.055 * width))
    canvas = Image.fromarray(img)
    draw = ImageDraw.Draw(canvas)
    box = draw.textbbox((0, 0), text, font=font, stroke_width=4)
    x = (width - (box[2] - box[0])) // 2
    draw.text((x, int(y_share * height)), text, font=font, fill="white", stroke_width=4, stroke_fill="black")
    return np.asarray(canvas)


def face_text_clip(duration_s: float = 30.0, size: tuple[int, int] = (1080, 1920), fps: float = 30.0) -> Path:
    import av

    width, height = size
    path = CACHE / f"face_text_{int(duration_s)}s_{width}x{height}.mp4"
    if path.exists():
        return path
    source = ROOT.parent / "shared" / "media" / "people" / "short_hamilton_clip.mp4"
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        src_fps = float(stream.average_rate)
        frames = [f.to_ndarray(format="rgb24", width=width, height=round(width * stream.height / stream.width))
                  for f in container.decode(stream)]  # fmt: skip
    from faster_whisper.audio import decode_audio

    audio = decode_audio(str(source), sampling_rate=mf.AUDIO_RATE_HZ)
    audio = np.tile(audio, int(np.ceil(duration_s * mf.AUDIO_RATE_HZ / audio.size)))[: int(duration_s * mf.AUDIO_RATE_HZ)]
    top = (height - frames[0].shape[0]) // 2

    def composed():
        for i in range(int(duration_s * fps)):
            t = i / fps
            img = np.zeros((height, width, 3), np.uint8)
            src = frames[int(t * src_fps) % len(frames)]
            img[top : top + src.shape[0]] = src
            for start_s, end_s, text, y_share in FACE_TEXT_CAPTIONS:
                if start_s <= t < end_s:
                    img = _overlay(img, text, y_share)
            yield img

    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    mf._write_av(tmp, composed(), fps=fps, width=width, height=height, audio=audio.astype(np.float32), preset="veryfast")
    tmp.rename(path)
    return path


if __name__ == "__main__":
    clip = short_clip()
    print(clip, f"{clip.stat().st_size / 1e6:.1f} MB")
