"""``Idempotency-Key``: a retried write gets the first answer instead of happening twice."""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from webui_backend.errors import AppError, Conflict
from webui_backend.models import IdempotencyKey

HEADER = "Idempotency-Key"


class IdempotencyKeyReused(Conflict):
    default_detail = "This Idempotency-Key was already used with a different request body."
    default_code = "idempotency_key_reused"


class InvalidIdempotencyKey(AppError):
    default_detail = "The Idempotency-Key header must be 1-255 printable ASCII characters."
    default_code = "invalid_idempotency_key"


def idempotency_asked(request: Request) -> bool:
    """Whether the request carries an Idempotency-Key (``idempotent`` then stores its answer)."""
    return HEADER in request.headers


def idempotent(
    request: Request,
    *,
    scope: str,
    write: Callable[[], Response],
    fingerprint: str | None = None,
) -> Response:
    """Run ``write`` once per (user, scope, Idempotency-Key); replay its answer afterwards.

    The key is stored in the same transaction as the write, so it exists exactly when the
    write happened. ``fingerprint`` stands for the request body when it is not JSON (an upload
    passes its sha256). Two racing requests with one key: the second's insert of the key fails
    on the unique constraint, its own write rolls back with it, and it answers with the first's
    stored response. Without the header, ``write`` simply runs.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return write()
    if not (0 < len(key) <= 255) or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey()
    if fingerprint is None:
        fingerprint = hashlib.sha256(
            json.dumps(request.data, sort_keys=True, default=str).encode()
        ).hexdigest()
    lookup = {"user": request.user, "scope": scope, "key": key}
    stored = IdempotencyKey.objects.filter(**lookup).first()
    if stored is not None:
        return _replay(stored, fingerprint)
    try:
        with transaction.atomic():
            response = write()
            if response.status_code < 300:
                IdempotencyKey.objects.create(
                    **lookup,
                    fingerprint=fingerprint,
                    status_code=response.status_code,
                    response=_jsonable(response.data),
                )
    except IntegrityError:
        stored = IdempotencyKey.objects.filter(**lookup).first()
        if stored is None:
            raise
        return _replay(stored, fingerprint)
    return response


def _replay(stored: IdempotencyKey, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return Response(
        stored.response, status=stored.status_code, headers={"Idempotent-Replayed": "true"}
    )


def _jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))
