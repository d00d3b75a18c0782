"""Test frames for OCR: caption overlays with known text rendered onto real video frames.

Overlays look like short-form video captions: white bold DejaVu Sans with a black stroke, the font
size a fraction of the frame width (5.5 % by default), wrapped to fit 90 % of the width and
centred. Backgrounds are frames decoded from the clips under ``shared/media`` and cover-cropped
to the target size, so the text sits on real, moving content (a speaker, a film scene).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
PORTRAIT = (720, 1280)  # (width, height), 9:16
LANDSCAPE = (1280, 720)  # 16:9

LINES = (
    "Größte Überraschung für Jürgen",
    "Heute: Äpfel & Öl kaufen",
    "Wait for the end!!",
    "Link in bio: 50% OFF",
    "Straße schließt um 18 Uhr",
)


@dataclass(frozen=True)
class Overlay:
    """Where the rendered text landed: ``lines`` as wrapped, ``box`` normalized ``[x, y, w, h]``."""

    lines: tuple[str, ...]
    box: tuple[float, float, float, float]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def decode_frames(path: Path, times_s: Sequence[float]) -> list[np.ndarray]:
    """RGB frames of ``path`` at (the first frame at or after) each time, in one pass."""
    wanted = sorted(times_s)
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t_s = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
            while wanted and t_s + 1e-6 >= wanted[0]:
                out.append(frame.to_ndarray(format="rgb24"))
                wanted.pop(0)
            if not wanted:
                break
    if wanted:
        raise ValueError(f"{path} ends before {wanted[0]} s")
    return out


def cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to cover ``size`` (width, height) and centre-cropped to it."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    resized = cv2.resize(image, (max(w, round(iw * scale)), max(h, round(ih * scale))), interpolation=cv2.INTER_CUBIC)
    y0 = (resized.shape[0] - h) // 2
    x0 = (resized.shape[1] - w) // 2
    return np.ascontiguousarray(resized[y0 : y0 + h, x0 : x0 + w])


def backgrounds(path: Path, times_s: Sequence[float], size: tuple[int, int]) -> list[np.ndarray]:
    return [cover(img, size) for img in decode_frames(path, times_s)]


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width_px: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= max_width_px:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def draw_caption(
    background: np.ndarray, text: str, *, font_frac: float = 0.055, y_frac: float = 0.7
) -> tuple[np.ndarray, Overlay]:
    """``text`` wrapped and centred with its block's top at ``y_frac`` of the height; returns
    the new RGB frame and where the text went."""
    h, w = background.shape[:2]
    size_px = max(8, round(font_frac * w))
    font = ImageFont.truetype(str(FONT_PATH), size_px)
    stroke_px = max(1, round(size_px / 12))
    lines = _wrap(text, font, 0.9 * w)
    img = Image.fromarray(background)
    draw = ImageDraw.Draw(img)
    line_h = round(1.25 * size_px)
    y = round(y_frac * h)
    x0, y0, x1, y1 = w, h, 0, 0
    for line in lines:
        left, top, right, bottom = draw.textbbox((0, 0), line, font=font, stroke_width=stroke_px)
        x = (w - (right - left)) // 2
        draw.text((x, y), line, font=font, fill="white", stroke_width=stroke_px, stroke_fill="black")
        x0, y0 = min(x0, x + left), min(y0, y + top)
        x1, y1 = max(x1, x + right), max(y1, y + bottom)
        y += line_h
    box = (x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h)
    return np.asarray(img), Overlay(tuple(lines), box)


def downscale(image: np.ndarray, short_side_px: int) -> np.ndarray:
    """What the shared decode hands an analyzer asking for ``short_side_px``."""
    h, w = image.shape[:2]
    scale = short_side_px / min(h, w)
    if scale >= 1:
        return image
    size = (round(w * scale / 2) * 2, round(h * scale / 2) * 2)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
