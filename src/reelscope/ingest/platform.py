"""What a platform told yt-dlp, in reelscope's terms: its metadata reduced to the fields a report's
``source.platform`` carries (every key always present, None when the site does not say), the file
stem a download is stored under (``<platform>-<id>``), and its failures as the DownloadFailed tree.

``translate`` reads yt-dlp's own exception types first: ``DownloadError`` wraps the real cause in
``exc_info``, ``ExtractorError`` and ``RequestError`` keep theirs in ``cause``, urllib's ``URLError``
in ``reason``. Only when no typed cause says enough (yt-dlp's downloader drops it after
"Got error: HTTP Error 503") does it fall back on the wording of the message.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from yt_dlp.networking.exceptions import CertificateVerifyError, HTTPError, TransportError
from yt_dlp.utils import ContentTooShortError, ExtractorError, GeoRestrictedError, RegexNotFoundError, UnsupportedError

from reelscope.core.errors import (
    DownloadFailed,
    DownloadRateLimited,
    ExtractorBroken,
    GeoBlocked,
    NetworkError,
    ReelscopeError,
    UnsupportedUrl,
    UrlNotAllowed,
    VideoPrivate,
    VideoRemoved,
)
from reelscope.ingest.guard import ConnectRefused

PLATFORM_KEYS = (
    "platform",
    "id",
    "url",
    "title",
    "uploader",
    "creator",
    "user_id",
    "description",
    "hashtags",
    "duration_s",
    "view_count",
    "like_count",
    "comment_count",
    "share_count",
    "music_title",
    "music_artist",
    "upload_date",
    "downloaded_at",
    "width",
    "height",
)
# Extractors that are yt-dlp's generic page reader under another name: one platform for them all.
_GENERIC_KEYS = {"generic", "html5mediaembed"}
_HASHTAG_RE = re.compile(r"#(\w+)")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_-]+")


def platform_name(info: dict[str, Any]) -> str:
    key = str(info.get("extractor_key") or info.get("ie_key") or "generic").lower()
    return "generic" if key in _GENERIC_KEYS else key


def file_stem(info: dict[str, Any]) -> str:
    """``<platform>-<id>``, safe as a file name. The generic extractor takes ids from URL paths
    ("clip" for both ``a.com/clip.mp4`` and ``b.org/clip.mp4``), so its ids get a hash of the page URL."""
    platform = platform_name(info)
    video_id = _UNSAFE_RE.sub("_", str(info.get("id") or "video")).strip("_")[:80] or "video"
    if platform == "generic":
        page = str(info.get("webpage_url") or info.get("original_url") or "")
        video_id = f"{video_id}-{hashlib.sha256(page.encode()).hexdigest()[:10]}"
    return f"{platform}-{video_id}"


def refuse_playlist(info: dict[str, Any]) -> None:
    """One video per URL: a playlist, profile or page of several videos is refused."""
    if info.get("_type") in {"playlist", "multi_video"}:
        count = len(info["entries"]) if isinstance(info.get("entries"), list) else None
        shown = f" of {count} videos" if count is not None else ""
        raise UnsupportedUrl(
            f"the URL is a playlist or profile{shown}, not one video",
            fix="list the URLs of the videos (one per line) and download or bulk-run those",
        )


def reported_size_bytes(info: dict[str, Any]) -> int | None:
    """The size the site states for the chosen format(s), before anything is downloaded."""
    formats = info.get("requested_formats") or [info]
    sizes = [f.get("filesize") or f.get("filesize_approx") for f in formats]
    known = [int(s) for s in sizes if isinstance(s, int | float) and s > 0]
    return sum(known) if known else None


def normalise_metadata(info: dict[str, Any], downloaded_at: datetime) -> dict[str, Any]:
    """The platform dict (see ``PLATFORM_KEYS``) from a yt-dlp info dict."""
    description = _text(info.get("description"))
    creators = info.get("creators")
    return {
        "platform": platform_name(info),
        "id": _text(info.get("id")),
        "url": _text(info.get("webpage_url") or info.get("original_url")),
        "title": _text(info.get("title")),
        "uploader": _text(info.get("uploader")),
        "creator": _text(info.get("creator") or (creators[0] if isinstance(creators, list) and creators else None))
        or _text(info.get("channel")),
        "user_id": _text(info.get("uploader_id") or info.get("channel_id")),
        "description": description,
        "hashtags": hashtags(info.get("tags"), description),
        "duration_s": _number(info.get("duration")),
        "view_count": _count(info.get("view_count")),
        "like_count": _count(info.get("like_count")),
        "comment_count": _count(info.get("comment_count")),
        "share_count": _count(info.get("repost_count")),
        "music_title": _text(info.get("track")),
        "music_artist": _artist(info),
        "upload_date": _upload_date(info),
        "downloaded_at": downloaded_at.astimezone(UTC).isoformat(timespec="seconds"),
        "width": _count(info.get("width")),
        "height": _count(info.get("height")),
    }


def hashtags(tags: Any, description: str | None) -> list[str]:
    """Tags, then ``#words`` of the description, without '#', first spelling kept, case-insensitively unique."""
    found: list[str] = []
    seen: set[str] = set()
    candidates = [str(t).lstrip("#").strip() for t in tags or [] if t] + _HASHTAG_RE.findall(description or "")
    for tag in candidates:
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            found.append(tag)
    return found


def _artist(info: dict[str, Any]) -> str | None:
    artists = info.get("artists")
    if isinstance(artists, list) and artists:
        return ", ".join(str(a) for a in artists)
    return _text(info.get("artist"))


def _upload_date(info: dict[str, Any]) -> str | None:
    raw = info.get("upload_date")
    if isinstance(raw, str) and re.fullmatch(r"\d{8}", raw):
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    timestamp = info.get("timestamp")
    if isinstance(timestamp, int | float):
        return datetime.fromtimestamp(timestamp, UTC).date().isoformat()
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _count(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------- errors

FIX_PRIVATE = "set REELSCOPE_DOWNLOAD_COOKIES_FILE to a cookies.txt of an account that can see the video"
FIX_REMOVED = "check the URL: the video is gone or never existed there"
FIX_GEO = "set REELSCOPE_DOWNLOAD_PROXY to a proxy in a region where the video is available"
FIX_RATE = "wait and retry later, or lower REELSCOPE_DOWNLOAD_RATE_PER_MINUTE / REELSCOPE_DOWNLOAD_HOST_RATES"
FIX_EXTRACTOR = "upgrade yt-dlp (pip install -U yt-dlp): the site has probably changed its pages"
FIX_UNSUPPORTED = "give the URL of one video's page, or a direct link to the video file"
FIX_URL = "use a public http(s) URL (or set REELSCOPE_ALLOW_PRIVATE_URLS=true for a trusted private host)"
FIX_NETWORK = "check the network (and REELSCOPE_DOWNLOAD_PROXY if set), then retry"

# Wording of yt-dlp's extractors (extractor/common.py raise_login_required / raise_geo_restricted,
# extractor/tiktok.py, ...), tried in this order: "only available for registered users" is about
# logging in, not about being unavailable, and "not available in your country" is geography.
_MESSAGE_RULES: list[tuple[re.Pattern[str], type[DownloadFailed], str]] = [
    (
        re.compile(
            r"available (in|from) your (country|location|region)|geo.?(restrict|block)|"
            r"ip address is blocked",
            re.I,
        ),
        GeoBlocked,
        FIX_GEO,
    ),
    (
        re.compile(
            r"\bprivate\b|\blog ?in|\bsign ?in|registered users|permission to view|members.only|"
            r"subscribers.only|age.restricted|confirm your age|cookies",
            re.I,
        ),
        VideoPrivate,
        FIX_PRIVATE,
    ),
    (re.compile(r"rate.?limit|too many requests|slow down", re.I), DownloadRateLimited, FIX_RATE),
    (
        re.compile(
            r"removed|deleted|no longer (available|exists)|does ?n[o']t exist|taken down|"
            r"unavailable|not available|terminated|not found",
            re.I,
        ),
        VideoRemoved,
        FIX_REMOVED,
    ),
    (re.compile(r"unsupported url", re.I), UnsupportedUrl, FIX_UNSUPPORTED),
    (
        re.compile(
            r"unable to extract|unable to download (json|api)|no video formats|requested format is not "
            r"available|failed to parse|unable to parse",
            re.I,
        ),
        ExtractorBroken,
        FIX_EXTRACTOR,
    ),
]
_HTTP_STATUS_RE = re.compile(r"HTTP Error (\d{3})")
_BUG_REPORT_RE = re.compile(r";? ?please report this issue.*$", re.I | re.S)


def translate(exc: BaseException) -> DownloadFailed | UrlNotAllowed:
    """A yt-dlp (or socket) exception as reelscope's error; the caller chains it: ``raise translate(e) from e``.

    A connection the guard refused becomes ``UrlNotAllowed`` (an input error, never retried).
    """
    chain = list(_causes(exc))
    message = _clean(str(exc))
    for error in chain:
        if isinstance(error, ConnectRefused):
            return UrlNotAllowed(f"download refused: {error}", fix=FIX_URL)
        if isinstance(error, DownloadFailed | UrlNotAllowed):  # raised by our own hooks inside yt-dlp
            return _copy(error)
    for error in chain:
        if isinstance(error, GeoRestrictedError):
            countries = f" (available in: {', '.join(error.countries)})" if error.countries else ""
            return GeoBlocked(f"{message}{countries}", fix=FIX_GEO)
        if isinstance(error, UnsupportedError):
            return UnsupportedUrl(message, fix=FIX_UNSUPPORTED)
        if isinstance(error, HTTPError):
            if 300 <= error.status < 400 and not error.redirect_loop:
                # urllib refuses to follow a redirect to file:, data:, ... before the guard sees it.
                return UrlNotAllowed(f"download refused: a redirect to a non-http(s) URL ({message})", fix=FIX_URL)
            return _from_status(error.status, message, _retry_after_s(error))
        if isinstance(error, CertificateVerifyError):
            return DownloadFailed(message, fix="the site's TLS certificate does not verify; check the URL")
        if isinstance(error, TransportError | ContentTooShortError | TimeoutError | ConnectionError | socket.gaierror):
            return NetworkError(message, fix=FIX_NETWORK)
    if status := _HTTP_STATUS_RE.search(message):
        return _from_status(int(status.group(1)), message, None)
    for pattern, kind, fix in _MESSAGE_RULES:
        if pattern.search(message):
            return kind(message, fix=fix)
    if any(isinstance(e, RegexNotFoundError) or (isinstance(e, ExtractorError) and not e.expected) for e in chain):
        return ExtractorBroken(message, fix=FIX_EXTRACTOR)
    return DownloadFailed(message or type(exc).__name__)


def _from_status(status: int, message: str, retry_after_s: float | None) -> DownloadFailed:
    if status in (404, 410):
        return VideoRemoved(message, fix=FIX_REMOVED)
    if status in (401, 403):
        return VideoPrivate(message, fix=FIX_PRIVATE)
    if status == 429:
        return DownloadRateLimited(message, retry_after_s=retry_after_s, fix=FIX_RATE)
    if status == 451:
        return GeoBlocked(message, fix=FIX_GEO)
    if status >= 500 or status == 408:
        return NetworkError(message, fix=FIX_NETWORK)
    return DownloadFailed(message)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps, breadth first, each once."""
    queue, seen = [exc], set()
    while queue:
        error = queue.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        exc_info = getattr(error, "exc_info", None)
        linked = [
            exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None,
            getattr(error, "cause", None),
            getattr(error, "reason", None),
            error.__cause__,
            error.__context__,
        ]
        queue.extend(e for e in linked if isinstance(e, BaseException))


def _retry_after_s(error: HTTPError) -> float | None:
    headers = getattr(error.response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _clean(message: str) -> str:
    message = _BUG_REPORT_RE.sub("", message.strip())
    return message.removeprefix("ERROR: ").strip()


def _copy(error: ReelscopeError) -> DownloadFailed | UrlNotAllowed:
    if isinstance(error, DownloadRateLimited):
        return DownloadRateLimited(error.message, retry_after_s=error.retry_after_s, fix=error.fix)
    return type(error)(error.message, fix=error.fix)  # type: ignore[return-value]
