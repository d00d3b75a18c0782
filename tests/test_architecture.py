"""Architecture rules: the import contracts in pyproject.toml hold, and no module grows too big."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 600


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        found = shutil.which("lint-imports")
        if found is None:
            pytest.fail("lint-imports is not installed: pip install import-linter")
        lint_imports = Path(found)
    result = subprocess.run(
        [str(lint_imports), "--config", str(REPO / "pyproject.toml")],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "layers point down KEPT" in result.stdout


def test_no_module_is_too_long():
    too_long = {}
    for path in sorted((REPO / "src").rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            too_long[str(path.relative_to(REPO))] = lines
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_repository_tracks_no_environments_media_or_large_files() -> None:
    """Virtual environments, build output, media and model files never enter the repository."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    forbidden = [
        f for f in tracked
        if f.startswith((".venv/", "build/", "dist/")) or ".egg-info/" in f
        or f.endswith((".mp4", ".mkv", ".mov", ".wav", ".flac", ".mp3", ".onnx", ".tflite", ".bin", ".pt"))
    ]
    assert forbidden == []
    large = [f for f in tracked if (root / f).is_file() and (root / f).stat().st_size > 1_000_000]
    assert large == []
