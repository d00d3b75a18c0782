"""The contract every registered analyzer keeps: a valid spec, strict params, and a run on a
short real clip (decoded by the shared decode) that ends ok within its timeout with outputs that
follow the conventions (times inside the media, snake_case labels, 0..1 scores, JSON)."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

import media_factory as mf
from reelscope.analyzers.base import Analyzer
from reelscope.analyzers.registry import Registry
from reelscope.core.results import OutcomeStatus
from reelscope.engine.executors.inline import InlineExecutor
from reelscope.engine.planner import plan_job, validate_params
from reelscope.engine.task import AnalyzerTask
from reelscope.media.decode import decode
from reelscope.media.probe import probe

REGISTRY = Registry.default()
NAMES = REGISTRY.names()
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


@pytest.fixture(scope="module")
def clip(factory) -> Path:
    """2.5 s, 160x284 at 24 fps, three shots with cuts, a tone that changes with each shot."""
    shots = [((200, 40, 40), 20), ((40, 180, 60), 20), ((50, 60, 210), 20)]
    path, _ = factory("contract.mp4", mf.color_shots, shots=shots, fps=24.0, size=(160, 284))
    return path


def test_builtins_are_all_registered() -> None:
    expected = {"cut_analysis", "camera_analysis", "color_analysis", "content_quality", "visual_effects", "audio_analysis"}
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_valid(name: str) -> None:
    cls: type[Analyzer] = REGISTRY.get(name)
    spec = cls.spec
    assert spec.name == name and SNAKE.match(name)
    assert SEMVER.match(spec.version)
    assert spec.description and spec.timeout_s > 0
    needs = cls.needs(cls.validate_params({}))
    assert needs.frames is not None or needs.audio is not None or needs.after
    assert all(dep in NAMES for dep in needs.after)
    assert REGISTRY.availability(name).available, REGISTRY.availability(name)


@pytest.mark.parametrize("name", NAMES)
def test_params_are_strict_and_have_a_schema(name: str) -> None:
    cls = REGISTRY.get(name)
    with pytest.raises(ValidationError):
        cls.validate_params({"no_such_param": 1})
    schema = cls.Params.model_json_schema()
    assert schema["type"] == "object"
    defaults = cls.validate_params({})
    assert cls.validate_params(defaults.model_dump()) == defaults


@pytest.mark.parametrize("name", NAMES)
def test_runs_on_a_short_clip_within_conventions(name: str, clip: Path) -> None:
    cls = REGISTRY.get(name)
    info = probe(clip)
    deps = list(cls.needs(cls.validate_params({})).after)
    names = deps + [name]
    params = validate_params(REGISTRY, names, {})
    plan = plan_job(REGISTRY, names, params, info)
    bundle = decode(info, plan.frame_plan, Path(tempfile.mkdtemp()))
    executor = InlineExecutor(REGISTRY)
    outputs = {}
    for wave in plan.waves:
        tasks = [
            AnalyzerTask(
                p.name, p.params.model_dump(mode="json"), bundle, p.timeout_s,
                plan.frame_plan.frames_for.get(p.name), plan.frame_plan.audio_for.get(p.name),
                {d: outputs[d] for d in p.needs.after if d in outputs},
            )
            for p in wave
        ]
        started = time.perf_counter()
        outcomes = executor.run(tasks, lambda e: None)
        for task_name, outcome in outcomes.items():
            assert outcome.status == OutcomeStatus.ok, outcome.error
            outputs[task_name] = outcome.output
        assert time.perf_counter() - started < cls.spec.timeout_s
    output = outputs[name]
    end = info.duration_s + 1e-3
    for segment in output.segments:
        assert 0 <= segment.start_s <= segment.end_s <= end, segment
        assert SNAKE.match(segment.label) and SNAKE.match(segment.kind), segment
    for track in output.tracks:
        assert all(0 <= t <= end for t in track.times_s), track.name
        assert track.times_s == sorted(track.times_s), track.name
    json.loads(output.model_dump_json())  # serializable, no NaN
    assert output.summary, "an analyzer that ran must summarise what it found"
