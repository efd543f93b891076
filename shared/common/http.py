"""FastAPI skeleton shared by every service.

Gives each service the same operational surface (health, version, metrics,
request logs) and the same error contract: invalid input is always a 4xx
``{"error": {"code", "message"}}`` body, never a 500 or an HTML page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import ApiError, code_for_status, error_body
from common.settings import Settings

# Raises (any exception) when the service cannot serve traffic; message = reason.
ReadyCheck = Callable[[], None]

MAX_BODY_BYTES = 64 * 1024
SERVED_BY = "X-Served-By"  # on every response the service itself produced
_QUIET_PATHS = ("/health/live", "/health/ready", "/metrics")


def _text(value: Any) -> str:
    # Client-supplied strings may hold lone surrogates that cannot be encoded.
    return str(value).encode("utf-8", "replace").decode("utf-8")


class _BodySizeLimit:
    """413 JSON for oversized bodies, whether declared or streamed (chunked).

    FastAPI's own ``max_body_size`` answers in plain text, which would break
    the JSON error contract.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            body = error_body("content_too_large", "request body too large")
            await JSONResponse(body, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # fastapi's HTTPException: FastAPI re-raises it from body parsing
                # instead of turning it into a generic 400.
                raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, limited_receive, send)


class _Metrics:
    """Per-app registry so several apps in one test process do not collide."""

    def __init__(self, service: str, version: str, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            "http_requests_total", "HTTP requests.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency.",
            ("method", "route"),
            registry=self.registry,
        )
        self.errors = Counter(
            "http_request_errors_total",
            "HTTP requests answered with a 5xx.",
            ("method", "route"),
            registry=self.registry,
        )
        info = Gauge(
            "service_info",
            "Build information; value is always 1.",
            ("service", "version", "git_sha", "image_tag"),
            registry=self.registry,
        )
        info.labels(service, version, settings.git_sha, settings.image_tag).set(1)


def create_base_app(
    service_name: str,
    version: str,
    settings: Settings,
    ready_check: ReadyCheck | None = None,
) -> FastAPI:
    logger = logging.getLogger(f"{service_name}.http")
    metrics = _Metrics(service_name, version, settings)
    app = FastAPI(title=f"{service_name} service", version=version)
    app.state.settings = settings
    app.state.metrics_registry = metrics.registry
    # Added before ``observe`` so that ``observe`` wraps it and counts its 413s.
    app.add_middleware(_BodySizeLimit)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[..., Any]) -> Response:
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            # Handled here rather than by an Exception handler so the failure is
            # logged and counted once and the client still gets the JSON shape.
            logger.exception(
                "unhandled error",
                extra={"method": request.method, "path": request.url.path},
            )
            body = error_body("internal_error", "internal server error")
            response = JSONResponse(body, status_code=500)
        elapsed = time.perf_counter() - start
        # Label by route template, not raw path, to keep metric cardinality bounded.
        route = getattr(request.scope.get("route"), "path", None) or "unmatched"
        status = response.status_code
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
        if status >= 500:
            metrics.errors.labels(request.method, route).inc()
        quiet = request.url.path in _QUIET_PATHS and status < 400
        logger.log(
            logging.DEBUG if quiet else logging.INFO,
            "request",
            extra={
                "method": request.method,
                "path": _text(request.url.path),
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
        # Marks responses the service produced, as opposed to the proxy's own error
        # pages: the load generator (testing/loadgen.py) counts the others as failures.
        response.headers[SERVED_BY] = service_name
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        body = error_body(exc.code, exc.message)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = error_body(code_for_status(exc.status_code), _text(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        # Only loc/msg/type: pydantic's "input"/"ctx" may not be JSON-encodable.
        details = [
            {
                "loc": [_text(part) for part in err.get("loc", ())],
                "msg": _text(err.get("msg", "")),
                "type": _text(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        if any(d["type"] == "json_invalid" for d in details):
            body = error_body("invalid_json", "request body is not valid JSON")
            return JSONResponse(body, status_code=400)
        message = (
            "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
            or "invalid request"
        )
        body = error_body("validation_error", message, details=details)
        return JSONResponse(body, status_code=422)

    @app.get("/health/live", tags=["ops"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["ops"])
    async def ready() -> JSONResponse:
        if ready_check is not None:
            try:
                await run_in_threadpool(ready_check)
            except Exception as exc:
                reason = _text(exc) or type(exc).__name__
                logger.warning("not ready", extra={"reason": reason})
                body = {"status": "unavailable", "reason": reason}
                return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/version", tags=["ops"])
    async def version_info() -> dict[str, Any]:
        return {
            "service": service_name,
            "version": version,
            "git_sha": settings.git_sha,
            "image_tag": settings.image_tag,
            "feature_flags": dict(settings.feature_flags),
        }

    @app.get("/metrics", tags=["ops"])
    async def metrics_endpoint() -> Response:
        payload = generate_latest(metrics.registry)
        return Response(payload, media_type=CONTENT_TYPE_LATEST)

    return app
