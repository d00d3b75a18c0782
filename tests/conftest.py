"""Shared fixtures: a per-session folder of synthetic clips and the real media folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SHARED_MEDIA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "media").resolve()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


class ClipFactory:
    """``factory("name.mp4", media_factory.color_shots, fps=24)`` writes the clip once per session
    (keyed by name) and returns the maker's ``(path, truth)``; later calls reuse it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, tuple[Path, Any]] = {}

    def __call__(self, name: str, maker: Callable[..., tuple[Path, Any]], **kwargs: Any) -> tuple[Path, Any]:
        if name not in self._made:
            self._made[name] = maker(self.root / name, **kwargs)
        return self._made[name]


@pytest.fixture(scope="session")
def factory(media_dir: Path) -> ClipFactory:
    return ClipFactory(media_dir)


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not SHARED_MEDIA.is_dir():
        pytest.skip(f"real test media not found at {SHARED_MEDIA}")
    return SHARED_MEDIA



# ---------------------------------------------------------------------------- engine / executors
import sys

# ``tests.fakes`` is imported by name ("tests.fakes:EchoAnalyzer") in spawned worker processes,
# which inherit this process's sys.path: make sure the repository root is on it. Test modules
# import ``media_factory`` directly, which needs this folder on sys.path whether or not pytest
# put it there (it does not once tests/ is a package).
REPO_ROOT = Path(__file__).resolve().parents[1]
for _folder in (REPO_ROOT, Path(__file__).resolve().parent):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


@pytest.fixture(scope="session")
def shots_clip(factory: ClipFactory) -> tuple[Path, Any]:
    """Three colour shots with hard cuts at known times (64x112, 12 fps, 3 s, with a tone track)."""
    import media_factory as mf

    return factory("engine_shots.mp4", mf.color_shots)
