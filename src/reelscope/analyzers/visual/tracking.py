"""A small IoU multi-object tracker for boxes detected on sampled frames.

Detections of one class are matched to that class's open tracks by the overlap (IoU) of their
boxes with where each track is expected: its last box, and that box moved on by the track's last
velocity (so two objects that cross keep their ids when they part). Matching is optimal
(Hungarian, ``scipy.optimize.linear_sum_assignment``) or greedy (best pairs first). A track not
matched for more than ``max_gap`` consecutive frames ends; a detection left over starts a new
track. Ids are integers from 1 in the order tracks start, never reused.

Frames are counted by their index in the sampled sequence, so ``max_gap`` is in sampled frames.
Boxes are ``[x, y, w, h]`` in any one consistent unit (pixels, or normalized).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = tuple[float, float, float, float]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x, y, w, h]`` boxes (0 when either is empty)."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Observation:
    frame_index: int
    box: Box
    score: float


@dataclass
class ObjectTrack:
    """One object followed over frames: every observation in frame order."""

    track_id: int
    label: str
    observations: list[Observation] = field(default_factory=list)

    @property
    def first_frame(self) -> int:
        return self.observations[0].frame_index

    @property
    def last_frame(self) -> int:
        return self.observations[-1].frame_index

    def predicted(self, frame_index: int) -> Box:
        """The last box moved on at the velocity between the last two observations."""
        last = self.observations[-1]
        if len(self.observations) < 2:
            return last.box
        prev = self.observations[-2]
        span = last.frame_index - prev.frame_index
        ahead = frame_index - last.frame_index
        dx = (last.box[0] + last.box[2] / 2 - prev.box[0] - prev.box[2] / 2) / span * ahead
        dy = (last.box[1] + last.box[3] / 2 - prev.box[1] - prev.box[3] / 2) / span * ahead
        return (last.box[0] + dx, last.box[1] + dy, last.box[2], last.box[3])


class IouTracker:
    """Feed ``update()`` the detections of each frame in order; read ``tracks`` at the end."""

    def __init__(
        self, min_iou: float = 0.3, max_gap: int = 2, method: Literal["hungarian", "greedy"] = "hungarian"
    ) -> None:
        if not 0 < min_iou <= 1:
            raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
        if max_gap < 0:
            raise ValueError(f"max_gap must be >= 0, got {max_gap}")
        self.min_iou = min_iou
        self.max_gap = max_gap
        self.method = method
        self.tracks: list[ObjectTrack] = []
        self._open: list[ObjectTrack] = []
        self._last_frame = -1

    def update(self, frame_index: int, detections: Sequence[tuple[str, Sequence[float], float]]) -> list[int]:
        """Match one frame's ``(label, box, score)`` detections; returns the track id of each."""
        if frame_index <= self._last_frame:
            raise ValueError(f"frames must come in increasing order: {frame_index} after {self._last_frame}")
        self._last_frame = frame_index
        # Tracks unseen for more than max_gap frames can no longer be continued.
        self._open = [t for t in self._open if frame_index - t.last_frame - 1 <= self.max_gap]
        ids = [0] * len(detections)
        for label in sorted({d[0] for d in detections}):
            det_idx = [i for i, d in enumerate(detections) if d[0] == label]
            candidates = [t for t in self._open if t.label == label]
            pairs = self._match(frame_index, candidates, [tuple(map(float, detections[i][1])) for i in det_idx])
            matched = set()
            for track_pos, det_pos in pairs:
                i = det_idx[det_pos]
                candidates[track_pos].observations.append(
                    Observation(frame_index, tuple(map(float, detections[i][1])), float(detections[i][2]))
                )
                ids[i] = candidates[track_pos].track_id
                matched.add(det_pos)
            for det_pos, i in enumerate(det_idx):
                if det_pos in matched:
                    continue
                track = ObjectTrack(len(self.tracks) + 1, label)
                track.observations.append(
                    Observation(frame_index, tuple(map(float, detections[i][1])), float(detections[i][2]))
                )
                self.tracks.append(track)
                self._open.append(track)
                ids[i] = track.track_id
        return ids

    def _match(self, frame_index: int, tracks: list[ObjectTrack], boxes: list[Box]) -> list[tuple[int, int]]:
        """``(track position, box position)`` pairs whose overlap reaches ``min_iou``."""
        if not tracks or not boxes:
            return []
        overlap = np.zeros((len(tracks), len(boxes)))
        for r, track in enumerate(tracks):
            expected = (track.observations[-1].box, track.predicted(frame_index))
            for c, box in enumerate(boxes):
                overlap[r, c] = max(iou(e, box) for e in expected)
        if self.method == "hungarian":
            rows, cols = linear_sum_assignment(overlap, maximize=True)
            pairs = zip(rows.tolist(), cols.tolist(), strict=True)
        else:
            order = np.dstack(np.unravel_index(np.argsort(-overlap, axis=None), overlap.shape))[0]
            used_r: set[int] = set()
            used_c: set[int] = set()
            greedy = []
            for r, c in order.tolist():
                if r not in used_r and c not in used_c:
                    used_r.add(r)
                    used_c.add(c)
                    greedy.append((r, c))
            pairs = iter(greedy)
        return [(r, c) for r, c in pairs if overlap[r, c] >= self.min_iou]
