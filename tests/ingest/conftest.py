"""Fixtures shared by the download tests: a local media server and a small clip to serve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ingest.http_fixtures import MediaServer


@pytest.fixture
def server() -> Iterator[MediaServer]:
    with MediaServer() as running:
        yield running


@pytest.fixture
def clip(shots_clip: tuple[Path, Any]) -> Path:
    return shots_clip[0]
