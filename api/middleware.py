"""The API edge as one pure-ASGI middleware: request id, body limit, metrics, access log.

Pure ASGI (not ``BaseHTTPMiddleware``) so that it costs microseconds per request on
the ping hot path.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import request_id_var
from api.errors import problem

access_log = logging.getLogger("geocommerce.access")

REQUESTS = Counter(
    "geocommerce_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
LATENCY = Histogram(
    "geocommerce_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_VALID_RID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class EdgeMiddleware:
    """Request id in and out, request-body size limit (413), metrics and access log."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = body_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = None
        content_length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                rid = candidate if _VALID_RID.match(candidate) else None
            elif name == b"content-length":
                content_length = value
        rid = rid or uuid.uuid4().hex
        token = request_id_var.set(rid)
        rid_header = (b"x-request-id", rid.encode())
        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _too_large(limit))
            return message

        try:
            if content_length is not None and _int(content_length) > limit:
                await problem(
                    413, "Payload too large", _too_large(limit), instance=scope["path"]
                )(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        except HTTPException as exc:  # raised by receive_wrapper outside a route
            if response_started:
                raise
            await problem(
                exc.status_code,
                "Payload too large",
                str(exc.detail),
                instance=scope["path"],
            )(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            labels = (scope["method"], template, str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("request", extra=_access(scope, status, elapsed))
            request_id_var.reset(token)


def _int(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _too_large(limit: int) -> str:
    return f"the request body exceeds the limit of {limit} bytes for this endpoint"


def _access(scope: Scope, status: int, elapsed: float) -> dict[str, Any]:
    return {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(elapsed * 1000, 3),
    }
