"""One settings object, built once at the edge (CLI, server) and passed down.

Values come from arguments, then ``REELSCOPE_*`` environment variables, then defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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

    # -- the API server (`reelscope serve`) --
    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8000, ge=1, le=65535, description="port the API listens on")
    media_roots: list[Path] = Field(
        default_factory=list, description="folders whose files API clients may name by path (JSON list in the env)"
    )
    api_key: SecretStr | None = Field(None, description="when set, every /v1 call and /metrics need it")
    max_concurrent_jobs: int = Field(2, ge=1, description="jobs the server runs at once over its worker pool")
    max_queued_jobs: int = Field(1000, ge=1, description="waiting jobs before POST /v1/jobs answers 429")
    max_job_attempts: int = Field(2, ge=1, description="runs of a job interrupted by a server restart before it fails")
    max_upload_bytes: int = Field(2 * 1024**3, ge=1, description="largest upload accepted (413 above)")
    max_request_bytes: int = Field(1024**2, ge=1024, description="largest JSON request body (413 above)")
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC key for webhook signatures; default: generated once into <data_dir>/webhook_secret"
    )
    webhook_max_attempts: int = Field(6, ge=1, description="deliveries tried per webhook (exponential backoff)")
    webhook_backoff_base_s: float = Field(2.0, gt=0, description="first retry delay; doubles per attempt, with jitter")
    allow_private_urls: bool = Field(False, description="let webhooks and downloads reach loopback/private addresses")

    # -- downloads (`reelscope download`, `analyze URL`, `bulk`, API URL jobs) --
    download_dir: Path | None = Field(None, description="videos/, metadata/, thumbnails/ (default <data_dir>/downloads)")
    download_rate_per_minute: float = Field(
        20.0, gt=0, description="downloads started per minute per site, shared by every process on this data dir"
    )
    download_host_rates: dict[str, float] = Field(
        default_factory=dict, description='per-site overrides, e.g. {"tiktok.com": 10} (JSON in the env)'
    )
    download_attempts: int = Field(4, ge=1, description="tries per video on transient errors (network, 429, 5xx)")
    download_backoff_base_s: float = Field(2.0, gt=0, description="first retry delay; doubles per try, with full jitter")
    download_backoff_max_s: float = Field(120.0, gt=0, description="longest delay between two tries")
    download_timeout_s: float = Field(30.0, gt=0, description="socket timeout for each request")
    download_max_duration_s: float = Field(1800.0, gt=0, description="refuse longer videos before downloading them")
    download_cookies_file: Path | None = Field(None, description="Netscape cookies.txt for logged-in downloads")
    download_proxy: SecretStr | None = Field(None, description="proxy URL for every download request (http, https, socks5)")

    # -- bulk runs and Ray --
    bulk_concurrent_jobs: int = Field(2, ge=1, description="jobs in flight at once in a bulk run (process backend)")
    ray_address: str | None = Field(None, description="Ray cluster to join (ray://host:10001 or host:6379); default: start a local one")
    ray_cpus_per_actor: float = Field(2.0, gt=0, description="CPUs each Ray job actor reserves (its engine's workers)")
    ray_gpus_per_actor: float | None = Field(
        None, ge=0, description="GPUs each Ray job actor reserves; default: a share of the cluster's GPUs when it has any"
    )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "reelscope.sqlite3"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def downloads_dir(self) -> Path:
        return self.download_dir or self.data_dir / "downloads"
