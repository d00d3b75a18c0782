"""One JSON error shape for every non-2xx answer, and the request guards that produce them: request
ids, body size limits, and the API key. Clients never see a stack trace; the log has it, under the
request id the client was given."""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelscope.core.errors import QueueFull, ReelscopeError, RequestTooLarge, Unauthorized

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def error_response(request_id: str, status: int, code: str, message: str, fix: str | None = None, headers=None):
    body = {"error": {"code": code, "message": message, "fix": fix, "status": status, "request_id": request_id}}
    return JSONResponse(body, status_code=status, headers={"X-Request-ID": request_id, **(headers or {})})


def _request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "") or uuid.uuid4().hex[:16]


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ReelscopeError)
    async def reelscope_error(request: Request, exc: ReelscopeError):
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, QueueFull) else {}
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        return error_response(_request_id(request), exc.http_status, exc.code, exc.message, exc.fix, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = list(exc.errors())
        if any(e.get("type") in ("json_invalid", "json_type") for e in errors):
            return error_response(_request_id(request), 400, "bad_request", "the body is not valid JSON: " + _describe(errors))
        return error_response(_request_id(request), 422, "invalid_request", _describe(errors))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(_request_id(request), exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        request_id = _request_id(request)
        log.exception("internal error on %s %s (request %s)", request.method, request.url.path, request_id)
        return error_response(request_id, 500, "internal_error", f"internal error; the server log has it under {request_id}")


class RequestGuard:
    """Pure ASGI middleware: gives each request an id, refuses bodies over their limit (uploads
    to POST /v1/jobs have their own, larger limit) while they stream in, and times requests for
    the metrics by their route template."""

    def __init__(self, app: ASGIApp, *, max_request_bytes: int, max_upload_bytes: int, observe=None) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        headers = dict(scope.get("headers") or [])
        is_upload = scope["path"] == "/v1/jobs" and headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.max_upload_bytes if is_upload else self.max_request_bytes
        status = {"code": 500}

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                if not any(k.lower() == b"x-request-id" for k, _ in message["headers"]):
                    message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            response = error_response(request_id, 413, "request_too_large", f"the body is {declared} bytes, over the {limit}-byte limit")
            await response(scope, receive, send_wrapped)
        else:
            received = 0

            async def receive_counted() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise RequestTooLarge(f"the body is over the {limit}-byte limit")
                return message

            await self.app(scope, receive_counted, send_wrapped)
        if self.observe is not None:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.observe(scope["method"], template, status["code"], time.perf_counter() - started)


def check_api_key(request: Request, expected: str | None) -> None:
    """Accept ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; compare in constant time."""
    if expected is None:
        return
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if given is None and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("missing or wrong API key", fix="send Authorization: Bearer <key> or X-API-Key: <key>")
