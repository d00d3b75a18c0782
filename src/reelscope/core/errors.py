"""The one error tree. Each class knows its CLI exit code and HTTP status.

Third-party exceptions are translated at their seam (PyAV in media/, the executors for worker
failures) and always chained with ``raise ... from exc``.
"""

from __future__ import annotations


class ReelscopeError(Exception):
    """Base of every error reelscope raises on purpose."""

    exit_code = 1
    http_status = 500
    code = "internal_error"

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "fix": self.fix}


class InputError(ReelscopeError):
    exit_code = 2
    http_status = 422
    code = "invalid_input"


class UnknownAnalyzer(InputError):
    code = "unknown_analyzer"


class InvalidParams(InputError):
    code = "invalid_params"


class BadRequest(InputError):
    """A malformed request: JSON that does not parse, a multipart body without its file part."""

    http_status = 400
    code = "bad_request"


class Unauthorized(InputError):
    http_status = 401
    code = "unauthorized"


class RequestTooLarge(InputError):
    http_status = 413
    code = "request_too_large"


class UnsupportedContentType(InputError):
    http_status = 415
    code = "unsupported_content_type"


class IdempotencyConflict(InputError):
    """An Idempotency-Key reused for a different request."""

    http_status = 409
    code = "idempotency_conflict"


class JobConflict(InputError):
    """The job's state does not allow the request (cancel an ended job, the report of a running one)."""

    http_status = 409
    code = "job_conflict"


class BackendUnavailable(InputError):
    """A run backend that is not installed or cannot be reached (``--backend ray`` without Ray)."""

    code = "backend_unavailable"


class UnsupportedMedia(InputError):
    exit_code = 4
    http_status = 415
    code = "unsupported_media"


class PathNotAllowed(InputError):
    http_status = 403
    code = "path_not_allowed"


class UrlNotAllowed(InputError):
    """A URL with a scheme other than http(s), or whose host resolves to a loopback, private,
    link-local or otherwise non-public address (server-side request forgery)."""

    code = "url_not_allowed"


class MediaError(ReelscopeError):
    exit_code = 3
    http_status = 422
    code = "media_error"


class MediaNotFound(MediaError):
    http_status = 404
    code = "media_not_found"


class DownloadFailed(MediaError):
    """A video could not be fetched. ``transient`` errors are worth retrying later (network,
    rate limits); the others will fail the same way again. yt-dlp's exceptions become one of the
    subclasses below in ``ingest/download.py``."""

    http_status = 502
    code = "download_failed"
    transient = False


class VideoPrivate(DownloadFailed):
    """Private, friends-only, or behind a login the configured cookies do not give."""

    http_status = 403
    code = "video_private"


class VideoRemoved(DownloadFailed):
    """Deleted, taken down, or never existed at that address."""

    http_status = 410
    code = "video_removed"


class GeoBlocked(DownloadFailed):
    http_status = 451
    code = "geo_blocked"


class DownloadRateLimited(DownloadFailed):
    """The platform answered 429 or asked us to slow down."""

    http_status = 429
    code = "rate_limited"
    transient = True

    def __init__(self, message: str, *, retry_after_s: float | None = None, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.retry_after_s = retry_after_s


class ExtractorBroken(DownloadFailed):
    """yt-dlp's extractor for the site no longer understands its pages (usually fixed by a newer yt-dlp)."""

    code = "extractor_broken"


class UnsupportedUrl(DownloadFailed):
    """No video found at the URL: no extractor matches and the page embeds none."""

    http_status = 422
    code = "unsupported_url"


class DownloadTooLarge(DownloadFailed):
    """Over the configured size or duration limit; refused before or while downloading."""

    http_status = 413
    code = "download_too_large"


class NetworkError(DownloadFailed):
    """Connection refused or reset, timeouts, DNS failures, 5xx answers."""

    http_status = 502
    code = "network_error"
    transient = True


class DecodeFailed(MediaError):
    exit_code = 4
    code = "decode_failed"


class AnalyzerError(ReelscopeError):
    exit_code = 5
    code = "analyzer_error"


class MissingDependency(AnalyzerError):
    code = "missing_dependency"


class ModelUnavailable(AnalyzerError):
    code = "model_unavailable"


class TaskTimedOut(ReelscopeError):
    exit_code = 6
    http_status = 504
    code = "task_timed_out"


class WorkerCrashed(ReelscopeError):
    exit_code = 6
    code = "worker_crashed"


class JobCancelled(ReelscopeError):
    """The job was cancelled (``DELETE /v1/jobs/{id}``) before it finished."""

    exit_code = 130
    http_status = 409
    code = "job_cancelled"


class QueueFull(ReelscopeError):
    """Backpressure: the durable queue holds its maximum of waiting jobs."""

    exit_code = 75
    http_status = 429
    code = "queue_full"

    def __init__(self, message: str, *, retry_after_s: int, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.retry_after_s = retry_after_s


class StoreError(ReelscopeError):
    exit_code = 7
    code = "store_error"


class NotInReport(StoreError):
    """A report asked for an analyzer its job did not run."""

    http_status = 404
    code = "analyzer_not_in_report"


class JobNotFound(StoreError):
    http_status = 404
    code = "job_not_found"
