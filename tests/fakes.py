"""Fake analyzers for engine and executor tests: each misbehaves (or behaves) in one known way.

They live at module level so spawned workers can import them by ``"tests.fakes:Name"``.
``FAKE_TARGETS`` registers them under their spec names.
"""

from __future__ import annotations

import os
import signal
import time
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from reelscope.analyzers.base import AnalysisContext, Analyzer, MediaView
from reelscope.core.needs import AnalyzerSpec, FrameRequest, Needs, PackageRequirement
from reelscope.core.results import AnalyzerOutput

FAKE_TARGETS: dict[str, str] = {
    "sleepy": "tests.fakes:SleepyAnalyzer",
    "raising": "tests.fakes:RaisingAnalyzer",
    "exiting": "tests.fakes:ExitingAnalyzer",
    "segfault": "tests.fakes:SegfaultAnalyzer",
    "echo": "tests.fakes:EchoAnalyzer",
    "dependent": "tests.fakes:DependentAnalyzer",
    "slow": "tests.fakes:SlowAnalyzer",
}

# not in FAKE_TARGETS: an analyzer the planner settles as unavailable (its package is never installed)
GHOST_TARGET = "tests.fakes:GhostAnalyzer"

SLEEPY_TIMEOUT_S = 1.0


def sleep_past_the_deadline(seconds: float) -> None:
    """A distinctive name, so a timed-out task's stack dump can be recognised."""
    time.sleep(seconds)


class SleepyAnalyzer(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        seconds: float = Field(5.0, ge=0)

    spec = AnalyzerSpec(
        name="sleepy", version="0.1.0", description="sleeps params.seconds", needs=Needs(), timeout_s=SLEEPY_TIMEOUT_S
    )

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        seconds = context.params.seconds  # type: ignore[attr-defined]
        sleep_past_the_deadline(seconds)
        return AnalyzerOutput(summary={"slept_s": seconds})


class RaisingAnalyzer(Analyzer):
    spec = AnalyzerSpec(name="raising", version="0.1.0", description="raises ValueError('boom')", needs=Needs())

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        raise ValueError("boom")


class ExitingAnalyzer(Analyzer):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        code: int = 3

    spec = AnalyzerSpec(name="exiting", version="0.1.0", description="os._exit(params.code)", needs=Needs())

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        os._exit(context.params.code)  # type: ignore[attr-defined]


class SegfaultAnalyzer(Analyzer):
    spec = AnalyzerSpec(name="segfault", version="0.1.0", description="kills itself with SIGSEGV", needs=Needs())

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(5)  # the signal is delivered asynchronously
        raise AssertionError("still alive after SIGSEGV")


class EchoAnalyzer(Analyzer):
    """Reports what it saw and where it ran; ``instances_created`` counts constructions in this
    process, so a warm worker reusing one instance keeps it at 1."""

    instances_created: ClassVar[int] = 0

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        tag: str = "echo"

    spec = AnalyzerSpec(
        name="echo",
        version="0.2.0",
        description="echoes the frame count and its pid",
        needs=Needs(frames=FrameRequest(rate_hz=None, short_side_px=None, pixel_format="gray")),
    )

    def __init__(self) -> None:
        type(self).instances_created += 1
        self.calls = 0

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        self.calls += 1
        frames = view.frames
        return AnalyzerOutput(
            summary={
                "n_frames": 0 if frames is None else len(frames),
                "frame_shape": None if frames is None else list(frames.images.shape[1:]),
                "pid": os.getpid(),
                "instances_created": type(self).instances_created,
                "calls": self.calls,
                "tag": context.params.tag,  # type: ignore[attr-defined]
            }
        )


class DependentAnalyzer(Analyzer):
    spec = AnalyzerSpec(
        name="dependent", version="0.1.0", description="reads echo's output", needs=Needs(after=("echo",))
    )

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        echo = context.outputs.get("echo")
        return AnalyzerOutput(
            summary={
                "inputs": sorted(context.outputs),
                "echo_n_frames": None if echo is None else echo.summary["n_frames"],
                "echo_tag": None if echo is None else echo.summary["tag"],
            }
        )


class SlowAnalyzer(Analyzer):
    """Sleeps ``params.seconds`` well inside its deadline: a job that is still running when a test
    cancels it or kills the server."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        seconds: float = Field(0.2, ge=0, le=60)

    spec = AnalyzerSpec(name="slow", version="0.1.0", description="sleeps params.seconds", needs=Needs(), timeout_s=120)

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        seconds = context.params.seconds  # type: ignore[attr-defined]
        time.sleep(seconds)
        return AnalyzerOutput(summary={"slept_s": seconds, "pid": os.getpid()})


class GhostAnalyzer(Analyzer):
    """Requires a package that is never installed: the planner settles it as unavailable."""

    spec = AnalyzerSpec(
        name="ghost",
        version="0.1.0",
        description="requires a package that is not installed",
        needs=Needs(),
        requires=(PackageRequirement("reelscope_no_such_package", "reelscope-ghost"),),
    )

    def analyze(self, view: MediaView, context: AnalysisContext) -> AnalyzerOutput:
        raise AssertionError("an unavailable analyzer must never run")
