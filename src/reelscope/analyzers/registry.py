"""The one registry: built-in analyzers listed once, plus plug-ins from the
``reelscope.analyzers`` entry-point group. It answers "which analyzers exist", "can this one run
here" and, when not, "what to install"."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from reelscope.analyzers.base import Analyzer
from reelscope.core.errors import UnknownAnalyzer

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "reelscope.analyzers"

# "module:Class" for every built-in, imported lazily so listing never loads a model.
BUILTINS: dict[str, str] = {
    "cut_analysis": "reelscope.analyzers.visual.cut_analysis:CutAnalysis",
    "camera_analysis": "reelscope.analyzers.visual.camera_analysis:CameraAnalysis",
    "color_analysis": "reelscope.analyzers.visual.color_analysis:ColorAnalysis",
    "content_quality": "reelscope.analyzers.visual.content_quality:ContentQuality",
    "visual_effects": "reelscope.analyzers.visual.visual_effects:VisualEffects",
    "face_analysis": "reelscope.analyzers.visual.face_analysis:FaceAnalysis",
    "body_pose": "reelscope.analyzers.visual.body_pose:BodyPose",
    "hand_gestures": "reelscope.analyzers.visual.hand_gestures:HandGestures",
    "background_segmentation": "reelscope.analyzers.visual.background_segmentation:BackgroundSegmentation",
    "object_detection": "reelscope.analyzers.visual.object_detection:ObjectDetection",
    "text_overlay": "reelscope.analyzers.visual.text_overlay:TextOverlay",
    "audio_analysis": "reelscope.analyzers.audio.audio_analysis:AudioAnalysis",
    "speech_transcription": "reelscope.analyzers.audio.speech_transcription:SpeechTranscription",
    "speech_emotion": "reelscope.analyzers.audio.speech_emotion:SpeechEmotion",
}


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str | None = None
    fix: str | None = None


def _load(target: str) -> type[Analyzer]:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class Registry:
    def __init__(self, targets: dict[str, str]) -> None:
        self._targets = dict(targets)
        self._classes: dict[str, type[Analyzer]] = {}

    @classmethod
    def default(cls) -> Registry:
        targets = dict(BUILTINS)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in targets:
                log.warning("plug-in analyzer %s ignored: the name is taken by a built-in", ep.name)
                continue
            targets[ep.name] = ep.value
        return cls(targets)

    @property
    def targets(self) -> dict[str, str]:
        """``{name: "module:Class"}``: enough to rebuild this registry in another process."""
        return dict(self._targets)

    def names(self) -> list[str]:
        return list(self._targets)

    def target(self, name: str) -> str:
        if name not in self._targets:
            raise UnknownAnalyzer(
                f"unknown analyzer {name!r}", fix="known analyzers: " + ", ".join(self._targets)
            )
        return self._targets[name]

    def get(self, name: str) -> type[Analyzer]:
        if name not in self._classes:
            cls = _load(self.target(name))
            if cls.spec.name != name:
                raise UnknownAnalyzer(f"{self._targets[name]} declares name {cls.spec.name!r}, registered as {name!r}")
            self._classes[name] = cls
        return self._classes[name]

    def availability(self, name: str) -> Availability:
        try:
            cls = self.get(name)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or str(exc)
            return Availability(False, f"cannot import {missing}", f"pip install {missing}")
        for req in cls.spec.requires:
            if importlib.util.find_spec(req.import_name) is None:
                return Availability(False, f"package {req.import_name} is not installed", req.install_hint)
        problem = cls.unavailable_reason()
        if problem:
            return Availability(False, *problem)
        return Availability(True)

    def presets(self) -> dict[str, list[str]]:
        """Named analyzer sets: ``all``, and one per tag an analyzer declares (``visual``,
        ``audio``, ``camera`` ...), so a new analyzer joins its presets by declaring its tags."""
        presets: dict[str, list[str]] = {"all": self.names()}
        for name in self.names():
            try:
                tags = self.get(name).spec.tags
            except ImportError:  # an analyzer that cannot import is in no preset but "all"
                continue
            for tag in tags:
                presets.setdefault(tag, []).append(name)
        return presets

    def preset(self, name: str) -> list[str]:
        presets = self.presets()
        if name not in presets:
            raise UnknownAnalyzer(f"unknown preset {name!r}", fix="known presets: " + ", ".join(sorted(presets)))
        return presets[name]

    def describe(self, name: str) -> dict[str, Any]:
        """Everything a user needs to choose and call ``name``: availability with the fix, version,
        description, tags, what it reads, its deadline and its params JSON schema."""
        availability = self.availability(name)
        row: dict[str, Any] = {"name": name, "available": availability.available, "reason": availability.reason, "fix": availability.fix}
        try:
            spec = self.get(name).spec
        except ImportError:
            return row
        needs = spec.needs
        return row | {
            "version": spec.version,
            "description": spec.description,
            "tags": list(spec.tags),
            "timeout_s": spec.timeout_s,
            "after": list(needs.after),
            "frames": None if needs.frames is None else vars(needs.frames),
            "audio": None if needs.audio is None else vars(needs.audio),
            "params": self.get(name).Params.model_json_schema(),
        }
