"""On-screen text (caption overlays, titles, signs) as timed, deduplicated captions.

OCR is RapidOCR (PP-OCRv6 small detector + multilingual recogniser, onnxruntime, one thread),
which reads English and German including umlauts and ß. Frames are read at a 360 px short side:
cheaper than larger ones, and on 16:9 test overlays larger glyphs were misread more often
('Äpfel' as 'Åpfel' at 540 and 720). At ~0.1 s a frame (one thread) OCR is still by far the
most expensive step, so it runs only where the text can have changed: on the first sampled
frame, when a cheap change signal fires, and at least every ``max_interval_s``. Frames in between
inherit the last reading. The change signal works on a small strong-edge map (Sobel on the gray
frame at a 270 px short side):

* persistence: the glyph edges inside each box the last OCR found must still be there (overlays
  are static; a new caption in the same place or a vanished one loses most of them);
* new text: cells dense in strong edges, in horizontal runs as text lines are, that were not
  text-like in the last OCR'd frame. Moving people and scenery rarely produce such runs.

Per-frame lines are grouped into blocks and merged over time by ``ocr_captions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.analyzers.visual.ocr_captions import (
    Caption,
    TextBlock,
    TextLine,
    covered_s,
    group_blocks,
    merge_captions,
    normalise,
)
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs, PackageRequirement
from reelscope.core.results import AnalyzerOutput, Segment, Track
from reelscope.models.files import problem, resolve

MODEL = "rapidocr"
SIGNAL_SHORT_SIDE_PX = 270
# Sobel (3x3) magnitude of a strong edge: a step of ~100 grey levels. Overlay glyphs (white fill,
# dark stroke) reach 4x that; soft natural edges stay below.
STRONG_EDGE = 400.0
CELL_PX = 8
# A cell is text-like when this share of its pixels are strong edges (glyph cells: 0.15-0.5;
# natural frames: 99th percentile 0.2-0.25, but rarely in runs of three along a row).
TEXT_CELL_DENSITY = 0.15
# Text persists when this share of the last reading's glyph edges is still there (same text
# 0.97-1.0, another text in the same place ~0.75, text gone ~0.0; measured on real clips).
PERSIST_MIN = 0.9
MIN_CHARS = 2  # letters/digits a line needs to count (drops "|" and "-" read off edges)


class TextOverlay(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        rate_hz: float = Field(2.0, gt=0, le=10, description="frames sampled per second")
        short_side_px: int = Field(
            360,
            ge=240,
            le=1080,
            description="short side of sampled frames (OCR'd as they are, long side capped at 960)",
        )
        max_interval_s: float = Field(
            2.0, gt=0, description="OCR at least this often even when nothing seems to change"
        )
        new_text_share: float = Field(
            0.012, gt=0, le=1, description="share of frame cells newly text-like that triggers OCR"
        )
        min_score: float = Field(0.7, ge=0, le=1, description="OCR lines below this recognition score are dropped")
        min_similarity: float = Field(
            0.8, ge=0, le=1, description="difflib ratio at which two readings are the same caption"
        )
        max_gap_s: float = Field(
            0.5, ge=0, description="a caption missing (an OCR miss) for up to this long continues when it returns"
        )

    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="text_overlay",
        version="1.0.0",
        description="On-screen text (EN/DE) as timed, deduplicated captions; OCR runs only when the text changes.",
        needs=Needs(frames=FrameRequest(rate_hz=2.0, short_side_px=360, pixel_format="rgb24")),
        timeout_s=600,
        requires=(PackageRequirement("rapidocr", "rapidocr==3.10.0"),),
        tags=("visual", "text"),
    )

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        return Needs(
            frames=FrameRequest(rate_hz=params.rate_hz, short_side_px=params.short_side_px, pixel_format="rgb24")
        )

    @classmethod
    def unavailable_reason(cls) -> tuple[str, str] | None:
        return problem(MODEL)

    def __init__(self) -> None:
        from rapidocr import RapidOCR  # heavy import, only where the analyzer is built

        folder = resolve(MODEL)  # verified against the catalogue's sha256
        # limit_type=max caps the long side at 960 (the default upscales the short side to 736,
        # 3-8x slower); the angle classifier is off because overlays are upright.
        self._ocr = RapidOCR(
            params={
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "Global.use_cls": False,
                "Global.log_level": "error",
                "Det.limit_type": "max",
                "Det.limit_side_len": 960,
                "Det.model_path": str(folder / "PP-OCRv6_det_small.onnx"),
                "Rec.model_path": str(folder / "PP-OCRv6_rec_small.onnx"),
                "Cls.model_path": str(folder / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
            }
        )

    def read_lines(self, rgb: np.ndarray, min_score: float = 0.7) -> list[TextLine]:
        """OCR one RGB frame: lines with score and normalized box."""
        h, w = rgb.shape[:2]
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        result = self._ocr(bgr)
        if result.txts is None or result.boxes is None:
            return []
        lines = []
        for text, score, quad in zip(result.txts, result.scores, result.boxes, strict=True):
            text = " ".join(str(text).split())
            if float(score) < min_score or sum(ch.isalnum() for ch in text) < MIN_CHARS:
                continue
            pts = np.asarray(quad, dtype=np.float64)
            x0, y0 = max(0.0, float(pts[:, 0].min())), max(0.0, float(pts[:, 1].min()))
            x1, y1 = min(float(w), float(pts[:, 0].max())), min(float(h), float(pts[:, 1].max()))
            lines.append(TextLine(text, float(score), (x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h)))
        return lines

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        p = context.params
        frames = view.frames
        n = 0 if frames is None else len(frames)
        if frames is None or n == 0:
            return AnalyzerOutput(summary=_summary([], 0, 0, 0.0))
        times_s = np.asarray(frames.times_s, dtype=np.float64)
        period_s = float(np.median(np.diff(times_s))) if n > 1 else 1.0 / p.rate_hz
        duration_s = float(view.media.duration_s) if view.media.duration_s > 0 else float(times_s[-1]) + period_s
        end_s = min(duration_s, float(times_s[-1]) + period_s)

        per_frame: list[list[TextBlock]] = []
        read: list[bool] = []
        ref: _Reference | None = None
        blocks: list[TextBlock] = []
        for i in range(n):
            image = frames.images[i]
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
            edges = _strong_edges(image)
            due = ref is None or times_s[i] - ref.time_s >= p.max_interval_s - 1e-6
            if due or _text_changed(ref, edges, p.new_text_share):
                blocks = group_blocks(self.read_lines(image, p.min_score))
                ref = _Reference(float(times_s[i]), edges, _text_cells(edges), [b.box for b in blocks])
                read.append(True)
            else:
                read.append(False)
            per_frame.append(blocks)

        captions = merge_captions(
            per_frame, read, times_s.tolist(), end_s,
            min_similarity=p.min_similarity, max_gap_s=p.max_gap_s,
        )  # fmt: skip
        segments = [_segment(c) for c in captions]
        tracks = [
            Track(
                name="text_lines",
                unit="count",
                times_s=times_s.tolist(),
                values=[float(sum(len(b.lines) for b in fb)) for fb in per_frame],
            )
        ]
        summary = _summary(captions, n, sum(read), duration_s)
        return AnalyzerOutput(summary=summary, segments=segments, tracks=tracks)

    def close(self) -> None:
        self._ocr = None


@dataclass(frozen=True)
class _Reference:
    """The last OCR'd frame as the change signal sees it."""

    time_s: float
    edges: np.ndarray  # bool strong-edge map
    text_cells: np.ndarray  # bool text-like cells
    boxes: list[tuple[float, float, float, float]]


def _strong_edges(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = SIGNAL_SHORT_SIDE_PX / min(h, w)
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy) > STRONG_EDGE


def _text_cells(edges: np.ndarray) -> np.ndarray:
    """Cells dense in strong edges that sit in a horizontal run of at least three."""
    h, w = edges.shape
    h, w = h - h % CELL_PX, w - w % CELL_PX
    density = edges[:h, :w].reshape(h // CELL_PX, CELL_PX, w // CELL_PX, CELL_PX).mean(axis=(1, 3))
    dense = (density >= TEXT_CELL_DENSITY).astype(np.uint8)
    return cv2.morphologyEx(dense, cv2.MORPH_OPEN, np.ones((1, 3), np.uint8)) > 0


def _text_changed(ref: _Reference, edges: np.ndarray, new_text_share: float) -> bool:
    h, w = edges.shape
    near = cv2.dilate(edges.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # 1 px of jitter/scaling
    for x, y, bw, bh in ref.boxes:
        rows = slice(int(y * h), int(np.ceil((y + bh) * h)))
        cols = slice(int(x * w), int(np.ceil((x + bw) * w)))
        glyphs = ref.edges[rows, cols]
        if glyphs.sum() >= 10 and float(near[rows, cols][glyphs].mean()) < PERSIST_MIN:
            return True
    cells = _text_cells(edges)
    known = cv2.dilate(ref.text_cells.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return float((cells & ~known).mean()) >= new_text_share


def _segment(c: Caption) -> Segment:
    attributes = {
        "text": c.text,
        "box": [round(v, 4) for v in c.box],
        "frames_seen": c.frames_seen,
        "ocr_readings": c.readings,
    }
    if len(c.lines) > 1:
        attributes["lines"] = list(c.lines)
    return Segment(
        kind="caption", start_s=c.start_s, end_s=c.end_s, label="text", score=round(min(1.0, c.score), 4),
        attributes=attributes,
    )  # fmt: skip


def _summary(captions: list[Caption], frames_sampled: int, ocr_frames: int, duration_s: float) -> dict:
    unique: list[str] = []
    seen: set[str] = set()
    for c in captions:  # already in time order
        key = normalise(c.text)
        if key not in seen:
            seen.add(key)
            unique.append(c.text)
    return {
        "caption_count": len(captions),
        "text_on_screen_share": round(min(1.0, covered_s(captions) / duration_s), 4) if duration_s > 0 else 0.0,
        "frames_sampled": frames_sampled,
        "ocr_frames": ocr_frames,
        "all_text": "\n".join(unique),
    }
