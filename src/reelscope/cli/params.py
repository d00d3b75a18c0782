"""Parsing ``--set analyzer.param=value`` flags into per-analyzer params."""

from __future__ import annotations

import json
from typing import Any

from reelscope.core.errors import InvalidParams


def parse_set_flags(flags: list[str]) -> dict[str, dict[str, Any]]:
    """``["cut_analysis.min_cut_ratio=2.5"]`` -> ``{"cut_analysis": {"min_cut_ratio": 2.5}}``.
    Values are read as JSON when they parse (numbers, true/false, lists), else kept as strings;
    each analyzer's Params model then validates them."""
    params: dict[str, dict[str, Any]] = {}
    for flag in flags:
        key, sep, raw = flag.partition("=")
        analyzer, dot, name = key.strip().partition(".")
        if not sep or not dot or not analyzer or not name:
            raise InvalidParams(f"--set {flag!r}: expected ANALYZER.PARAM=VALUE", fix="e.g. --set camera_analysis.rate_hz=5")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params.setdefault(analyzer, {})[name] = value
    return params
