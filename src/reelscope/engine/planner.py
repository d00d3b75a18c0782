"""The planner: which analyzers run, with which validated params, in which wave, on which frames.

Analyzers that read other analyzers' outputs (``needs.after``) go in a later wave than those
they read. Analyzers that cannot run here (missing package or model) or have nothing to work on
(no audio track, no video) are settled before anything is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from reelscope.analyzers.registry import Registry
from reelscope.core.errors import InvalidParams, UnknownAnalyzer
from reelscope.core.media_info import MediaInfo
from reelscope.core.needs import Needs
from reelscope.core.results import ErrorInfo, Outcome, OutcomeStatus
from reelscope.media.plan import FramePlan, build_frame_plan


@dataclass(frozen=True)
class PlannedAnalyzer:
    name: str
    version: str
    params: BaseModel
    needs: Needs
    timeout_s: float


@dataclass(frozen=True)
class ExecutionPlan:
    waves: list[list[PlannedAnalyzer]]
    frame_plan: FramePlan
    settled: dict[str, Outcome] = field(default_factory=dict)  # skipped / unavailable up front
    versions: dict[str, str] = field(default_factory=dict)


def resolve_analyzers(registry: Registry, requested: tuple[str, ...] | list[str]) -> list[str]:
    """The analyzers of a request, in dependency-friendly order; empty means every registered one.
    Unknown names raise UnknownAnalyzer; ``after`` dependencies are not added implicitly (an
    analyzer whose input is missing still runs and says so)."""
    names = list(dict.fromkeys(requested)) if requested else registry.names()
    for name in names:
        registry.target(name)  # raises UnknownAnalyzer with the list of known names
    return names


class _Unchecked(BaseModel):
    """Params of an analyzer that cannot be imported here: kept as given, never used."""

    model_config = ConfigDict(extra="allow", frozen=True)


def validate_params(registry: Registry, names: list[str], raw: dict[str, dict[str, Any]]) -> dict[str, BaseModel]:
    unknown = set(raw) - set(names)
    if unknown:
        raise InvalidParams(
            f"params given for analyzers not in this job: {', '.join(sorted(unknown))}",
            fix="add them with -a NAME or drop their params",
        )
    validated: dict[str, BaseModel] = {}
    for name in names:
        try:
            cls = registry.get(name)
        except ImportError:  # cannot load here: plan_job settles it as unavailable with the fix
            validated[name] = _Unchecked(**raw.get(name, {}))
            continue
        try:
            validated[name] = cls.validate_params(raw.get(name))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in exc.errors())
            raise InvalidParams(f"invalid params for {name}: {problems}") from exc
    return validated


def plan_job(registry: Registry, names: list[str], params: dict[str, BaseModel], media: MediaInfo) -> ExecutionPlan:
    settled: dict[str, Outcome] = {}
    runnable: dict[str, PlannedAnalyzer] = {}
    versions: dict[str, str] = {}
    for name in names:
        availability = registry.availability(name)
        if not availability.available:
            versions[name] = "unknown"
            settled[name] = Outcome(
                status=OutcomeStatus.unavailable,
                error=ErrorInfo(type="Unavailable", message=availability.reason or "unavailable", fix=availability.fix),
            )
            continue
        cls = registry.get(name)
        versions[name] = cls.spec.version
        needs = cls.needs(params[name])
        missing = []
        if needs.frames is not None and not media.has_video:
            missing.append("video")
        if needs.audio is not None and not media.has_audio:
            missing.append("audio")
        if missing:
            settled[name] = Outcome(
                status=OutcomeStatus.skipped,
                error=ErrorInfo(type="NothingToAnalyze", message=f"the media has no {' or '.join(missing)} track"),
            )
            continue
        runnable[name] = PlannedAnalyzer(name, cls.spec.version, params[name], needs, cls.spec.timeout_s)
    waves = _waves(runnable)
    frame_plan = build_frame_plan(
        {n: p.needs.frames for n, p in runnable.items() if p.needs.frames},
        {n: p.needs.audio for n, p in runnable.items() if p.needs.audio},
        media,
    )
    return ExecutionPlan(waves=waves, frame_plan=frame_plan, settled=settled, versions=versions)


def _waves(runnable: dict[str, PlannedAnalyzer]) -> list[list[PlannedAnalyzer]]:
    """Wave of an analyzer = 1 + the latest wave of the analyzers it reads (those in this job)."""
    depth: dict[str, int] = {}

    def wave_of(name: str, chain: tuple[str, ...]) -> int:
        if name in chain:
            raise UnknownAnalyzer(f"analyzers depend on each other in a cycle: {' -> '.join(chain + (name,))}")
        if name not in depth:
            deps = [d for d in runnable[name].needs.after if d in runnable]
            depth[name] = 1 + max((wave_of(d, chain + (name,)) for d in deps), default=-1)
        return depth[name]

    for name in runnable:
        wave_of(name, ())
    waves: list[list[PlannedAnalyzer]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name, planned in runnable.items():
        waves[depth[name]].append(planned)
    return waves
