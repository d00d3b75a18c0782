"""What ``reelscope bulk FILE|DIR`` reads: a folder of media, a CSV, or a plain list of URLs/paths.

Every input becomes an ordered, de-duplicated list of ``BulkItem``. Anything with ``://`` is a
URL whatever its scheme, so a hostile ``file://`` or ``ftp://`` line reaches the downloader and is
refused there for that row, instead of being read here as a local path. Local paths are resolved
to absolute paths (relative ones against the list file's folder); missing files are kept so the
run can report them per row.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from reelscope.core.errors import InvalidParams, MediaNotFound

MEDIA_SUFFIXES: frozenset[str] = frozenset(
    {
        ".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".3gp",
        ".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus",
    }
)

# CSV header names (lowercase) that mark the item column, in the order tried when several appear.
ITEM_COLUMNS: tuple[str, ...] = ("url", "link", "path", "file", "source", "video")

_FIX_LIST = "pass a folder of videos, a CSV with a url/path column, or a text file with one URL or path per line"


@dataclass(frozen=True)
class BulkItem:
    """One video to process. ``source`` is a URL as given (stripped) or an absolute local path;
    ``columns`` holds the other CSV cells of its row."""

    position: int
    source: str
    is_url: bool
    columns: dict[str, str] = field(default_factory=dict)


def read_items(path: Path) -> list[BulkItem]:
    """The items of a folder, CSV or list file, in input order, duplicates dropped (first kept)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MediaNotFound(f"bulk input {path} does not exist", fix=_FIX_LIST)
    if path.is_dir():
        raw = [(str(p), {}) for p in _media_in(path.resolve())]
        if not raw:
            raise InvalidParams(
                f"folder {path} holds no media files",
                fix=f"put videos with one of {', '.join(sorted(MEDIA_SUFFIXES))} in it (hidden files are skipped)",
            )
    else:
        text = _read_text(path)
        raw = _csv_items(text) if path.suffix.lower() == ".csv" else [(line, {}) for line in _lines(text)]
        if not raw:
            raise InvalidParams(f"bulk list {path} names no videos", fix=_FIX_LIST)
    return _dedupe(raw, base_dir=path if path.is_dir() else path.parent)


def _media_in(folder: Path) -> list[Path]:
    found = []
    # os.walk without following links: a link loop cannot hang the scan; linked files still count.
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            candidate = Path(root) / name
            if not name.startswith(".") and candidate.suffix.lower() in MEDIA_SUFFIXES and candidate.is_file():
                found.append(candidate)
    # By path components, so a folder's files stay together ("a/b.mp4" before "a.webm").
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidParams(f"cannot read bulk list {path}: {exc.strerror or exc}", fix=_FIX_LIST) from exc
    # Someone passing one video to `bulk` gets pointed at `analyze`.
    fix = f"analyze one video with `reelscope analyze FILE`, or {_FIX_LIST}" if path.suffix.lower() in MEDIA_SUFFIXES else _FIX_LIST
    if b"\x00" in data:
        raise InvalidParams(f"bulk list {path} is a binary file, not a list of videos", fix=fix)
    try:
        return data.decode("utf-8-sig")  # a BOM from Windows editors is dropped
    except UnicodeDecodeError as exc:
        raise InvalidParams(f"bulk list {path} is not UTF-8 text ({exc.reason} at byte {exc.start})", fix=fix) from exc


def _lines(text: str) -> list[str]:
    stripped = (line.strip() for line in text.splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def _csv_items(text: str) -> list[tuple[str, dict[str, str]]]:
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip() for cell in rows[0]]
    lowered = [cell.lower() for cell in header]
    item_column = next((lowered.index(name) for name in ITEM_COLUMNS if name in lowered), None)
    if item_column is None:  # no header: the first cell of every row is the item
        return [(row[0].strip(), {}) for row in rows if row[0].strip()]
    items = []
    for row in rows[1:]:
        cells = [cell.strip() for cell in row] + [""] * (len(header) - len(row))
        if not cells[item_column]:
            continue
        columns = {name: cells[i] for i, name in enumerate(header) if i != item_column and name}
        items.append((cells[item_column], columns))
    return items


def _dedupe(raw: list[tuple[str, dict[str, str]]], base_dir: Path) -> list[BulkItem]:
    items: list[BulkItem] = []
    seen: set[str] = set()
    for entry, columns in raw:
        is_url = "://" in entry
        source = entry if is_url else str((base_dir / Path(entry).expanduser()).resolve())
        if source in seen:
            continue
        seen.add(source)
        items.append(BulkItem(position=len(items), source=source, is_url=is_url, columns=columns))
    return items
