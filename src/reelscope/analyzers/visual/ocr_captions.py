"""Turn per-frame OCR lines into timed, deduplicated captions.

Per sampled frame the OCR reads lines (text, score, box). Lines stacked closely above each other
with overlapping x-ranges form one block, as a wrapped caption does. Across frames a block
continues a caption when its normalised text is close (difflib ratio) and its box overlaps the
caption's box; the caption then runs from its first to the end of its last sampled frame. Each
caption keeps every reading the OCR gave for it and publishes the best supported one, so a
single misread frame does not change the caption's text.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # normalized [x, y, w, h]

# Lines whose vertical gap is below this many line heights, and whose x-ranges overlap, are the
# wrapped lines of one caption (caption styles use line spacing around 1.1-1.4).
BLOCK_MAX_GAP_LINES = 0.8
# Boxes on one row (vertical overlap above this share of the lower line) are read left to right.
SAME_ROW_OVERLAP = 0.5
# Lines of one caption share a font size: a taller/shorter line beyond this ratio is other text
# (a watermark or credit line under the caption).
MAX_HEIGHT_RATIO = 1.5
# Wrapped lines are centred, left- or right-aligned with each other: one of their centres or edges
# agrees within this share of the frame width.
ALIGN_TOLERANCE = 0.03


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float
    box: Box


@dataclass(frozen=True)
class TextBlock:
    """Lines that belong together on one frame, top to bottom."""

    lines: tuple[str, ...]
    score: float
    box: Box

    @property
    def text(self) -> str:
        return " ".join(self.lines)


@dataclass
class Caption:
    """A text shown over ``[start_s, end_s)``; ``text``/``lines``/``box``/``score`` from its best reading."""

    start_s: float
    end_s: float
    text: str
    lines: tuple[str, ...]
    box: Box
    score: float
    frames_seen: int
    readings: int  # frames the OCR actually read it on (others inherited the last reading)


def normalise(text: str) -> str:
    """NFC (so a decomposed 'ü' equals a composed one), case-folded except ß (casefold makes it
    'ss'), whitespace collapsed. Punctuation is kept: '50% OFF' and '50 OFF' are different."""
    nfc = unicodedata.normalize("NFC", text)
    folded = "".join(ch if ch == "ß" else ch.casefold() for ch in nfc)
    return " ".join(folded.split())


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, normalise(a), normalise(b), autojunk=False).ratio()


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area: 1 when one box lies inside the other."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3])
    return ix * iy / smaller if smaller > 0 else 0.0


def union(boxes: Sequence[Box]) -> Box:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


def _alike(a: Box, b: Box) -> bool:
    """Similar line heights (both boxes hold one line of text)."""
    return max(a[3], b[3]) <= MAX_HEIGHT_RATIO * max(1e-9, min(a[3], b[3]))


def _aligned(a: Box, b: Box) -> bool:
    left = abs(a[0] - b[0])
    centre = abs(a[0] + a[2] / 2 - b[0] - b[2] / 2)
    right = abs(a[0] + a[2] - b[0] - b[2])
    return min(left, centre, right) <= ALIGN_TOLERANCE


def _rows(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Boxes on the same row (a line the detector split at a wide word gap), top to bottom."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda ln: ln.box[1]):
        if rows:
            row_box = union([r.box for r in rows[-1]])
            shared = min(row_box[1] + row_box[3], line.box[1] + line.box[3]) - max(row_box[1], line.box[1])
            if shared > SAME_ROW_OVERLAP * min(row_box[3], line.box[3]) and _alike(row_box, line.box):
                rows[-1].append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda ln: ln.box[0]) for row in rows]


def group_blocks(lines: Sequence[TextLine]) -> list[TextBlock]:
    """Join rows into caption blocks: a row continues the block above it when the gap is small
    and their x-ranges overlap. Block score: mean line score weighted by characters."""
    blocks: list[list[TextLine]] = []  # each row joined into one TextLine first
    for row in _rows(lines):
        merged = TextLine(
            " ".join(ln.text for ln in row),
            sum(ln.score * len(ln.text) for ln in row) / max(1, sum(len(ln.text) for ln in row)),
            union([ln.box for ln in row]),
        )
        if blocks:
            prev = blocks[-1][-1].box
            gap = merged.box[1] - (prev[1] + prev[3])
            x_overlap = min(prev[0] + prev[2], merged.box[0] + merged.box[2]) - max(prev[0], merged.box[0])
            joined = gap < BLOCK_MAX_GAP_LINES * min(prev[3], merged.box[3]) and x_overlap > 0
            if joined and _alike(prev, merged.box) and _aligned(prev, merged.box):
                blocks[-1].append(merged)
                continue
        blocks.append([merged])
    out = []
    for rows in blocks:
        chars = sum(len(r.text) for r in rows)
        out.append(
            TextBlock(
                lines=tuple(r.text for r in rows),
                score=sum(r.score * len(r.text) for r in rows) / max(1, chars),
                box=union([r.box for r in rows]),
            )
        )
    return out


@dataclass
class _Open:
    first_i: int
    last_i: int
    last_text: str
    last_box: Box
    frames_seen: int = 0
    # raw text -> [summed score, readings, lines, box of its best reading, best score]
    votes: dict[str, list] = field(default_factory=dict)

    def add(self, i: int, block: TextBlock, read: bool) -> None:
        self.last_i, self.last_text, self.last_box = i, block.text, block.box
        self.frames_seen += 1
        if not read:
            return
        vote = self.votes.setdefault(block.text, [0.0, 0, block.lines, block.box, -1.0])
        vote[0] += block.score
        vote[1] += 1
        if block.score > vote[4]:
            vote[3], vote[4] = block.box, block.score


def merge_captions(
    frames: Sequence[Sequence[TextBlock]],
    read: Sequence[bool],
    times_s: Sequence[float],
    end_s: float,
    *,
    min_similarity: float = 0.8,
    min_overlap: float = 0.3,
    max_gap_s: float = 0.5,
) -> list[Caption]:
    """Captions from the blocks of each sampled frame (``read[i]``: the OCR ran on frame i,
    otherwise its blocks repeat the last reading and extend captions without voting).
    A caption missing for up to ``max_gap_s`` (an OCR miss on one frame) continues when it returns;
    it ends at the next sampled frame after its last sighting (``end_s`` after the last frame)."""
    done: list[_Open] = []
    active: list[_Open] = []
    for i, blocks in enumerate(frames):
        t_s = float(times_s[i])
        still: list[_Open] = []
        for cap in active:
            # missing since the frame after its last sighting: 0 s on the next frame
            gap_s = t_s - float(times_s[min(cap.last_i + 1, i)])
            (still if gap_s <= max_gap_s + 1e-6 else done).append(cap)
        active = still
        taken: set[int] = set()
        for block in blocks:
            best, best_sim = None, min_similarity
            for k, cap in enumerate(active):
                if k in taken or overlap(block.box, cap.last_box) < min_overlap:
                    continue
                sim = similarity(block.text, cap.last_text)
                if sim >= best_sim:
                    best, best_sim = k, sim
            if best is None:
                active.append(_Open(first_i=i, last_i=i, last_text=block.text, last_box=block.box))
                best = len(active) - 1
            taken.add(best)
            active[best].add(i, block, read[i])
    done.extend(active)
    captions = [_publish(cap, times_s, end_s) for cap in done if cap.votes]
    return sorted(captions, key=lambda c: (c.start_s, c.box[1]))


def _publish(cap: _Open, times_s: Sequence[float], end_s: float) -> Caption:
    # The reading with the most summed confidence: frequent and confident beats a lone outlier.
    text, (total, count, lines, box, _) = max(cap.votes.items(), key=lambda kv: kv[1][0])
    stop_s = float(times_s[cap.last_i + 1]) if cap.last_i + 1 < len(times_s) else end_s
    return Caption(
        start_s=float(times_s[cap.first_i]),
        end_s=max(float(times_s[cap.first_i]), min(stop_s, end_s)),
        text=text,
        lines=tuple(lines),
        box=box,
        score=total / count,
        frames_seen=cap.frames_seen,
        readings=sum(v[1] for v in cap.votes.values()),
    )


def covered_s(captions: Sequence[Caption]) -> float:
    """Seconds with at least one caption on screen (overlapping captions counted once)."""
    total_s, cur_start, cur_end = 0.0, None, None
    for cap in sorted(captions, key=lambda c: c.start_s):
        if cur_end is None or cap.start_s > cur_end:
            if cur_end is not None:
                total_s += cur_end - cur_start
            cur_start, cur_end = cap.start_s, cap.end_s
        else:
            cur_end = max(cur_end, cap.end_s)
    if cur_end is not None:
        total_s += cur_end - cur_start
    return total_s
