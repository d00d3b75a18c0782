"""Audio events from YAMNet patch scores: per-class event spans, coarse sound categories (speech,
music, singing, laughter, applause, crowd, silence, noise) and their shares of the clip.

Input is the (patches, 521) sigmoid score matrix of ``yamnet.YamnetModel.scores``: patch k covers
[k*0.48, k*0.48 + 0.96) s. A patch "has" a class (or a category) when its score reaches the
threshold. Output: ``event`` segments (runs of patches holding a class, one dropped patch
bridged), ``speech_prob``/``music_prob`` tracks (category score per patch), and summary shares
(fraction of patches holding a category). Categories are not exclusive: speech over music counts
for both, so shares can sum past 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from reelscope.analyzers.audio.yamnet import PATCH_HOP_S, PATCH_S
from reelscope.core.results import Segment, Track

# Coarse categories by AudioSet display name (as in yamnet_class_map.csv). A category's score in a
# patch is the max over its classes. Speech is the ontology's Speech node and its children;
# singing the Singing node's children plus humming; music is MUSIC_SPAN below.
CATEGORY_CLASSES: dict[str, tuple[str, ...]] = {
    "speech": (
        "Speech",
        "Child speech, kid speaking",
        "Conversation",
        "Narration, monologue",
        "Babbling",
        "Speech synthesizer",
    ),
    "singing": (
        "Singing",
        "Choir",
        "Yodeling",
        "Chant",
        "Mantra",
        "Child singing",
        "Synthetic singing",
        "Rapping",
        "Humming",
    ),
    "laughter": ("Laughter", "Baby laughter", "Giggle", "Snicker", "Belly laugh", "Chuckle, chortle"),
    "applause": ("Applause", "Clapping"),
    "crowd": ("Crowd", "Cheering", "Chatter", "Hubbub, speech noise, speech babble"),
    "silence": ("Silence",),
    "noise": (
        "Noise",
        "Environmental noise",
        "Static",
        "Mains hum",
        "White noise",
        "Pink noise",
        "Wind noise (microphone)",
    ),
}
# Music: the AudioSet Music subtree (instruments, genres, moods), which the class map holds as one
# contiguous block from "Music" to "Scary music" (indices 132..276), less the Bell family: doorbells,
# bicycle bells and notification chimes are everyday signals far more often than music.
MUSIC_SPAN = ("Music", "Scary music")
MUSIC_EXCLUDED = (
    "Bell",
    "Church bell",
    "Jingle bell",
    "Bicycle bell",
    "Tuning fork",
    "Chime",
    "Wind chime",
    "Change ringing (campanology)",
)
CATEGORIES = ("speech", "music", "singing", "laughter", "applause", "crowd", "silence", "noise")


def snake_case(display_name: str) -> str:
    """AudioSet display name -> label: "Child speech, kid speaking" -> "child_speech_kid_speaking"."""
    return re.sub(r"[^a-z0-9]+", "_", display_name.lower().replace("'", "")).strip("_")


def category_indices(class_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Class indices of each coarse category; KeyError names a display name the map lacks."""
    index = {name: i for i, name in enumerate(class_names)}

    def lookup(name: str) -> int:
        if name not in index:
            raise KeyError(f"AudioSet class {name!r} is not in the class map")
        return index[name]

    first, last = (lookup(name) for name in MUSIC_SPAN)
    excluded = {lookup(name) for name in MUSIC_EXCLUDED}
    out = {cat: np.array([lookup(n) for n in names]) for cat, names in CATEGORY_CLASSES.items()}
    out["music"] = np.array([i for i in range(first, last + 1) if i not in excluded])
    return {cat: out[cat] for cat in CATEGORIES}


def patch_runs(active: np.ndarray, max_gap: int = 1) -> list[tuple[int, int]]:
    """Inclusive (first, last) patch index ranges of True runs; runs separated by at most
    ``max_gap`` False patches are one run (a single dropped hop does not split an event)."""
    hits = np.flatnonzero(np.asarray(active, dtype=bool))
    if hits.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(hits) > max_gap + 1)
    firsts = np.concatenate(([hits[0]], hits[breaks + 1]))
    lasts = np.concatenate((hits[breaks], [hits[-1]]))
    return [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True)]


def patch_span_s(first: int, last: int, duration_s: float) -> tuple[float, float]:
    """Time span of patches first..last (inclusive), clipped to the media duration."""
    start_s = min(first * PATCH_HOP_S, duration_s)
    return start_s, min(last * PATCH_HOP_S + PATCH_S, duration_s)


@dataclass(frozen=True)
class EventAnalysis:
    segments: list[Segment]
    tracks: list[Track]
    summary: dict


def analyse_events(
    scores: np.ndarray,
    class_names: tuple[str, ...],
    threshold: float,
    max_classes: int,
    *,
    duration_s: float,
) -> EventAnalysis:
    """Event segments, speech/music probability tracks and the summary entries for one clip.
    Patches starting at or after ``duration_s`` (audio running past the container) are left out."""
    scores = scores[: int(np.count_nonzero(np.arange(scores.shape[0]) * PATCH_HOP_S < duration_s))]
    n = scores.shape[0]
    active = scores >= threshold
    share = active.mean(axis=0) if n else np.zeros(scores.shape[1])
    peak = scores.max(axis=0) if n else np.zeros(scores.shape[1])
    # the classes that reach the threshold anywhere, most present first
    candidates = np.flatnonzero(peak >= threshold)
    ranked = sorted(candidates, key=lambda i: (-share[i], -peak[i], i))[:max_classes]

    segments = []
    for i in ranked:
        for first, last in patch_runs(active[:, i]):
            start_s, end_s = patch_span_s(first, last, duration_s)
            run = scores[first : last + 1, i]
            segments.append(
                Segment(
                    kind="event",
                    start_s=start_s,
                    end_s=end_s,
                    label=snake_case(class_names[i]),
                    score=float(run.mean()),
                    attributes={
                        "class_index": int(i),
                        "display_name": class_names[i],
                        "max_score": round(float(run.max()), 4),
                    },
                )
            )
    segments.sort(key=lambda s: (s.start_s, s.label))

    category_scores = {cat: scores[:, idx].max(axis=1) for cat, idx in category_indices(class_names).items()}
    category_share = {cat: round(float(np.mean(v >= threshold)) if n else 0.0, 4) for cat, v in category_scores.items()}
    best = max(CATEGORIES, key=lambda c: category_share[c])  # ties: the earlier category
    starts = np.arange(n) * PATCH_HOP_S
    # the centre of the audio each patch holds (a padded last patch holds less than 0.96 s)
    times_s = ((starts + np.minimum(starts + PATCH_S, duration_s)) / 2.0).tolist()
    tracks = [
        Track(name=f"{cat}_prob", unit="ratio", times_s=times_s, values=category_scores[cat].tolist())
        for cat in ("speech", "music")
    ]
    summary = {
        "events_model": "yamnet",
        "top_events": [
            {
                "label": snake_case(class_names[i]),
                "share": round(float(share[i]), 4),
                "max_score": round(float(peak[i]), 4),
            }
            for i in ranked
        ],
        "speech_share": category_share["speech"],
        "music_share": category_share["music"],
        "event_silence_share": category_share["silence"],
        "sound_shares": category_share,
        "dominant_sound": best if category_share[best] > 0 else None,
    }
    return EventAnalysis(segments=segments, tracks=tracks, summary=summary)
