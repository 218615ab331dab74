"""The errors the client raises. All derive from ``WebUIError`` and carry ``detail`` and ``code``.

Answers of the server map by status: 400/422 ``ValidationError`` (with ``fields``), 401
``AuthenticationError``, 403 ``PermissionDeniedError``, 404 ``NotFoundError``, 409
``ConflictError``, 429 ``RateLimitError`` (with ``retry_after``), any other 4xx/5xx
``APIError``. Each of these is an ``APIError`` with ``status_code`` and the ``response``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "ConflictError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "StreamParseError",
    "ValidationError",
    "WebUIError",
    "error_from_response",
    "raise_for_status",
]


class WebUIError(Exception):
    """The base of every error of this client."""

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class APIError(WebUIError):
    """The server answered with an error status (or a stream carried an error)."""

    def __init__(
        self,
        detail: str,
        *,
        status_code: int,
        code: str | None = None,
        response: httpx.Response | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(detail, code=code)
        self.status_code = status_code
        self.response = response
        self.body = body

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"{self.status_code}{code}: {self.detail}"


class AuthenticationError(APIError):
    """401: no credential, or a bad, expired or revoked one."""


class PermissionDeniedError(APIError):
    """403: signed in, but not allowed (an admin route, a key's scope, a pending account)."""


class NotFoundError(APIError):
    """404: missing, or not yours (the server answers both the same)."""


class ConflictError(APIError):
    """409: the write conflicts with what is stored (a taken id, a reused idempotency key)."""


class ValidationError(APIError):
    """400 or 422: the request was refused; ``fields`` names what was wrong, per field."""

    def __init__(self, detail: str, *, fields: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.fields: dict[str, Any] = fields or {}


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` (seconds) is the server's ``Retry-After``."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.retry_after = retry_after


class StreamParseError(WebUIError):
    """A streamed chunk that is not the JSON (or SSE) it should be."""

    def __init__(self, detail: str, *, code: str | None = "stream_parse_error") -> None:
        super().__init__(detail, code=code)


class APIConnectionError(WebUIError):
    """The server could not be reached, or the connection broke before the answer ended."""

    def __init__(self, detail: str = "Connection error.", *, code: str | None = None) -> None:
        super().__init__(detail, code=code or "connection_error")


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's ``timeout``."""

    def __init__(self, detail: str = "Request timed out.", *, code: str | None = None) -> None:
        super().__init__(detail, code=code or "timeout")


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (its delta-seconds form), or None."""
    raw = response.headers.get("Retry-After", "").strip()
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _body(response: httpx.Response) -> Any:
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return None
    try:
        return json.loads(content) if content else None
    except ValueError:
        return content.decode("utf-8", "replace")[:500]


def error_from_response(response: httpx.Response) -> APIError:
    """Our error for an error answer: ``{detail, code, fields?}`` (FastGPT's envelope too)."""
    body = _body(response)
    error = body
    if (
        isinstance(body, dict)
        and body.get("success") is False
        and isinstance(body.get("data"), dict)
    ):
        error = body["data"]  # X-Response-Envelope: the usual body is its data
    detail = response.reason_phrase or f"HTTP {response.status_code}"
    code = None
    fields: dict[str, Any] = {}
    if isinstance(error, dict):
        if isinstance(error.get("error"), dict):  # an OpenAI-shaped error
            error = error["error"]
        detail = str(error.get("detail") or error.get("message") or detail)
        code = error.get("code") if isinstance(error.get("code"), str) else None
        if isinstance(error.get("fields"), dict):
            fields = error["fields"]
    elif isinstance(error, str) and error.strip():
        detail = error.strip()
    cls = _BY_STATUS.get(response.status_code, APIError)
    common: dict[str, Any] = {
        "status_code": response.status_code,
        "code": code,
        "response": response,
        "body": body,
    }
    if cls is ValidationError:
        return ValidationError(detail, fields=fields, **common)
    if cls is RateLimitError:
        return RateLimitError(detail, retry_after=retry_after_seconds(response), **common)
    return cls(detail, **common)


def raise_for_status(response: httpx.Response) -> httpx.Response:
    """Raise our error for a 4xx/5xx answer; return the response otherwise."""
    if response.status_code >= 400:
        raise error_from_response(response)
    return response
