"""Benchmark clips, generated once and cached in bench/.cache (never committed).

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


if __name__ == "__main__":
    clip = short_clip()
    print(clip, f"{clip.stat().st_size / 1e6:.1f} MB")
