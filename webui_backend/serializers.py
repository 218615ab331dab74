"""Serializer building blocks shared by every app: strict input, Unix-second timestamps."""

from datetime import datetime
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses keys it does not know and non-object bodies.

    DRF silently drops unknown keys; a client that misspells a field should hear about it.
    """

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
