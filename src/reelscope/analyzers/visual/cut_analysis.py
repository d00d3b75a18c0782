"""cut_analysis: shot boundaries (hard cuts, flashes, fades, dissolves, wipes), shots, scenes
(groups of similar consecutive shots), cuts per minute and pacing.

Runs on every decoded frame at low resolution (96 px short side), the stream it shares with
visual_effects and camera_analysis. Detection itself lives in ``shot_detection``.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.analyzers.visual.shot_detection import (
    BLACK_LUMA,
    Transition,
    coarse_histograms,
    detect_transitions,
    hist_distance,
)
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs
from reelscope.core.results import AnalyzerOutput, Segment, Track

# Average shot length (s) under which pacing reads as ...
_PACING = ((1.0, "very_fast"), (2.0, "fast"), (4.0, "moderate"), (float("inf"), "slow"))


class CutAnalysis(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        min_cut_distance: float = Field(0.1, gt=0, le=1, description="min colour-histogram change for a hard cut")
        min_cut_ratio: float = Field(3.0, ge=1, description="a cut's change over the median of its neighbours")
        detect_gradual: bool = Field(True, description="look for dissolves and wipes")
        scene_similarity: float = Field(0.5, gt=0, le=1, description="max histogram distance for shots of one scene")

    spec = AnalyzerSpec(
        name="cut_analysis",
        version="1.0.0",
        description="Shot boundaries with type and span, shots, scenes, cuts per minute, pacing",
        needs=Needs(frames=FrameRequest(rate_hz=None, short_side_px=96, pixel_format="rgb24")),
        timeout_s=120,
        tags=("visual", "structure"),
    )

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        params: CutAnalysis.Params = context.params  # type: ignore[assignment]
        frames = view.frames
        duration_s = view.media.duration_s
        if frames is None or len(frames) == 0:
            return AnalyzerOutput(summary={"frames_analyzed": 0, "shot_count": 0})
        times = np.asarray(frames.times_s)
        sig, transitions = detect_transitions(
            np.asarray(frames.images),
            min_hist_dist=params.min_cut_distance,
            min_ratio=params.min_cut_ratio,
            gradual=params.detect_gradual,
        )
        end_s = max(duration_s, float(times[-1]))
        transition_segments = [_transition_segment(t, times, end_s) for t in transitions]
        shots = _shots(transitions, times, end_s, sig.luma, sig.hist)
        scenes = _scenes(shots, sig.hist, times, params.scene_similarity, end_s)
        lengths = np.array([s.end_s - s.start_s for s in shots])
        boundary_count = len(transitions)
        by_type: dict[str, int] = {}
        for t in transitions:
            by_type[t.label] = by_type.get(t.label, 0) + 1
        asl = float(lengths.mean()) if lengths.size else end_s
        summary = {
            "frames_analyzed": len(frames),
            "shot_count": len(shots),
            "scene_count": len(scenes),
            "hard_cut_count": by_type.get("hard_cut", 0),
            "transition_count": boundary_count,
            "transitions_by_type": by_type,
            "cuts_per_minute": round(boundary_count / end_s * 60.0, 2) if end_s > 0 else 0.0,
            "average_shot_length_s": round(asl, 3),
            "median_shot_length_s": round(float(np.median(lengths)), 3) if lengths.size else None,
            "shortest_shot_s": round(float(lengths.min()), 3) if lengths.size else None,
            "longest_shot_s": round(float(lengths.max()), 3) if lengths.size else None,
            "pacing": next(label for limit, label in _PACING if asl < limit),
            "first_cut_s": transition_segments[0].start_s if transition_segments else None,
        }
        tracks = [
            Track(name="cut_score", unit="histogram_distance", times_s=times.tolist(), values=sig.hist_dist.tolist()),
            Track(name="luma", unit="ratio", times_s=times.tolist(), values=sig.luma.tolist()),
        ]
        return AnalyzerOutput(summary=summary, segments=transition_segments + shots + scenes, tracks=tracks)


def _frame_end_s(index: int, times: np.ndarray, end_s: float) -> float:
    return float(times[index + 1]) if index + 1 < len(times) else end_s


def _transition_segment(t: Transition, times: np.ndarray, end_s: float) -> Segment:
    start_s = float(times[t.start])
    # a hard cut is an instant (the first frame of the new shot); gradual ones span their frames
    stop_s = start_s if t.label == "hard_cut" else _frame_end_s(t.end, times, end_s)
    return Segment(
        kind="transition",
        start_s=start_s,
        end_s=stop_s,
        label=t.label,
        score=round(t.score, 3),
        attributes={"start_frame": t.start, "end_frame": t.end},
    )


def _boundary_frame(t: Transition) -> int:
    """The frame where the next shot begins: the cut frame, or the middle of a gradual span."""
    return t.start if t.label == "hard_cut" else (t.start + t.end + 1) // 2


def _shots(
    transitions: list[Transition], times: np.ndarray, end_s: float, luma: np.ndarray, hist: np.ndarray
) -> list[Segment]:
    starts = [0] + sorted({_boundary_frame(t) for t in transitions if 0 < _boundary_frame(t) < len(times)})
    kinds = {_boundary_frame(t): t.label for t in transitions}
    shots = []
    for i, first in enumerate(starts):
        last = starts[i + 1] - 1 if i + 1 < len(starts) else len(times) - 1
        if last < first:
            continue
        stop_s = float(times[last + 1]) if last + 1 < len(times) else end_s
        mean_luma = float(luma[first : last + 1].mean())
        shots.append(
            Segment(
                kind="shot",
                start_s=float(times[first]),
                end_s=stop_s,
                label="black" if mean_luma < BLACK_LUMA else "shot",
                attributes={
                    "index": len(shots),
                    "start_frame": first,
                    "end_frame": last,
                    "transition_in": kinds.get(first, "start"),
                    "mean_luma": round(mean_luma, 4),
                },
            )
        )
    return shots


def _scenes(shots: list[Segment], hist: np.ndarray, times: np.ndarray, max_distance: float, end_s: float) -> list[Segment]:
    """Consecutive shots whose colour histograms are close to one of the current scene's last
    three shots form a scene (shot / reverse-shot stays one scene)."""
    if not shots:
        return []
    coarse = coarse_histograms(hist)
    means = [coarse[s.attributes["start_frame"] : s.attributes["end_frame"] + 1].mean(axis=0) for s in shots]
    scene_of = [0]  # scene number of each shot
    for i in range(1, len(shots)):
        similar = [j for j in range(max(0, i - 3), i) if float(hist_distance(means[i], means[j])) <= max_distance]
        if similar:
            # back to an earlier shot's look (A B A): everything since that shot is one scene
            first = scene_of[min(similar)]
            scene_of = scene_of[:] if first == scene_of[-1] else [min(n, first) for n in scene_of]
            scene_of.append(first)
        else:
            scene_of.append(scene_of[-1] + 1)
    groups: list[list[int]] = []
    for i, number in enumerate(scene_of):
        if groups and scene_of[groups[-1][0]] == number:
            groups[-1].append(i)
        else:
            groups.append([i])
    return [
        Segment(
            kind="scene",
            start_s=shots[g[0]].start_s,
            end_s=shots[g[-1]].end_s,
            label="scene",
            attributes={"index": n, "shot_indices": g},
        )
        for n, g in enumerate(groups)
    ]
