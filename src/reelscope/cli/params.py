"""From command-line flags to what the engine takes: Settings, and ``--set analyzer.param=value``
flags as per-analyzer params."""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from reelscope.core.errors import InvalidParams, ReelscopeError
from reelscope.core.settings import Settings


def build_settings(**overrides: Any) -> Settings:
    """Flags (None: not given) over ``REELSCOPE_*`` over defaults; a bad value exits 2 with the reason."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        Console(stderr=True).print(f"[red]error:[/red] bad setting: {problems}")
        raise typer.Exit(2) from exc


def exit_for(exc: ReelscopeError) -> typer.Exit:
    """Print ``error: ...`` and ``fix: ...`` on stderr; the Exit carrying the error's own code."""
    console = Console(stderr=True, soft_wrap=True)
    console.print(f"[red]error:[/red] {escape(exc.message)}")
    if exc.fix:
        console.print(f"[dim]fix:[/dim] {escape(exc.fix)}")
    return typer.Exit(exc.exit_code)


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
