"""One error format for every route: ``{"detail": "<sentence>", "code": "<snake_case>"}``.

Validation errors add ``fields`` (field name -> list of messages). DRF's exceptions,
simplejwt's token errors, Django's Http404/PermissionDenied and Django's own 400/403/404/500
handlers all come out in this shape.
"""

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class AppError(exceptions.APIException):
    """Base of our own errors: raise a subclass, never build an error response by hand."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request could not be processed."
    default_code = "bad_request"

    def __init__(self, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(detail or self.default_detail, code or self.default_code)


class NotFound(AppError):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."
    default_code = "not_found"


class Conflict(AppError):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class Forbidden(AppError):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "You do not have permission to perform this action."
    default_code = "permission_denied"


class Unauthorized(AppError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "Authentication credentials were not provided or are invalid."
    default_code = "not_authenticated"


class PayloadTooLarge(AppError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class DatabaseUnavailable(AppError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; retry shortly."
    default_code = "database_unavailable"


class RateLimited(AppError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many requests; try again later."
    default_code = "rate_limited"

    def __init__(
        self,
        detail: str | None = None,
        code: str | None = None,
        *,
        retry_after: int = 60,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail, code)
        self.retry_after = max(1, int(retry_after))
        self.headers = headers or {}


class TooManyParts(AppError):
    default_detail = "The request has too many fields or files."
    default_code = "too_many_parts"


def error_body(detail: str, code: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if fields:
        body["fields"] = fields
    return body


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested validation detail into ``{"a.b": ["message", ...]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and detail and all(not isinstance(d, dict | list) for d in detail):
        return {prefix or "non_field_errors": [str(d) for d in detail]}
    if isinstance(detail, list):
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "non_field_errors": [str(detail)]}


def _validation_body(exc: exceptions.ValidationError) -> dict[str, Any]:
    fields = _flatten(exc.detail)
    name, messages = next(iter(fields.items()))
    sentence = messages[0] if name == "non_field_errors" else f"{name}: {messages[0]}"
    return error_body(sentence, "invalid", fields)


def _code_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict) and "code" in detail:  # simplejwt's InvalidToken
        return str(detail["code"])
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def _sentence_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return str(detail.get("detail", exc.default_detail))
    if isinstance(detail, list):
        return str(detail[0]) if detail else str(exc.default_detail)
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every handled error gets the one shape."""
    # Imported here: rest_framework.views loads the authentication, permission, parser and
    # throttle classes, which raise the errors of this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = Forbidden()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        # A client's mistake (or a flood of them): one line each, not Django's traceback.
        logger.warning("refused a request: %s (%s)", exc, type(exc).__name__)
        exc = TooManyParts(str(exc).replace("settings.", ""))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's handler500 answers, in the same shape
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc)
    elif isinstance(exc, exceptions.APIException):
        response.data = error_body(_sentence_of(exc), _code_of(exc))
        if response.status_code == 401 and "WWW-Authenticate" not in response:
            response["WWW-Authenticate"] = 'Bearer realm="api"'  # a 401 must name its scheme
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
            for name, value in exc.headers.items():
                response[name] = value
    return response


def error_json_response(request: HttpRequest, exc: Exception) -> JsonResponse:
    """The one error shape for views outside DRF (plain async views): ``exc`` handled as DRF
    would, with its headers (Retry-After, WWW-Authenticate, ...). Unexpected errors re-raise."""
    response = exception_handler(exc, {"request": request})
    if response is None:
        raise exc
    out = JsonResponse(response.data, status=response.status_code)
    for name, value in response.items():
        if name.lower() != "content-type":
            out[name] = value
    return out


def _json_error(status_code: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(detail, code), status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig):
        return _json_error(413, PayloadTooLarge.default_detail, PayloadTooLarge.default_code)
    return _json_error(400, "Bad request.", "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(403, Forbidden.default_detail, Forbidden.default_code)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(404, "Not found.", "not_found")


def server_error(request: HttpRequest) -> JsonResponse:
    # Called inside the except block of the unhandled error: a database that cannot be reached
    # (restarting, failing over, pool exhausted) is a 503 to retry, not a server fault.
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        error = DatabaseUnavailable
        response = _json_error(503, error.default_detail, error.default_code)
        response["Retry-After"] = "2"
        return response
    return _json_error(500, "An internal error occurred.", "server_error")
