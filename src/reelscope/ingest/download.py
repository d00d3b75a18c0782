"""The yt-dlp adapter: one URL in, one video file plus its platform metadata and thumbnail out.

yt-dlp runs as a library (``GuardedYoutubeDL``, never a shell string), quiet, its log sent to this
module's logger. Storage under ``settings.downloads_dir``::

    videos/<platform>-<id>.<ext>        yt-dlp writes <name>.part, then renames it
    thumbnails/<platform>-<id>.<ext>    yt-dlp's "thumbnail" output template
    metadata/<platform>-<id>.json       the normalised platform dict (temp file + rename)
    metadata/urls/<sha256(url)>.json    URL -> stem, so a repeat is answered from disk

Formats: there is often no ffmpeg binary, and joining a separate video and audio stream needs one, so
the default picks the best single file holding both (mp4 first). When ``ffmpeg`` is on PATH, the best
mp4 video plus m4a audio, merged into mp4, comes first. Every protocol uses yt-dlp's native
downloader, so no external program fetches a URL behind the connect-time guard's back.

Retries are this module's policy (tenacity: exponential backoff with full jitter, transient errors
only, at least ``Retry-After`` after a 429); yt-dlp's own retries are off (``retries=0``,
``extractor_retries=0``) so the two do not multiply.

Size: yt-dlp's ``max_filesize`` is not used: in yt-dlp 2026.10.26 a download it aborts for size ends
in ``KeyError('filepath')``. The size is checked instead against what the extractor reports, against
the byte counts of every progress report while downloading, and on the finished file.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.stop import stop_base

from reelscope.core.errors import (
    DownloadFailed,
    DownloadRateLimited,
    DownloadTooLarge,
    InvalidParams,
    NetworkError,
    ReelscopeError,
    UrlNotAllowed,
)
from reelscope.core.settings import Settings
from reelscope.core.urls import check_public_url, is_public_address, resolve_host
from reelscope.ingest.guard import ConnectPolicy, GuardedYoutubeDL, proxy_exemption
from reelscope.ingest.platform import file_stem, normalise_metadata, refuse_playlist, reported_size_bytes, translate
from reelscope.ingest.ratelimit import HostRateLimiter
from reelscope.media.probe import probe

__all__ = ["Downloaded", "Downloader", "downloader_for", "is_url", "normalise_metadata", "translate"]

log = logging.getLogger(__name__)

FORMAT_SINGLE_FILE = "b[ext=mp4][vcodec!=none][acodec!=none]/b[vcodec!=none][acodec!=none]/b"
FORMAT_WITH_MERGE = "bv*[ext=mp4]+ba[ext=m4a]/" + FORMAT_SINGLE_FILE
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_FIX_SIZE = "raise REELSCOPE_MAX_FILE_SIZE_BYTES if videos this large are wanted"
_FIX_DURATION = "raise REELSCOPE_DOWNLOAD_MAX_DURATION_S if videos this long are wanted"


@dataclass(frozen=True)
class Downloaded:
    url: str  # as given (stripped)
    path: Path  # <downloads_dir>/videos/<platform>-<id>.<ext>
    metadata_path: Path  # <downloads_dir>/metadata/<platform>-<id>.json
    thumbnail_path: Path | None  # <downloads_dir>/thumbnails/<platform>-<id>.<ext>; None if the site has none
    platform: dict[str, Any]  # normalised metadata (ingest.platform.PLATFORM_KEYS), for source.platform
    cached: bool  # found on disk from an earlier download of the same URL; no network used
    attempts: int  # tries it took (1 = first try worked; 0 = cached)
    wall_s: float


def is_url(text: str) -> bool:
    """True for anything of the form ``scheme://...``: ``file:///etc/passwd`` and ``ftp://x`` count as
    URLs (and are then refused by the downloader), never as local paths."""
    return bool(_SCHEME_RE.match(text.strip()))


class Downloader:
    """Downloads one URL at a time; safe to share between threads (each call has its own YoutubeDL).

    ``limiter`` None means no rate limit. ``address_allowed`` decides which IP addresses a connection
    may reach (default: public ones only, or all with ``settings.allow_private_urls``); ``resolve``
    replaces the system resolver for the pre-check and at connect time (tests pass fakes).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        limiter: HostRateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        address_allowed: Callable[[str], bool] | None = None,
        resolve: Callable[[str, int], list[str]] | None = None,
    ) -> None:
        self._settings = settings
        self._root = settings.downloads_dir
        self._limiter = limiter
        self._sleep = sleep
        self._resolve = resolve or resolve_host
        if address_allowed is None:
            address_allowed = _allow_all if settings.allow_private_urls else is_public_address
        self._proxy = settings.download_proxy.get_secret_value() if settings.download_proxy else None
        self._policy = ConnectPolicy(address_allowed, self._resolve, proxy_exemption(self._proxy))

    @property
    def videos_dir(self) -> Path:
        return self._root / "videos"

    @property
    def metadata_dir(self) -> Path:
        return self._root / "metadata"

    @property
    def thumbnails_dir(self) -> Path:
        return self._root / "thumbnails"

    def download(self, url: str, *, force: bool = False) -> Downloaded:
        """Fetch ``url`` (or return the earlier download of it; ``force`` fetches again).

        Raises UrlNotAllowed (scheme, non-public address, also at connect time and on redirects) or a
        DownloadFailed subclass; transient failures are retried ``settings.download_attempts`` times.
        """
        started_s = time.monotonic()
        url = url.strip()
        check_public_url(url, allow_private=True)  # scheme and syntax only: a cached answer needs no DNS
        if not force and (hit := self._cached(url, started_s)) is not None:
            return hit
        check_public_url(url, allow_private=self._settings.allow_private_urls, resolve=self._resolve_for_check)

        attempts = 0

        def attempt() -> Downloaded:
            nonlocal attempts
            attempts += 1
            if self._limiter is not None:
                self._limiter.acquire(url)
            try:
                return self._fetch(url, force=force, attempt=attempts, started_s=started_s, cookiefile=cookiefile)
            except DownloadRateLimited as exc:
                if self._limiter is not None:  # every process backs off from this site, not just us
                    self._limiter.defer(url, exc.retry_after_s or self._backoff_cap_s(attempts))
                raise

        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            wait=self._wait_s,
            stop=stop_after_attempt(self._settings.download_attempts)
            | _stop_if_retry_after_too_long(self._settings.download_backoff_max_s),
            sleep=self._sleep,
            before_sleep=lambda state: log.info(
                "download of %s failed (try %d): %s; retrying in %.1f s",
                url,
                state.attempt_number,
                state.outcome.exception() if state.outcome else None,
                state.next_action.sleep if state.next_action else 0.0,
            ),
            reraise=True,
        )
        with self._private_cookies() as cookiefile:
            return retrying(attempt)

    def _resolve_for_check(self, host: str, port: int) -> list[str]:
        """A name that does not resolve is a network problem (no DNS, no internet), worth retrying
        later, not a refused URL."""
        try:
            return self._resolve(host, port)
        except OSError as exc:
            raise NetworkError(
                f"cannot resolve {host!r}: {exc}", fix="check this machine's network and DNS; a bulk run retries it on resume"
            ) from exc

    # -- one try
    def _fetch(self, url: str, *, force: bool, attempt: int, started_s: float, cookiefile: Path | None) -> Downloaded:
        downloaded_at = datetime.now(UTC)
        stem: str | None = None
        try:
            with GuardedYoutubeDL(self._params(force, cookiefile), policy=self._policy) as ydl:
                raw = ydl.extract_info(url, download=False, process=False)
                refuse_playlist(raw)
                info = ydl.process_ie_result(raw, download=False)  # follows url results, picks the format
                refuse_playlist(info)
                self._check_reported_limits(info)
                stem = file_stem(info)
                ydl.params["outtmpl"].update(self._outtmpl(stem))
                info = ydl.process_ie_result(info, download=True)
            video = self._finished_file(info)
            try:
                self._check_file(video)
            except DownloadFailed:
                self._discard(stem, finished=True)
                raise
            platform = normalise_metadata(info, downloaded_at)
        except Exception as exc:
            error = exc if isinstance(exc, DownloadFailed | UrlNotAllowed) else translate(exc)
            if stem is not None and not _is_transient(error):
                self._discard(stem, finished=False)  # a transient failure keeps its .part for the next try
            if error is exc:
                raise
            raise error from exc
        thumbnail = self._thumbnail(stem)
        metadata_path = self.metadata_dir / f"{stem}.json"
        _write_json_atomic(metadata_path, platform)
        # The index is written last: it never points at files that are not all there.
        _write_json_atomic(
            self._index_path(url),
            {"url": url, "stem": stem, "video": video.name, "thumbnail": thumbnail.name if thumbnail else None},
        )
        return Downloaded(url, video, metadata_path, thumbnail, platform, False, attempt, time.monotonic() - started_s)

    @contextmanager
    def _private_cookies(self) -> Iterator[Path | None]:
        """A copy of the configured cookies file for this download: yt-dlp writes its cookie jar back
        on close, and concurrent downloads writing one shared file would corrupt it."""
        source = self._settings.download_cookies_file
        if source is None:
            yield None
            return
        if not source.is_file():
            raise InvalidParams(
                f"the cookies file {source} does not exist", fix="fix or unset REELSCOPE_DOWNLOAD_COOKIES_FILE"
            )
        fd, name = tempfile.mkstemp(prefix="reelscope-cookies-", suffix=".txt")
        os.close(fd)
        try:
            shutil.copyfile(source, name)
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    def _params(self, force: bool, cookiefile: Path | None) -> dict[str, Any]:
        has_ffmpeg = shutil.which("ffmpeg") is not None
        params: dict[str, Any] = {
            "quiet": True,
            "noprogress": True,
            "logger": _YtDlpLog(),
            "noplaylist": True,
            "format": FORMAT_WITH_MERGE if has_ffmpeg else FORMAT_SINGLE_FILE,
            "outtmpl": self._outtmpl("%(extractor_key)s-%(id)s", literal=False),
            "writethumbnail": True,
            "overwrites": force,
            "continuedl": True,  # a transient failure leaves a .part file the next try resumes
            "retries": 0,
            "extractor_retries": 0,
            "fragment_retries": 1,
            "skip_unavailable_fragments": False,  # a video with holes is a failure, not a success
            "socket_timeout": self._settings.download_timeout_s,
            "external_downloader": {"default": "native"},
            "cachedir": False,
            "updatetime": False,
            "progress_hooks": [self._size_hook],
        }
        if has_ffmpeg:
            params["merge_output_format"] = "mp4"
        if cookiefile is not None:
            params["cookiefile"] = str(cookiefile)
        # From settings only: "" also stops yt-dlp from taking HTTP(S)_PROXY from the environment.
        params["proxy"] = self._proxy or ""
        return params

    def _outtmpl(self, stem: str, *, literal: bool = True) -> dict[str, str]:
        name = _escape_template(stem) if literal else stem
        return {
            "default": f"{_escape_template(str(self.videos_dir))}/{name}.%(ext)s",
            "thumbnail": f"{_escape_template(str(self.thumbnails_dir))}/{name}.%(ext)s",
        }

    # -- limits
    def _check_reported_limits(self, info: dict[str, Any]) -> None:
        if isinstance(duration_s := info.get("duration"), int | float):
            self._check_duration(duration_s)
        size_bytes = reported_size_bytes(info)
        if size_bytes is not None and size_bytes > self._settings.max_file_size_bytes:
            raise DownloadTooLarge(self._too_large_message(size_bytes), fix=_FIX_SIZE)

    def _size_hook(self, progress: dict[str, Any]) -> None:
        # Called by yt-dlp as bytes arrive; raising here aborts the transfer mid-way. total_bytes is the
        # announced Content-Length (not the estimate, which overshoots early in HLS downloads).
        seen = max(int(progress.get("total_bytes") or 0), int(progress.get("downloaded_bytes") or 0))
        if seen > self._settings.max_file_size_bytes:
            raise DownloadTooLarge(self._too_large_message(seen), fix=_FIX_SIZE)

    def _too_large_message(self, size_bytes: int) -> str:
        return f"the video is {size_bytes} bytes, over the {self._settings.max_file_size_bytes} byte limit"

    def _check_file(self, video: Path) -> None:
        size_bytes = video.stat().st_size
        if size_bytes == 0:
            raise DownloadFailed(f"the download of {video.name} is empty", fix="check that the URL is a video page")
        if size_bytes > self._settings.max_file_size_bytes:
            raise DownloadTooLarge(self._too_large_message(size_bytes), fix=_FIX_SIZE)
        try:
            duration_s = probe(video).duration_s
        except ReelscopeError as exc:  # UnsupportedMedia, DecodeFailed, ...
            raise DownloadFailed(
                f"the download of {video.name} is not a playable video: {exc.message}",
                fix="check that the URL is a video page",
            ) from exc
        self._check_duration(duration_s)

    def _check_duration(self, duration_s: float) -> None:
        limit_s = self._settings.download_max_duration_s
        if duration_s > limit_s:
            raise DownloadTooLarge(
                f"the video lasts {duration_s:.0f} s, over the {limit_s:.0f} s limit", fix=_FIX_DURATION
            )

    # -- files
    def _finished_file(self, info: dict[str, Any]) -> Path:
        requested = info.get("requested_downloads") or []
        path = requested[0].get("filepath") if requested else None
        if not path or not Path(path).is_file():
            raise DownloadFailed("yt-dlp reported no downloaded file", fix="retry; if it persists, upgrade yt-dlp")
        return Path(path)

    def _thumbnail(self, stem: str) -> Path | None:
        found = [p for p in self.thumbnails_dir.glob(f"{glob.escape(stem)}.*") if p.suffix not in {".part", ".tmp"}]
        return sorted(found)[0] if found else None

    def _discard(self, stem: str, *, finished: bool) -> None:
        """Drop the partial files of a failed download; with ``finished``, the refused video and thumbnail too."""
        for folder in (self.videos_dir, self.thumbnails_dir):
            for path in folder.glob(f"{glob.escape(stem)}.*"):
                if finished or path.name.endswith((".part", ".ytdl", ".temp")):
                    path.unlink(missing_ok=True)

    def _index_path(self, url: str) -> Path:
        return self.metadata_dir / "urls" / f"{hashlib.sha256(url.encode()).hexdigest()}.json"

    def _cached(self, url: str, started_s: float) -> Downloaded | None:
        try:
            entry = json.loads(self._index_path(url).read_text())
            video = self.videos_dir / entry["video"]
            metadata_path = self.metadata_dir / f"{entry['stem']}.json"
            platform = json.loads(metadata_path.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not video.is_file() or video.stat().st_size == 0:
            return None
        thumbnail = self.thumbnails_dir / entry["thumbnail"] if entry.get("thumbnail") else None
        if thumbnail is not None and not thumbnail.is_file():
            thumbnail = None
        return Downloaded(url, video, metadata_path, thumbnail, platform, True, 0, time.monotonic() - started_s)

    # -- retry policy
    def _wait_s(self, state: RetryCallState) -> float:
        backoff_s = wait_random_exponential(
            multiplier=self._settings.download_backoff_base_s, max=self._settings.download_backoff_max_s
        )(state)
        error = state.outcome.exception() if state.outcome else None
        return max(backoff_s, getattr(error, "retry_after_s", None) or 0.0)

    def _backoff_cap_s(self, attempt: int) -> float:
        return min(self._settings.download_backoff_max_s, self._settings.download_backoff_base_s * 2 ** (attempt - 1))


class _stop_if_retry_after_too_long(stop_base):
    """Stop at once when a site asks for a longer pause than ``download_backoff_max_s``: a bulk run is
    better off moving on and coming back than sleeping for an hour."""

    def __init__(self, max_s: float) -> None:
        self._max_s = max_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after_s = getattr(error, "retry_after_s", None)
        return retry_after_s is not None and retry_after_s > self._max_s


class _YtDlpLog:
    """yt-dlp's logger interface onto ours. Errors go to debug: they are raised as exceptions too."""

    def debug(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        quiet = "Falling back on generic information extractor" in message  # routine for direct links
        log.log(logging.DEBUG if quiet else logging.WARNING, "yt-dlp: %s", message)

    def error(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, DownloadFailed) and exc.transient


def _allow_all(ip: str) -> bool:
    return True


def _escape_template(text: str) -> str:
    # yt-dlp output templates are %-formatted and have $VARS expanded: keep paths literal.
    return text.replace("%", "%%").replace("$", "$$")


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def downloader_for(settings: Settings) -> Downloader:
    """The downloader every entry point uses (CLI, API, bulk runs, Ray actors): rate-limited per site
    through the limiter file in the data dir, which every process on that data dir shares."""
    return Downloader(settings, limiter=HostRateLimiter.from_settings(settings))
