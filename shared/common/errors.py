"""The one error shape every service returns: {"error": {"code", "message"}}."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """Raise from a route to send a specific 4xx/5xx with a stable error code."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers


# Phrases that changed between Python versions are pinned here.
_STABLE_CODES = {413: "content_too_large", 422: "unprocessable_content"}


def code_for_status(status_code: int) -> str:
    """404 -> "not_found", 405 -> "method_not_allowed", ..."""
    if status_code in _STABLE_CODES:
        return _STABLE_CODES[status_code]
    try:
        return (
            HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        )
    except ValueError:
        return "error"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}
