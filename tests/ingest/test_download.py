"""The yt-dlp downloader against a local HTTP server (no internet): real downloads through yt-dlp's
generic extractor, the storage layout and URL cache, retries and their waits, size and duration
limits, cookies, and the translation of yt-dlp's own exception types into reelscope's errors."""

from __future__ import annotations

import io
import json
import random
import shutil
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from yt_dlp.networking.common import Response
from yt_dlp.networking.exceptions import HTTPError, IncompleteRead, TransportError
from yt_dlp.utils import (
    DownloadError,
    ExtractorError,
    GeoRestrictedError,
    RegexNotFoundError,
    UnsupportedError,
)

from reelscope.core.errors import (
    DownloadFailed,
    DownloadRateLimited,
    DownloadTooLarge,
    ExtractorBroken,
    GeoBlocked,
    NetworkError,
    UnsupportedUrl,
    UrlNotAllowed,
    VideoPrivate,
    VideoRemoved,
)
from reelscope.core.settings import Settings
from reelscope.ingest.download import Downloader, is_url, normalise_metadata, translate
from reelscope.ingest.guard import ConnectRefused
from reelscope.ingest.platform import PLATFORM_KEYS
from reelscope.media.probe import probe
from tests.ingest.http_fixtures import MediaServer, Route, video_page

JPEG_BYTES = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


class RecordingLimiter:
    """Stands in for HostRateLimiter: records what the downloader asks of it."""

    def __init__(self) -> None:
        self.acquired: list[str] = []
        self.deferred: list[tuple[str, float]] = []

    def acquire(self, url: str) -> float:
        self.acquired.append(url)
        return 0.0

    def defer(self, url: str, seconds: float) -> None:
        self.deferred.append((url, seconds))


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "allow_private_urls": True,
        "download_attempts": 3,
        "download_backoff_base_s": 1.0,
        "download_backoff_max_s": 60.0,
        "download_timeout_s": 10.0,
    }
    return Settings(**{**values, **overrides})


def downloader(tmp_path: Path, sleeps: list[float] | None = None, limiter: Any = None, **overrides: Any) -> Downloader:
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    return Downloader(make_settings(tmp_path, **overrides), limiter=limiter, sleep=sleep)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# ---------------------------------------------------------------------------- real downloads


def test_direct_mp4_is_downloaded_byte_for_byte_then_served_from_disk(tmp_path: Path, server: MediaServer, clip: Path):
    url = server.add_file("/clips/shots.mp4", clip)
    dl = downloader(tmp_path)

    first = dl.download(f"  {url}\n")

    assert first.url == url and not first.cached and first.attempts == 1
    assert first.path.parent == dl.videos_dir and first.path.name.startswith("generic-shots-")
    assert first.path.suffix == ".mp4"
    assert first.path.read_bytes() == clip.read_bytes()
    assert first.metadata_path == dl.metadata_dir / f"{first.path.stem}.json"
    assert json.loads(first.metadata_path.read_text()) == first.platform
    assert tuple(first.platform) == PLATFORM_KEYS
    assert first.platform["platform"] == "generic" and first.platform["id"] == "shots"
    assert first.platform["url"] == url and first.platform["hashtags"] == []
    downloaded_at = datetime.fromisoformat(first.platform["downloaded_at"])
    assert abs(datetime.now(UTC) - downloaded_at) < timedelta(minutes=1)
    assert first.thumbnail_path is None and files_in(dl.thumbnails_dir) == []
    assert not [p for p in dl.videos_dir.iterdir() if p.suffix != ".mp4"]  # no .part left behind

    seen_before = len(server.seen())
    again = dl.download(url)
    assert again.cached and again.attempts == 0
    assert (again.path, again.metadata_path, again.platform) == (first.path, first.metadata_path, first.platform)
    assert len(server.seen()) == seen_before  # no request at all

    forced = dl.download(url, force=True)
    assert not forced.cached and forced.path == first.path and len(server.seen()) > seen_before


def test_cache_is_not_used_when_the_video_file_is_gone(tmp_path: Path, server: MediaServer, clip: Path):
    url = server.add_file("/clips/shots.mp4", clip)
    dl = downloader(tmp_path)
    first = dl.download(url)
    first.path.unlink()
    second = dl.download(url)
    assert not second.cached and second.path.read_bytes() == clip.read_bytes()


@pytest.mark.parametrize("og", [False, True], ids=["video-tag", "og-video"])
def test_html_page_embedding_the_video_with_a_thumbnail(tmp_path: Path, server: MediaServer, clip: Path, og: bool):
    video_url = server.add_file("/media/v.mp4", clip)
    image_url = server.add("/media/poster.jpg", _route(JPEG_BYTES, "image/jpeg"))
    page_url = server.add_page("/watch/42", video_page(video_url, title="Cut test", image_url=image_url, og=og))
    dl = downloader(tmp_path)

    got = dl.download(page_url)

    assert got.path.read_bytes() == clip.read_bytes()
    assert got.path.parent == dl.videos_dir
    assert got.thumbnail_path is not None and got.thumbnail_path.parent == dl.thumbnails_dir
    assert got.thumbnail_path.stem == got.path.stem and got.thumbnail_path.read_bytes() == JPEG_BYTES
    assert files_in(dl.videos_dir) == [got.path.name]  # the thumbnail did not land next to the video
    assert got.platform["platform"] == "generic" and got.platform["url"] == page_url
    assert got.platform["title"].startswith("Cut test")
    assert [s.path for s in server.seen()].count("/media/poster.jpg") == 1


def test_shared_media_clip_downloads_intact(tmp_path: Path, server: MediaServer, shared_media: Path):
    source = shared_media / "people" / "short_hamilton_clip.mp4"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    got = downloader(tmp_path).download(server.add_file("/people/short_hamilton_clip.mp4", source))
    assert got.path.read_bytes() == source.read_bytes()
    assert probe(got.path).duration_s == pytest.approx(probe(source).duration_s)


def test_a_page_with_several_videos_is_refused_as_a_playlist(tmp_path: Path, server: MediaServer, clip: Path):
    a, b = server.add_file("/a.mp4", clip), server.add_file("/b.mp4", clip)
    page = server.add_page("/profile", video_page(a) + video_page(b))
    dl = downloader(tmp_path)
    with pytest.raises(UnsupportedUrl) as caught:
        dl.download(page)
    assert "playlist" in caught.value.message and "list the URLs" in (caught.value.fix or "")
    assert files_in(dl.videos_dir) == []
    assert [s.path for s in server.seen()] == ["/profile"]  # neither video was fetched


def test_cookies_file_from_settings_is_sent(tmp_path: Path, server: MediaServer, clip: Path):
    cookies = tmp_path / "cookies.txt"
    original = "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsessionid\tsecret-123\n"
    cookies.write_text(original)
    url = server.add_file("/clips/shots.mp4", clip)
    downloader(tmp_path, download_cookies_file=cookies).download(url)
    assert any("sessionid=secret-123" in s.headers.get("Cookie", "") for s in server.seen("/clips/shots.mp4"))
    assert cookies.read_text() == original  # yt-dlp saved its jar into a private copy, not into ours


# ---------------------------------------------------------------------------- failures and retries


@pytest.mark.parametrize(
    ("status", "error"), [(404, VideoRemoved), (410, VideoRemoved), (403, VideoPrivate), (401, VideoPrivate)]
)
def test_permanent_http_errors_are_translated_and_tried_once(tmp_path: Path, server: MediaServer, status, error):
    url = server.add_status("/v/gone.mp4", status)
    sleeps: list[float] = []
    limiter = RecordingLimiter()
    with pytest.raises(error) as caught:
        downloader(tmp_path, sleeps, limiter).download(url)
    assert f"HTTP Error {status}" in caught.value.message and caught.value.fix
    assert isinstance(caught.value.__cause__, DownloadError)  # chained to yt-dlp's exception
    assert sleeps == [] and limiter.acquired == [url] and len(server.seen("/v/gone.mp4")) == 1


def test_503_twice_then_success_takes_three_tries_with_growing_waits(
    tmp_path: Path, server: MediaServer, clip: Path, monkeypatch: pytest.MonkeyPatch
):
    url = server.add_file("/busy.mp4", clip)
    server.fail_first("/busy.mp4", [(503, {}), (503, {})])
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # full jitter at its ceiling
    sleeps: list[float] = []
    limiter = RecordingLimiter()

    got = downloader(tmp_path, sleeps, limiter, download_backoff_base_s=1.5).download(url)

    assert got.attempts == 3 and got.path.read_bytes() == clip.read_bytes()
    assert sleeps == [1.5, 3.0]  # base * 2 ** (try - 1)
    assert limiter.acquired == [url] * 3 and limiter.deferred == []


def test_backoff_waits_are_jittered_within_the_exponential_ceiling(tmp_path: Path, server: MediaServer):
    url = server.add_status("/down.mp4", 503)
    sleeps: list[float] = []
    with pytest.raises(NetworkError) as caught:
        downloader(tmp_path, sleeps, download_attempts=4, download_backoff_base_s=2.0).download(url)
    assert caught.value.transient and len(server.seen("/down.mp4")) == 4
    assert len(sleeps) == 3 and all(0 <= s <= 2.0 * 2**k for k, s in enumerate(sleeps))


def test_media_503_after_the_page_is_retried(tmp_path: Path, server: MediaServer, clip: Path):
    # yt-dlp's downloader keeps no typed cause here ("Got error: HTTP Error 503"): the wording decides.
    video = server.add_file("/m/v.mp4", clip)
    server.fail_first("/m/v.mp4", [(503, {}), (503, {})])
    page = server.add_page("/watch", video_page(video))
    sleeps: list[float] = []
    got = downloader(tmp_path, sleeps).download(page)
    assert got.attempts == 3 and len(sleeps) == 2 and got.path.read_bytes() == clip.read_bytes()


def test_429_with_retry_after_waits_at_least_that_and_defers_the_site(tmp_path: Path, server: MediaServer, clip: Path):
    url = server.add_file("/hot.mp4", clip)
    server.fail_first("/hot.mp4", [(429, {"Retry-After": "7"})])
    sleeps: list[float] = []
    limiter = RecordingLimiter()
    got = downloader(tmp_path, sleeps, limiter, download_backoff_base_s=0.1).download(url)
    assert got.attempts == 2 and len(sleeps) == 1 and sleeps[0] >= 7
    assert limiter.deferred == [(url, 7.0)]


def test_429_for_longer_than_the_backoff_cap_fails_at_once(tmp_path: Path, server: MediaServer):
    url = server.add_status("/hot.mp4", 429, {"Retry-After": "3600"})
    sleeps: list[float] = []
    with pytest.raises(DownloadRateLimited) as caught:
        downloader(tmp_path, sleeps).download(url)
    assert caught.value.retry_after_s == 3600 and caught.value.transient and sleeps == []


def test_file_over_the_size_limit_is_refused_and_removed(tmp_path: Path, server: MediaServer, clip: Path):
    url = server.add_file("/big.mp4", clip)
    dl = downloader(tmp_path, max_file_size_bytes=clip.stat().st_size // 2)
    with pytest.raises(DownloadTooLarge) as caught:
        dl.download(url)
    assert "REELSCOPE_MAX_FILE_SIZE_BYTES" in (caught.value.fix or "")
    assert files_in(dl.videos_dir) == [] and files_in(dl.metadata_dir / "urls") == []
    assert len(server.seen("/big.mp4")) == 2  # the extractor's look and the one aborted transfer: no retry


def test_video_over_the_duration_limit_is_removed_after_download(tmp_path: Path, server: MediaServer, clip: Path):
    url = server.add_file("/long.mp4", clip)  # the site states no duration: the file is measured
    dl = downloader(tmp_path, download_max_duration_s=1.0)
    with pytest.raises(DownloadTooLarge) as caught:
        dl.download(url)
    assert "REELSCOPE_DOWNLOAD_MAX_DURATION_S" in (caught.value.fix or "")
    assert files_in(dl.videos_dir) == []


def test_stated_duration_over_the_limit_is_refused_before_downloading(tmp_path: Path, server: MediaServer, clip: Path):
    video = server.add_file("/movie.mp4", clip)
    ld_json = json.dumps({"@context": "https://schema.org", "@type": "VideoObject", "name": "Long",
                          "contentUrl": video, "duration": "PT2H"})  # fmt: skip
    page = server.add_page("/film", f'<html><head><script type="application/ld+json">{ld_json}</script></head></html>')
    dl = downloader(tmp_path, download_max_duration_s=600)
    with pytest.raises(DownloadTooLarge) as caught:
        dl.download(page)
    assert "7200 s" in caught.value.message  # the stated duration, not the 3 s a download would measure
    # One request: the extractor's look at the link (a download would be a second one).
    assert len(server.seen("/movie.mp4")) == 1 and files_in(dl.videos_dir) == []


@pytest.mark.parametrize("body", [b"", b"<html>not a video</html>" * 40], ids=["empty", "not-media"])
def test_empty_or_non_media_result_is_a_permanent_failure(tmp_path: Path, server: MediaServer, body: bytes):
    url = server.add("/fake.mp4", _route(body, "video/mp4"))
    dl = downloader(tmp_path)
    with pytest.raises(DownloadFailed) as caught:
        dl.download(url)
    assert not caught.value.transient and not isinstance(caught.value, DownloadTooLarge)
    assert files_in(dl.videos_dir) == []


# ---------------------------------------------------------------------------- translate()


def _http_error(status: int, headers: dict[str, str] | None = None) -> HTTPError:
    return HTTPError(Response(io.BytesIO(b""), "https://example.com/v", headers or {}, status=status))


def _as_download_error(cause: BaseException, message: str = "Unable to download webpage") -> DownloadError:
    """The shape yt-dlp raises: DownloadError(exc_info of an ExtractorError(cause=...))."""
    try:
        try:
            raise cause
        except Exception as err:
            raise ExtractorError(message, cause=err, ie="generic", video_id="v") from err
    except ExtractorError as extractor_error:
        return DownloadError(f"ERROR: {extractor_error.msg}", exc_info=sys.exc_info())


def _raised(error: BaseException) -> DownloadError:
    try:
        raise error
    except BaseException:
        return DownloadError(f"ERROR: {error}", exc_info=sys.exc_info())


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_as_download_error(_http_error(404)), VideoRemoved),
        (_as_download_error(_http_error(410)), VideoRemoved),
        (_as_download_error(_http_error(401)), VideoPrivate),
        (_as_download_error(_http_error(403)), VideoPrivate),
        (_as_download_error(_http_error(451)), GeoBlocked),
        (_as_download_error(_http_error(500)), NetworkError),
        (_as_download_error(_http_error(503)), NetworkError),
        (_as_download_error(TransportError(cause=ConnectionRefusedError(111, "refused"))), NetworkError),
        (_as_download_error(IncompleteRead(100, 900)), NetworkError),
        (_raised(TimeoutError("timed out")), NetworkError),
        (_raised(GeoRestrictedError("This video is not available from your location", countries=["US"])), GeoBlocked),
        (_raised(ExtractorError("The uploader has not made this video available in your country", expected=True)),
         GeoBlocked),
        (_raised(UnsupportedError("https://example.com/about")), UnsupportedUrl),
        (_raised(RegexNotFoundError("Unable to extract video data")), ExtractorBroken),
        (_raised(ExtractorError("Unable to extract universal data for rehydration")), ExtractorBroken),
        (_raised(ExtractorError("Something unexpected happened")), ExtractorBroken),  # not expected: a yt-dlp bug
        (_raised(ExtractorError("You do not have permission to view this post. Log into an account that has "
                                "access. Use --cookies for the authentication.", expected=True)), VideoPrivate),
        (_raised(ExtractorError("This video is private", expected=True)), VideoPrivate),
        (_raised(ExtractorError("Your IP address is blocked from accessing this post", expected=True)), GeoBlocked),
        (_raised(ExtractorError("This video has been removed by the user", expected=True)), VideoRemoved),
        (_raised(ExtractorError("Video not available, status code 10204", expected=True)), VideoRemoved),
        (_raised(ExtractorError("Too many requests, please slow down", expected=True)), DownloadRateLimited),
        (DownloadError("ERROR: [download] Got error: HTTP Error 503: Service Unavailable"), NetworkError),
        (DownloadError("ERROR: unable to download video data: HTTP Error 404: Not Found"), VideoRemoved),
    ],
)  # fmt: skip
def test_translate_yt_dlp_errors(error: BaseException, expected: type) -> None:
    translated = translate(error)
    assert type(translated) is expected
    assert translated.transient == (expected in (NetworkError, DownloadRateLimited))
    assert translated.fix and "please report this issue" not in translated.message
    assert not translated.message.startswith("ERROR:")


def test_translate_reads_retry_after_in_seconds_and_as_a_date() -> None:
    seconds = translate(_as_download_error(_http_error(429, {"Retry-After": "7"})))
    assert isinstance(seconds, DownloadRateLimited) and seconds.retry_after_s == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    dated = translate(_as_download_error(_http_error(429, {"Retry-After": later})))
    assert isinstance(dated, DownloadRateLimited) and 100 < (dated.retry_after_s or 0) <= 120
    assert translate(_as_download_error(_http_error(429))).retry_after_s is None


def test_translate_turns_a_guard_refusal_into_url_not_allowed() -> None:
    refused = TransportError(cause=ConnectRefused("connection to evil:80 refused: not an allowed address (127.0.0.1)"))
    translated = translate(_as_download_error(refused))
    assert isinstance(translated, UrlNotAllowed) and "127.0.0.1" in translated.message


# ---------------------------------------------------------------------------- small pieces


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://www.tiktok.com/@a/video/1", True),
        (" http://127.0.0.1:8000/v.mp4 ", True),
        ("file:///etc/passwd", True),
        ("ftp://x", True),
        ("clips/video.mp4", False),
        ("/abs/video.mp4", False),
        ("C:video.mp4", False),
    ],
)
def test_is_url(text: str, expected: bool) -> None:
    assert is_url(text) is expected


def test_normalise_metadata_of_a_tiktok_style_info_dict() -> None:
    info = {
        "extractor_key": "TikTok",
        "id": "7106594312292453675",
        "webpage_url": "https://www.tiktok.com/@leenabhushan/video/7106594312292453675",
        "title": "Ramen night",
        "description": "Ramen night #food #FoodTok #Ramen and more #food",
        "tags": ["ramen", "cooking"],
        "uploader": "leenabhushan",
        "uploader_id": "6691488002098119685",
        "channel": "Leena",
        "duration": 12,
        "view_count": 1500,
        "like_count": "300",
        "comment_count": 12,
        "repost_count": 7,
        "track": "Lehanga",
        "artists": ["Jass Manak", "Ysrbeats"],
        "timestamp": 1654500000,
        "width": 576,
        "height": 1024,
    }
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    meta = normalise_metadata(info, when)
    assert tuple(meta) == PLATFORM_KEYS
    assert meta["platform"] == "tiktok" and meta["id"] == "7106594312292453675"
    assert meta["hashtags"] == ["ramen", "cooking", "food", "FoodTok"]
    assert (meta["uploader"], meta["creator"], meta["user_id"]) == ("leenabhushan", "Leena", "6691488002098119685")
    assert (meta["duration_s"], meta["view_count"], meta["like_count"], meta["share_count"]) == (12.0, 1500, 300, 7)
    assert (meta["music_title"], meta["music_artist"]) == ("Lehanga", "Jass Manak, Ysrbeats")
    assert meta["upload_date"] == "2022-06-06" and meta["downloaded_at"] == "2026-01-02T03:04:05+00:00"
    assert (meta["width"], meta["height"]) == (576, 1024)
    assert normalise_metadata({**info, "upload_date": "20220607"}, when)["upload_date"] == "2022-06-07"
    bare = normalise_metadata({"extractor_key": "Generic", "id": "x"}, when)
    assert bare["platform"] == "generic" and bare["hashtags"] == [] and bare["music_artist"] is None


def _route(body: bytes, content_type: str) -> Route:
    return Route(body=body, content_type=content_type)


def test_a_video_already_on_disk_is_not_fetched_again_without_force(tmp_path: Path, server: MediaServer, clip: Path):
    url = server.add_file("/clips/shots.mp4", clip)
    dl = downloader(tmp_path)
    first = dl.download(url)
    shutil.rmtree(dl.metadata_dir / "urls")  # e.g. a crash after the video, before the index was written
    requests_before = len(server.seen("/clips/shots.mp4"))
    second = dl.download(url)
    assert not second.cached and second.path == first.path and second.path.read_bytes() == clip.read_bytes()
    assert len(server.seen("/clips/shots.mp4")) == requests_before + 1  # the extractor's look only
    assert dl.download(url).cached  # and the index is back


def test_with_the_shared_host_rate_limiter(tmp_path: Path, server: MediaServer, clip: Path):
    """The real HostRateLimiter: starts on one site are spaced, and a 429's Retry-After holds the next start."""
    from reelscope.ingest.ratelimit import HostRateLimiter

    limiter_sleeps: list[float] = []
    limiter = HostRateLimiter(tmp_path / "rate.sqlite3", per_minute=60, sleep=limiter_sleeps.append)
    dl = downloader(tmp_path, [], limiter, download_backoff_base_s=0.01)
    dl.download(server.add_file("/one.mp4", clip))
    dl.download(server.add_file("/two.mp4", clip))
    assert len(limiter_sleeps) == 1 and 0.5 < limiter_sleeps[0] <= 1.0  # 60 per minute: one second apart

    hot = server.add_file("/hot.mp4", clip)
    server.fail_first("/hot.mp4", [(429, {"Retry-After": "7"})])
    assert dl.download(hot).attempts == 2
    assert limiter_sleeps[-1] > 6  # the retry waited out the site's Retry-After in the shared limiter


def test_a_name_that_does_not_resolve_is_a_transient_network_error(tmp_path):
    """No DNS (no internet) must not read as a refused URL: bulk runs retry it on resume."""
    import socket

    def no_dns(host: str, port: int) -> list[str]:
        raise socket.gaierror(-2, "Name or service not known")

    downloader = Downloader(make_settings(tmp_path, allow_private_urls=False), resolve=no_dns)
    with pytest.raises(NetworkError) as caught:
        downloader.download("https://www.tiktok.com/@someone/video/1")
    assert caught.value.transient and "www.tiktok.com" in caught.value.message
