"""Module-level setup and work functions that the Ray tests ship to actors.

Actors import them by name (``tests.engine.ray_work``), which is why they live in a module of
their own rather than inside the test file; ``connect(import_paths=[repo root])`` makes the
module importable in Ray's worker processes.

Items for ``work``: an int n gives a pure result (the same in any process); the strings
``"raise:MSG"`` (a ReelscopeError), ``"value-error"`` (any other exception), ``"exit:PATH"``
(note a line in PATH, then kill the process) and ``"sleep:SECONDS:PATH"`` (note the pid in PATH,
then sleep) make the actor misbehave.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from reelscope.core.errors import ModelUnavailable, VideoPrivate

_setups_in_this_process = 0


def setup(tag: str) -> dict[str, Any]:
    global _setups_in_this_process
    _setups_in_this_process += 1
    return {"tag": tag, "pid": os.getpid(), "setup_number": _setups_in_this_process}


def work(context: dict[str, Any], item: Any) -> Any:
    if isinstance(item, int):
        return {"item": item, "square": item * item, "tag": context["tag"]}
    kind, _, rest = item.partition(":")
    if kind == "raise":
        raise VideoPrivate(rest, fix="log in")
    if kind == "value-error":
        raise ValueError("boom")
    if kind == "exit":
        with open(rest, "a") as notes:
            notes.write(f"{os.getpid()}\n")
        os._exit(1)
    if kind == "sleep":
        seconds, _, path = rest.partition(":")
        Path(path).write_text(str(os.getpid()))
        time.sleep(float(seconds))
        return "slept"
    raise AssertionError(f"unknown test item {item!r}")


def whoami(context: dict[str, Any], item: Any) -> dict[str, Any]:
    """Where and how the item ran: the actor's pid, its setup, and the GPUs Ray gave it."""
    import ray

    return {
        "item": item,
        "pid": os.getpid(),
        "setup_pid": context["pid"],
        "setup_number": context["setup_number"],
        "gpu_ids": [str(gpu) for gpu in ray.get_gpu_ids()],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def broken_setup(tag: str) -> None:
    raise ModelUnavailable(f"no model for {tag}", fix="reelscope models fetch")


def setup_failing_once(marker_dir: str) -> dict[str, Any]:
    """The first actor to get here fails (as a broken node would); the others set up normally."""
    try:
        os.close(os.open(Path(marker_dir) / "failed-once", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return setup("second")
    raise ModelUnavailable("this node has no model", fix="reelscope models fetch")
