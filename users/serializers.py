from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from users.models import User
from webui_backend.serializers import StrictCharField, UnixTimestampField

NAME_MAX = 255
PASSWORD_MAX = 1024  # argon2 on megabytes of input is a denial of service


def password_field() -> StrictCharField:
    return StrictCharField(max_length=PASSWORD_MAX, trim_whitespace=False, write_only=True)


def check_password_strength(password: str, *, user: User | None = None) -> str:
    """Django's password validators, as a DRF field error."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(list(exc.messages)) from None
    return password


class UserOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    created_at = UnixTimestampField(read_only=True)
    last_active_at = UnixTimestampField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "name",
            "email",
            "role",
            "profile_image_url",
            "last_active_at",
            "created_at",
        ]
        read_only_fields = fields


class SessionOutputSerializer(serializers.Serializer):
    """``{token, user}`` as the contract shows, plus what a client needs to keep the session."""

    token = serializers.CharField(help_text="JWT access token for `Authorization: Bearer`.")
    token_type = serializers.CharField()
    expires_at = serializers.IntegerField(help_text="When the access token expires (Unix seconds).")
    refresh_token = serializers.CharField(help_text="Trade at /api/auths/refresh for a new pair.")
    user = UserOutputSerializer()
