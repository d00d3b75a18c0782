"""parse_set_flags: ``--set ANALYZER.PARAM=VALUE`` into per-analyzer params."""

from __future__ import annotations

import pytest

from reelscope.cli.params import parse_set_flags
from reelscope.core.errors import InvalidParams


def test_empty():
    assert parse_set_flags([]) == {}


def test_values_are_read_as_json_when_they_parse():
    flags = [
        "cut_analysis.min_cut_ratio=2.5",
        "cut_analysis.detect_gradual=false",
        "camera_analysis.rate_hz=5",
        "color_analysis.palette=[1, 2]",
        "audio_analysis.label=loud",
        'audio_analysis.quoted="3"',
        "audio_analysis.nothing=null",
    ]
    assert parse_set_flags(flags) == {
        "cut_analysis": {"min_cut_ratio": 2.5, "detect_gradual": False},
        "camera_analysis": {"rate_hz": 5},
        "color_analysis": {"palette": [1, 2]},
        "audio_analysis": {"label": "loud", "quoted": "3", "nothing": None},
    }


def test_value_may_contain_equals_and_be_empty():
    assert parse_set_flags(["a.expr=x=1", "a.empty="]) == {"a": {"expr": "x=1", "empty": ""}}


def test_later_flags_win():
    assert parse_set_flags(["a.x=1", "a.x=2"]) == {"a": {"x": 2}}


def test_spaces_around_the_key_are_ignored():
    assert parse_set_flags([" a.x =1"]) == {"a": {"x": 1}}


@pytest.mark.parametrize("flag", ["a.x", "x=1", ".x=1", "a.=1", "=1", ""])
def test_malformed_flags_raise_invalid_params(flag):
    with pytest.raises(InvalidParams) as caught:
        parse_set_flags([flag])
    assert "ANALYZER.PARAM=VALUE" in caught.value.message
    assert caught.value.exit_code == 2 and caught.value.fix
