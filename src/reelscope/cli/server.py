"""`reelscope serve` (the API on uvicorn) and `reelscope status` (a server's health, queue and
GPUs, as seen through its /health/ready)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from reelscope.cli.params import build_settings

console = Console(stderr=True, soft_wrap=True)
out = Console()


def serve(
    host: Annotated[str | None, typer.Option(help="listen address (default 127.0.0.1; 0.0.0.0 for every interface)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default 8000)")] = None,
    media_root: Annotated[
        list[Path], typer.Option("--media-root", help="folder clients may name files under (repeatable)")
    ] = [],  # noqa: B006
    workers: Annotated[int | None, typer.Option(help="analyzer worker processes (default: CPU count)")] = None,
    max_concurrent_jobs: Annotated[int | None, typer.Option(help="jobs run at once (default 2)")] = None,
    executor: Annotated[str | None, typer.Option(help="process (default) or inline")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="store, reports, uploads (default ~/.local/share/reelscope)")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the HTTP API. The API key, if any, comes from REELSCOPE_API_KEY (never a flag: flags
    show in the process list)."""
    import uvicorn

    from reelscope.api.app import create_app
    roots = [p.expanduser().resolve() for p in media_root] or None
    settings = build_settings(
        host=host, port=port, media_roots=roots, workers=workers, max_concurrent_jobs=max_concurrent_jobs,
        executor=executor, data_dir=data_dir,
    )
    for root in settings.media_roots:
        if not root.is_dir():
            console.print(f"[red]error:[/red] media root {root} is not a folder")
            raise typer.Exit(2)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
        console.print("[yellow]warning:[/yellow] listening beyond this machine without REELSCOPE_API_KEY set")
    console.print(
        f"reelscope API on http://{settings.host}:{settings.port} — data {settings.data_dir}, "
        f"{settings.workers} workers, media roots: {', '.join(map(str, settings.media_roots)) or 'none (uploads only)'}"
    )
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, timeout_graceful_shutdown=30)


def status(
    url: Annotated[str | None, typer.Option(help="server address (default http://REELSCOPE_HOST:REELSCOPE_PORT)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the readiness JSON")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", help="seconds to wait for an answer")] = 10.0,
) -> None:
    """Show a running server's health, queue, workers and GPUs. Exit 0 ready, 1 not ready,
    3 unreachable."""
    settings = build_settings()
    base = (url or f"http://{settings.host}:{settings.port}").rstrip("/")
    headers = {"X-API-Key": settings.api_key.get_secret_value()} if settings.api_key else {}
    try:
        live = httpx.get(f"{base}/health", timeout=timeout_s, headers=headers)
        answer = httpx.get(f"{base}/health/ready", timeout=timeout_s, headers=headers)
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        console.print(f"[red]unreachable:[/red] {base}: {exc}")
        console.print("[dim]fix:[/dim] start it with `reelscope serve`, or pass --url")
        raise typer.Exit(3) from exc
    if as_json:
        out.print_json(data=body)
        raise typer.Exit(0 if body.get("ready") else 1)
    alive = live.json() if live.status_code == 200 else {}
    version, uptime = alive.get("version", "?"), alive.get("uptime_s", 0.0)
    verdict = "[green]ready[/green]" if body.get("ready") else "[red]NOT READY[/red]"
    out.print(f"{base}: {verdict} — reelscope {version}, up {uptime:.0f} s")
    table = Table("check", "result", "detail")
    for name, check in body.get("checks", {}).items():
        detail = check.get("detail") or ", ".join(f"{k}={v}" for k, v in (check.get("data") or {}).items() if not isinstance(v, dict | list))
        table.add_row(name, "[green]ok[/green]" if check.get("ok") else "[red]failing[/red]", detail or "")
    out.print(table)
    queue = body.get("queue", {})
    out.print("queue: " + ", ".join(f"{k} {v}" for k, v in queue.items()))
    gpus = body.get("gpus")
    if gpus is None:
        out.print("GPUs: none (no nvidia-smi)")
    for gpu in gpus or []:
        out.print(
            f"GPU {gpu['index']} {gpu['name']}: {gpu['memory_used_mib']:.0f}/{gpu['memory_total_mib']:.0f} MiB, "
            f"utilisation {gpu['utilization_percent']}%, {gpu['temperature_c']} °C"
        )
    raise typer.Exit(0 if body.get("ready") else 1)



