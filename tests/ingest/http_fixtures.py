"""A local threaded HTTP server for download tests: files with Range support, scripted failures
(``503`` twice then ``200``), ``429`` with ``Retry-After``, redirects, and HTML pages that embed a
video (``<video src>``, ``og:video``, ``og:image``). It records every request it sees, so a test can
prove that a cached download or a refused URL never reached it.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_TYPES = {".mp4": "video/mp4", ".mkv": "video/x-matroska", ".jpg": "image/jpeg", ".png": "image/png"}


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Answers given before the normal one, one per request: (status, headers), e.g. 503 twice.
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    target: str = ""  # the request line's target as sent: absolute ("http://host/x") when sent to a proxy


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # yt-dlp's generic extractor reads the head of a video and hangs up: not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class MediaServer:
    """``with MediaServer() as server: server.add_file("/v.mp4", path); server.url("/v.mp4")``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self.requests: list[Seen] = []
        self._httpd = _QuietServer((host, 0), self._handler_class())
        self.host, self.port = host, self._httpd.server_address[1]
        # A short poll interval: shutdown() waits for one poll, and every test stops a server.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="media-server", daemon=True
        )

    # -- routes
    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def add_file(self, path: str, source: Path, content_type: str | None = None) -> str:
        kind = content_type or _TYPES.get(source.suffix.lower(), "application/octet-stream")
        return self.add(path, Route(body=source.read_bytes(), content_type=kind))

    def add_page(self, path: str, html: str) -> str:
        return self.add(path, Route(body=html.encode(), content_type="text/html; charset=utf-8"))

    def add_status(self, path: str, status: int, headers: dict[str, str] | None = None) -> str:
        body = f"<html><body>status {status}</body></html>".encode()
        return self.add(path, Route(body=body, content_type="text/html", status=status, headers=headers or {}))

    def add_redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.add(path, Route(status=status, headers={"Location": location}))

    def fail_first(self, path: str, failures: list[tuple[int, dict[str, str]]]) -> None:
        """Answer the next ``len(failures)`` requests for ``path`` with these statuses, then normally."""
        with self._lock:
            self._routes[path].script.extend(failures)

    def add(self, path: str, route: Route) -> str:
        with self._lock:
            self._routes[path] = route
        return self.url(path)

    def seen(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    # -- lifecycle
    def __enter__(self) -> MediaServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- the handler
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def _answer(self, send_body: bool) -> None:
                path = urlsplit(self.path).path if "://" in self.path else self.path.split("?", 1)[0]
                with server._lock:
                    server.requests.append(Seen(self.command, path, dict(self.headers.items()), self.path))
                    route = server._routes.get(path)
                    scripted = route.script.pop(0) if route and route.script else None
                if route is None:
                    return self._send(404, {"Content-Type": "text/plain"}, b"not found", send_body)
                if scripted is not None:
                    status, headers = scripted
                    return self._send(status, {"Content-Type": "text/plain", **headers}, b"scripted failure", send_body)
                headers = {"Content-Type": route.content_type, "Accept-Ranges": "bytes", **route.headers}
                body, status = route.body, route.status
                match = _RANGE_RE.match(self.headers.get("Range", "")) if status == 200 else None
                if match and body:
                    first = int(match.group(1) or 0)
                    last = min(int(match.group(2) or len(body) - 1), len(body) - 1)
                    if first >= len(body):
                        headers["Content-Range"] = f"bytes */{len(body)}"
                        return self._send(416, headers, b"", send_body)
                    headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
                    body, status = body[first : last + 1], 206
                self._send(status, headers, body, send_body)

            def _send(self, status: int, headers: dict[str, str], body: bytes, send_body: bool) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

        return Handler


def video_page(video_url: str, *, title: str = "A test clip", image_url: str | None = None, og: bool = False) -> str:
    """An HTML page embedding one video: a ``<video src>`` tag, or only Open Graph tags with ``og=True``."""
    image = f'<meta property="og:image" content="{image_url}">' if image_url else ""
    if og:
        meta = f'<meta property="og:video" content="{video_url}"><meta property="og:video:type" content="video/mp4">'
        body = "<p>watch it</p>"
    else:
        meta, body = "", f'<video controls src="{video_url}"></video>'
    return (
        f'<!DOCTYPE html><html><head><title>{title}</title><meta property="og:title" content="{title}">'
        f"{meta}{image}</head><body>{body}</body></html>"
    )


@contextmanager
def serving() -> Iterator[MediaServer]:
    with MediaServer() as server:
        yield server
