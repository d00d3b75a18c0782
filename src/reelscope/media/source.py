"""Turning what a user typed into a local file we are allowed to read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reelscope.core.errors import MediaNotFound, PathNotAllowed, UnsupportedMedia


def resolve_local(path: str | Path, allowed_roots: Sequence[Path] | None = None) -> Path:
    """Resolve ``path`` (symlinks included) and check it is a readable, non-empty regular file
    inside one of ``allowed_roots`` when those are given."""
    resolved = Path(path).expanduser().resolve()
    if allowed_roots is not None:
        roots = [Path(r).expanduser().resolve() for r in allowed_roots]
        if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
            raise PathNotAllowed(
                f"{path} is outside the allowed media roots",
                fix="put the file under one of: " + ", ".join(str(r) for r in roots),
            )
    if not resolved.exists():
        raise MediaNotFound(f"no such file: {path}")
    if not resolved.is_file():
        raise UnsupportedMedia(f"not a regular file: {path}")
    if resolved.stat().st_size == 0:
        raise UnsupportedMedia(f"empty file (0 bytes): {path}")
    return resolved
