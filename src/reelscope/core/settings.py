"""One settings object, built once at the edge (CLI, server) and passed down.

Values come from arguments, then ``REELSCOPE_*`` environment variables, then defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "reelscope"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELSCOPE_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="SQLite store, reports, work files")
    executor: Literal["process", "inline"] = Field("process", description="process: warm spawn workers; inline: in-process")
    workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, description="worker processes")
    max_tasks_per_worker: int = Field(100, ge=1, description="recycle a worker after this many tasks")
    keep_work_files: bool = Field(False, description="keep decoded frame/audio arrays after a job")
    max_file_size_bytes: int = Field(4 * 1024**3, ge=1, description="refuse larger inputs")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "reelscope.sqlite3"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"
