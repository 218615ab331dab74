from rest_framework import serializers

from functions.models import Function
from webui_backend.serializers import UnixTimestampField

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


def function_name_field(**kwargs: object) -> serializers.RegexField:
    return serializers.RegexField(
        NAME_PATTERN,
        max_length=64,
        error_messages={"invalid": "Must be a Python identifier of ASCII letters, digits and _."},
        **kwargs,
    )


class FunctionOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    user_id = serializers.CharField(read_only=True)
    parameters = serializers.JSONField(
        read_only=True, help_text="JSON schema of the arguments, read from the signature."
    )
    created_at = UnixTimestampField(read_only=True)
    updated_at = UnixTimestampField(read_only=True)

    class Meta:
        model = Function
        fields = [
            "id",
            "name",
            "type",
            "user_id",
            "content",
            "description",
            "parameters",
            "is_active",
            "is_global",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RunOutputSerializer(serializers.Serializer):
    result = serializers.JSONField(help_text="What the function returned (any JSON value).")
    stdout = serializers.CharField(help_text="What it printed (stdout and stderr), capped.")
    duration_ms = serializers.FloatField(help_text="Wall time of the sandboxed run.")
