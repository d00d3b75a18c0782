"""The Analyzer protocol: a spec, a Params model, a constructor that loads models once,
``analyze(view, context)`` and ``close()``.

Analyzers receive arrays with timestamps (``MediaView``); they never open, seek or decode media.
An analyzer that wants another rate or size changes its ``FrameRequest`` (in ``needs()``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from reelscope.core.media_info import MediaInfo
from reelscope.core.needs import AnalyzerSpec, Needs
from reelscope.core.results import AnalyzerOutput
from reelscope.media.bundle import AudioClip, FrameSet


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class MediaView:
    """What one analyzer sees of the decoded media: its frames and audio, as it asked for them.
    ``frames`` is None for media without video; ``audio`` is None for media without audio."""

    media: MediaInfo
    frames: FrameSet | None = None
    audio: AudioClip | None = None


@dataclass(frozen=True)
class AnalysisContext:
    """Per-task inputs: validated params, and the outputs of the analyzers named in ``after``
    (read-only; an ``after`` analyzer that did not end ``ok`` is absent)."""

    params: BaseModel
    outputs: Mapping[str, AnalyzerOutput] = field(default_factory=dict)
    job_id: str = ""


class Analyzer(ABC):
    """Subclass, set ``spec`` and (if it takes any) a nested ``Params`` pydantic model, implement
    ``analyze``. Load models in ``__init__``: one instance serves many jobs in a warm worker."""

    spec: ClassVar[AnalyzerSpec]
    Params: ClassVar[type[BaseModel]] = NoParams

    @classmethod
    def needs(cls, params: BaseModel) -> Needs:
        """What to decode for this run. Override when a param changes the sampling."""
        return cls.spec.needs

    @classmethod
    def validate_params(cls, raw: Mapping[str, Any] | None) -> BaseModel:
        return cls.Params.model_validate(dict(raw or {}))

    @classmethod
    def unavailable_reason(cls) -> tuple[str, str] | None:
        """``(reason, fix)`` when this analyzer cannot run here (a missing model file ...), else
        None. Package requirements in ``spec.requires`` are checked by the registry."""
        return None

    @abstractmethod
    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput: ...

    def close(self) -> None:
        """Free models and other resources."""
