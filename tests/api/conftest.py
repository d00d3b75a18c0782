"""Building an in-process API (TestClient, lifespan run) over a temporary data dir."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reelscope.analyzers.registry import Registry
from reelscope.core.settings import Settings

with warnings.catch_warnings():  # starlette nags about httpx vs httpx2; the client works the same
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from reelscope.api.app import create_app  # noqa: E402


@pytest.fixture
def media_root(tmp_path: Path, shots_clip) -> Path:
    """A media root holding the shots clip as ``clip.mp4`` and a subfolder."""
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    shutil.copy(shots_clip[0], root / "clip.mp4")
    shutil.copy(shots_clip[0], root / "sub" / "clip2.mp4")
    return root


@pytest.fixture
def make_api(tmp_path: Path, media_root: Path) -> Callable[..., Any]:
    """``with make_api(**settings) as client:`` — an app over a fresh data dir (inline executor and
    the real analyzers unless told otherwise)."""

    @contextmanager
    def build(registry: Registry | None = None, executor=None, **overrides: Any) -> Iterator[TestClient]:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "media_roots": [media_root],
            "executor": "inline",
            "workers": 1,
            "allow_private_urls": True,
        }
        values.update(overrides)
        app = create_app(Settings(**values), registry=registry, executor=executor)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client

    return build
