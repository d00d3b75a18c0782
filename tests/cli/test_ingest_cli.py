"""`reelscope download`, `reelscope analyze URL` and `reelscope bulk` from the command line: what
they print, what they write, and their exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.ingest.http_fixtures import MediaServer
from typer.testing import CliRunner

from reelscope.cli.main import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("REELSCOPE_DATA_DIR", str(folder))
    monkeypatch.setenv("REELSCOPE_EXECUTOR", "inline")
    monkeypatch.setenv("REELSCOPE_DOWNLOAD_ATTEMPTS", "1")
    monkeypatch.delenv("REELSCOPE_ALLOW_PRIVATE_URLS", raising=False)
    return folder


def test_download_writes_the_layout_and_answers_a_repeat_from_disk(data_dir, shots_clip, monkeypatch):
    monkeypatch.setenv("REELSCOPE_ALLOW_PRIVATE_URLS", "true")
    with MediaServer() as server:
        url = server.add_file("/v/clip.mp4", shots_clip[0])
        first = invoke("download", url, "--json")
        assert first.exit_code == 0, first.output
        result = json.loads(first.stdout)
        assert result["ok"] and not result["cached"]
        video = Path(result["path"])
        assert video.parent == data_dir / "downloads" / "videos"
        assert video.read_bytes() == shots_clip[0].read_bytes()
        assert json.loads(Path(result["metadata_path"]).read_text())["platform"] == "generic"
        seen = len(server.seen())
        again = invoke("download", url)
        assert again.exit_code == 0 and "cached" in again.stdout
        assert len(server.seen()) == seen  # no network for a repeat


def test_download_keeps_going_past_refused_urls_and_exits_with_the_first_error(data_dir):
    result = invoke("download", "file:///etc/passwd", "http://127.0.0.1:1/v.mp4", "--json")
    assert result.exit_code == 2, result.output
    rows = [json.loads(chunk) for chunk in result.stdout.replace("}\n{", "}\x00{").split("\x00")]
    assert [row["error"]["code"] for row in rows] == ["url_not_allowed", "url_not_allowed"]
    assert "REELSCOPE_ALLOW_PRIVATE_URLS" in rows[1]["error"]["fix"]


def test_download_of_a_missing_video_exits_3(data_dir, monkeypatch):
    monkeypatch.setenv("REELSCOPE_ALLOW_PRIVATE_URLS", "true")
    with MediaServer() as server:
        gone = server.add_status("/gone.mp4", 404)
        result = invoke("download", gone)
    assert result.exit_code == 3
    assert "video_removed" in flat(result.stdout)


def test_analyze_a_url_downloads_then_reports_the_source(data_dir, shots_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("REELSCOPE_ALLOW_PRIVATE_URLS", "true")
    with MediaServer() as server:
        url = server.add_file("/clip.mp4", shots_clip[0])
        result = invoke("analyze", url, "-a", "cut_analysis", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    [written] = (tmp_path / "out").glob("*.reelscope.json")
    report = json.loads(written.read_text())
    assert report["source"]["url"] == url
    assert report["source"]["platform"]["platform"] == "generic"
    assert report["analyzers"]["cut_analysis"]["summary"]["hard_cut_count"] == 2


def test_analyze_refuses_a_private_url_before_any_work(data_dir):
    result = invoke("analyze", "http://169.254.169.254/latest/meta-data")
    assert result.exit_code == 2
    assert "url" in flat(result.stderr).lower() and "non-public" in flat(result.stderr)


def test_bulk_writes_summaries_and_exits_1_when_some_videos_failed(data_dir, shots_clip, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two videos\n{shots_clip[0]}\nmissing.mp4\n")
    out = tmp_path / "run"
    result = invoke("bulk", listing, "-o", out, "-a", "cut_analysis")
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["succeeded", "failed"]
    assert rows[1]["error_code"] == "media_not_found"
    assert (out / "summary.parquet").stat().st_size > 0
    assert json.loads((out / "run.json").read_text())["stats"]["videos"] == 2
    assert "bulk run" in result.stdout  # the closing table

    again = invoke("bulk", listing, "-o", out, "-a", "cut_analysis")
    assert "resuming: 2 of 2" in flat(again.stderr)
    assert again.exit_code == 1  # the failure is still in the summary


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--backend", "nope"), "unknown backend"),
        (("--jobs", "0"), "bulk_concurrent_jobs"),
    ],
)
def test_bulk_bad_options_exit_2(data_dir, shots_clip, tmp_path, args, fragment):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{shots_clip[0]}\n")
    result = invoke("bulk", listing, *args)
    assert result.exit_code == 2, result.output
    assert fragment in flat(result.stderr)


def test_bulk_on_ray_without_ray_says_how_to_install_it(data_dir, shots_clip, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{shots_clip[0]}\n")
    result = invoke("bulk", listing, "--backend", "ray", "-o", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "pip install 'reelscope[ray]'" in flat(result.stderr)
