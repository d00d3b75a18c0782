"""What an analyzer asks of the shared decode, and what it needs to run.

The planner merges every analyzer's ``FrameRequest``/``AudioRequest`` into one ``FramePlan`` so the
media is decoded exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PixelFormat = Literal["rgb24", "gray"]


@dataclass(frozen=True)
class FrameRequest:
    """Frames an analyzer wants.

    ``rate_hz=None`` means every decoded frame (full rate); ``short_side_px=None`` means the native
    displayed size. Frames are chosen by presentation time, never by index x nominal fps.
    """

    rate_hz: float | None = None
    short_side_px: int | None = 360
    pixel_format: PixelFormat = "rgb24"
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.rate_hz is not None and self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0 or None, got {self.rate_hz}")
        if self.short_side_px is not None and self.short_side_px < 16:
            raise ValueError(f"short_side_px must be >= 16 or None, got {self.short_side_px}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {self.max_frames}")


@dataclass(frozen=True)
class AudioRequest:
    """Mono float32 audio at ``sample_rate_hz``, resampled once per distinct rate."""

    sample_rate_hz: int = 22050

    def __post_init__(self) -> None:
        if not 1000 <= self.sample_rate_hz <= 192000:
            raise ValueError(f"sample_rate_hz out of range: {self.sample_rate_hz}")


@dataclass(frozen=True)
class Needs:
    """Inputs an analyzer needs. ``after`` names analyzers whose outputs it reads (a later wave)."""

    frames: FrameRequest | None = None
    audio: AudioRequest | None = None
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resources:
    device: Literal["cpu", "gpu"] = "cpu"
    threads: int = 1
    gpu_memory_gb: float = 0.0


@dataclass(frozen=True)
class PackageRequirement:
    """A Python package an analyzer imports, and how to install it when missing."""

    import_name: str
    pip_name: str = ""

    @property
    def install_hint(self) -> str:
        return f"pip install {self.pip_name or self.import_name}"


@dataclass(frozen=True)
class AnalyzerSpec:
    name: str
    version: str
    description: str
    needs: Needs
    resources: Resources = field(default_factory=Resources)
    timeout_s: float = 120.0
    requires: tuple[PackageRequirement, ...] = ()
    tags: tuple[str, ...] = ()
