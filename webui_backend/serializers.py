"""Serializer building blocks shared by every app: strict input, Unix-second timestamps."""

import threading
from datetime import datetime
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

_serializers = threading.local()  # validated(): one instance per class and thread


def validated(cls: type[serializers.Serializer], data: Any) -> Any:
    """What ``cls(data=data).is_valid(raise_exception=True)`` validates (the same errors),
    from one instance per thread.

    DRF builds a serializer's fields, and its nested serializers' fields, anew for every
    instance: a deep copy of each declared field, which re-runs its constructor. For the chat
    body of Open WebUI's frontend that was two thirds of validating it (0.7 of 1.1 ms a
    request), and 0.15 ms of a chat list page for its eight query parameters. Validating keeps
    nothing on the fields, so the instance is kept for the thread's next request, and its data
    and results are dropped after each use.
    """
    kept = _serializers.__dict__.setdefault("kept", {})
    serializer = kept.get(cls)
    if serializer is None:
        serializer = kept[cls] = cls()
    serializer.initial_data = data
    try:
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
    finally:
        for name in ("initial_data", "_validated_data", "_errors"):
            serializer.__dict__.pop(name, None)


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses keys it does not know and non-object bodies.

    DRF silently drops unknown keys; a client that misspells a field should hear about it.
    """

    @classmethod
    def validated(cls, data: Any) -> Any:
        """``validated(cls, data)``: see there."""
        return validated(cls, data)

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors = {name: ["This field is not allowed."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not errors or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **errors}) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value


class _StringsOnly(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(_StringsOnly):
    """A CharField that takes strings only: ``123`` or ``true`` is a type error, not text."""

    default_error_messages = {"invalid": "Must be a string."}


class CredentialField(StrictCharField):
    """A secret sent on as an HTTP header (an upstream's API key): printable ASCII, no spaces.

    Anything else could never be sent, and would fail later, in a job or a completion.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 500)
        super().__init__(**kwargs)
        self.validators.append(
            RegexValidator(
                r"^[\x21-\x7e]*\Z", "Must be printable ASCII without spaces (as API keys are)."
            )
        )


class StrictEmailField(_StringsOnly, serializers.EmailField):
    default_error_messages = {"invalid": "Enter a valid email address."}


@extend_schema_field(OpenApiTypes.INT)
class UnixTimestampField(serializers.Field):
    """A datetime shown as whole Unix seconds (the contract's timestamp format)."""

    def to_representation(self, value: datetime | None) -> int | None:
        return int(value.timestamp()) if value is not None else None

    def to_internal_value(self, data: Any) -> Any:
        raise NotImplementedError("UnixTimestampField is read-only.")
