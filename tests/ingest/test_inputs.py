"""Bulk inputs: folders, CSVs and list files become ordered, de-duplicated items; bad inputs say why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reelscope.core.errors import InputError, InvalidParams, MediaNotFound
from reelscope.ingest.inputs import MEDIA_SUFFIXES, BulkItem, read_items


def touch(path: Path, data: bytes = b"\x00\x00\x00\x18ftypmp42") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# -- folders ----------------------------------------------------------------------------------
def test_a_folder_lists_its_media_recursively_sorted_by_relative_path(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    for name in ["b.mp4", "a/z.MOV", "a.webm", "a/b/c.wav", "notes.txt", "cover.jpg", ".hidden.mp4",
                 ".cache/d.mp4", "a/.thumbs/e.mp4", "sub dir/f.mkv"]:
        touch(root / name)
    os.symlink(root / "a", root / "a" / "b" / "loop")  # a link loop must not hang the scan
    items = read_items(root)
    assert [Path(i.source).relative_to(root.resolve()).as_posix() for i in items] == [
        "a/b/c.wav", "a/z.MOV", "a.webm", "b.mp4", "sub dir/f.mkv",
    ]
    assert [i.position for i in items] == [0, 1, 2, 3, 4]
    assert all(not i.is_url and Path(i.source).is_absolute() and i.columns == {} for i in items)


def test_a_relative_folder_gives_absolute_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path / "clips" / "one.mp4")
    monkeypatch.chdir(tmp_path)
    assert read_items(Path("clips")) == [BulkItem(0, str(tmp_path.resolve() / "clips" / "one.mp4"), False, {})]


def test_a_folder_without_media_is_refused_with_a_fix(tmp_path: Path) -> None:
    touch(tmp_path / "readme.txt", b"hi")
    touch(tmp_path / ".secret.mp4")
    with pytest.raises(InvalidParams, match="no media files") as caught:
        read_items(tmp_path)
    assert isinstance(caught.value, InputError) and ".mp4" in caught.value.fix


def test_the_suffix_table() -> None:
    assert {".mp4", ".mov", ".webm", ".ts", ".3gp", ".opus", ".flac"} <= MEDIA_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in MEDIA_SUFFIXES) and len(MEDIA_SUFFIXES) == 18


# -- list files -------------------------------------------------------------------------------
def test_a_list_file_with_bom_crlf_comments_urls_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    touch(lists / "local.mp4")
    elsewhere = touch(tmp_path / "other" / "abs.mov")
    text = (
        "\ufeff# my videos\r\n"
        "  https://www.tiktok.com/@a/video/1  \r\n"
        "\r\n"
        "local.mp4\r\n"
        f"{elsewhere}\r\n"
        "missing/gone.mp4\r\n"
        "file:///etc/passwd\r\n"
        "ftp://example.com/x.mp4\r\n"
        "https://www.tiktok.com/@a/video/1\r\n"   # a duplicate URL
        "./local.mp4\r\n"                         # the same file spelled differently
        "   # an indented comment\r\n"
    )
    listing = write(lists / "urls.txt", text)
    monkeypatch.chdir(tmp_path / "other")  # relative paths follow the list file, not the cwd
    items = read_items(listing)
    assert [(i.position, i.source, i.is_url) for i in items] == [
        (0, "https://www.tiktok.com/@a/video/1", True),
        (1, str((lists / "local.mp4").resolve()), False),
        (2, str(elsewhere.resolve()), False),
        (3, str((lists / "missing" / "gone.mp4").resolve()), False),
        (4, "file:///etc/passwd", True),
        (5, "ftp://example.com/x.mp4", True),
    ]


def test_a_list_of_only_comments_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParams, match="names no videos"):
        read_items(write(tmp_path / "empty.txt", "# nothing yet\n\n   \n"))
    with pytest.raises(InvalidParams, match="names no videos"):
        read_items(write(tmp_path / "zero.txt", ""))


def test_a_missing_input_is_media_not_found(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFound, match="does not exist") as caught:
        read_items(tmp_path / "nope.txt")
    assert caught.value.fix


def test_binary_and_undecodable_lists_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParams, match="binary") as video:
        read_items(touch(tmp_path / "clip.mp4"))
    assert "reelscope analyze" in video.value.fix
    with pytest.raises(InvalidParams, match="binary") as blob:
        read_items(touch(tmp_path / "list.bin", b"https://a.example/1\n\x00\x01"))
    assert "reelscope analyze" not in blob.value.fix
    with pytest.raises(InvalidParams, match="not UTF-8"):
        read_items(write(tmp_path / "latin1.txt", "/videos/café.mp4\n", encoding="latin-1"))


def test_an_unreadable_list_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = write(tmp_path / "locked.txt", "https://a.example/1\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # root ignores chmod 000, so fake the refusal
    with pytest.raises(InvalidParams, match="Permission denied"):
        read_items(listing)


# -- CSV --------------------------------------------------------------------------------------
def test_a_csv_with_a_url_header_keeps_the_other_columns(tmp_path: Path) -> None:
    text = (
        "Campaign,URL,Notes\n"
        'spring,https://www.tiktok.com/@a/video/1,"funny, short"\n'
        "\n"
        "summer,https://www.tiktok.com/@b/video/2\n"            # short row: the missing cell is ""
        "autumn,  \n"                                           # no item: skipped
        "winter,https://www.tiktok.com/@a/video/1,again\n"      # duplicate: the first row is kept
        'multi,clips/x.mp4,"line one\nline two"\n'
    )
    items = read_items(write(tmp_path / "campaign.CSV", text))
    assert items == [
        BulkItem(0, "https://www.tiktok.com/@a/video/1", True, {"Campaign": "spring", "Notes": "funny, short"}),
        BulkItem(1, "https://www.tiktok.com/@b/video/2", True, {"Campaign": "summer", "Notes": ""}),
        BulkItem(2, str((tmp_path / "clips" / "x.mp4").resolve()), False, {"Campaign": "multi", "Notes": "line one\nline two"}),
    ]


@pytest.mark.parametrize("header", ["link", "PATH", "File", "source", "video"])
def test_every_item_header_name_is_recognised(tmp_path: Path, header: str) -> None:
    items = read_items(write(tmp_path / "in.csv", f"id,{header}\n7,https://x.example/v\n"))
    assert items == [BulkItem(0, "https://x.example/v", True, {"id": "7"})]


def test_url_wins_over_path_when_both_columns_exist(tmp_path: Path) -> None:
    items = read_items(write(tmp_path / "in.csv", "path,url\n/tmp/a.mp4,https://x.example/v\n"))
    assert items == [BulkItem(0, "https://x.example/v", True, {"path": "/tmp/a.mp4"})]


def test_a_csv_without_a_known_header_uses_the_first_cell_of_every_row(tmp_path: Path) -> None:
    text = "\ufeffhttps://a.example/1,spring\r\nclip.mp4,summer\r\n,orphan\r\nhttps://a.example/1,dup\r\n"
    items = read_items(write(tmp_path / "plain.csv", text))
    assert items == [
        BulkItem(0, "https://a.example/1", True, {}),
        BulkItem(1, str((tmp_path / "clip.mp4").resolve()), False, {}),
    ]


def test_a_csv_with_only_a_header_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParams, match="names no videos"):
        read_items(write(tmp_path / "in.csv", "url,campaign\n\n"))
