from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from users.models import ApiKey, AuditLog, User
from webui_backend.serializers import StrictCharField, StrictSerializer, UnixTimestampField

NAME_MAX = 255
PASSWORD_MAX = 1024  # argon2 on megabytes of input is a denial of service


def password_field(**kwargs: object) -> StrictCharField:
    return StrictCharField(
        max_length=PASSWORD_MAX, trim_whitespace=False, write_only=True, **kwargs
    )


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


class UserDetailOutputSerializer(UserOutputSerializer):
    """An account as its owner and admins see it on /api/users/ routes."""

    updated_at = UnixTimestampField(read_only=True)

    class Meta(UserOutputSerializer.Meta):
        fields = [
            *UserOutputSerializer.Meta.fields,
            "is_active",
            "daily_token_budget",
            "updated_at",
        ]
        read_only_fields = fields


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    """A key as its owner lists it: never the key itself, only its first characters."""

    id = serializers.CharField(read_only=True)
    expires_at = UnixTimestampField(read_only=True)
    last_used_at = UnixTimestampField(read_only=True)
    created_at = UnixTimestampField(read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "model",
            "daily_token_budget",
            "expires_at",
            "last_used_at",
            "created_at",
        ]
        read_only_fields = fields


class ApiKeyCreatedOutputSerializer(serializers.Serializer):
    """``{api_key, name, created_at}`` as the contract shows, plus the key's other fields."""

    api_key = serializers.CharField(help_text="The key itself: shown this once, never again.")
    key = ApiKeyOutputSerializer()

    def to_representation(self, instance: object) -> dict:
        data = super().to_representation(instance)
        return {"api_key": data["api_key"], **data["key"]}


class AuditLogOutputSerializer(serializers.ModelSerializer):
    actor_id = serializers.CharField(read_only=True, allow_null=True)
    created_at = UnixTimestampField(read_only=True)

    class Meta:
        model = AuditLog
        fields = [
            "id",
            "actor_id",
            "actor_email",
            "action",
            "target_type",
            "target_id",
            "detail",
            "created_at",
        ]
        read_only_fields = fields


class RateInputSerializer(StrictSerializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=1_000_000, help_text="Requests allowed in one window."
    )
    window = serializers.IntegerField(
        min_value=1, max_value=86_400, help_text="The window's length in seconds."
    )


class RateLimitPolicySerializer(RateInputSerializer):
    """The request-rate policy, in and out: a default rate, exempt roles, per-role rates."""

    exempt_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=User.Role.choices), required=False, default=list
    )
    role_overrides = serializers.DictField(
        child=RateInputSerializer(), required=False, default=dict
    )

    def validate_role_overrides(self, value: dict) -> dict:
        unknown = sorted(set(value) - set(User.Role.values))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown role(s) {unknown}; roles are {sorted(User.Role.values)}."
            )
        return value
