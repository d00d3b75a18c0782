"""The executor the settings ask for: one place that turns ``Settings.executor`` into an object."""

from __future__ import annotations

from reelscope.analyzers.registry import Registry
from reelscope.core.settings import Settings
from reelscope.engine.executors import Executor
from reelscope.engine.executors.inline import InlineExecutor
from reelscope.engine.executors.process import ProcessExecutor


def executor_for(settings: Settings, registry: Registry | None = None) -> Executor:
    """``inline``: in this process; ``process``: warm worker processes logging into the data dir."""
    if settings.executor == "inline":
        return InlineExecutor(registry)
    return ProcessExecutor(settings.workers, settings.max_tasks_per_worker, log_dir=settings.data_dir / "logs", registry=registry)
