"""Input and output shapes of models, connections and completions."""

import copy
import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chats.serializers import MessageIdField
from llm.models import Connection, CustomModel
from webui_backend.serializers import StrictCharField, StrictSerializer

MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:/\-]{1,128}$")
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class StrictIntegerField(serializers.IntegerField):
    """An integer: ``"5"``, ``5.5`` and ``true`` are type errors."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A number (integer or float), never a string or a boolean."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)
class StopField(serializers.Field):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) or (
            isinstance(data, list) and len(data) <= 4 and all(isinstance(s, str) for s in data)
        ):
            return data
        raise serializers.ValidationError("Must be a string or a list of up to 4 strings.")

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "object"}]})
class ToolChoiceField(serializers.Field):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str | dict):
            return data
        raise serializers.ValidationError("Must be a string or an object.")

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field({"type": "object", "additionalProperties": True})
class ChatMessageField(serializers.Field):
    """One OpenAI message: ``{role, content}`` with text or content parts."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Each message must be an object.")
        role = data.get("role")
        if role not in ROLES:
            raise serializers.ValidationError(f"role must be one of {', '.join(ROLES)}.")
        content = data.get("content")
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise serializers.ValidationError(
                        "Each content part must be an object with a string 'type'."
                    )
                if part["type"] == "text" and not isinstance(part.get("text"), str):
                    raise serializers.ValidationError("A 'text' part needs a string 'text'.")
        elif content is None:
            if role != "assistant":
                raise serializers.ValidationError("content is required.")
        elif not isinstance(content, str):
            raise serializers.ValidationError("content must be a string or a list of parts.")
        if "name" in data and not isinstance(data["name"], str):
            raise serializers.ValidationError("name must be a string.")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class CompletionInputSerializer(serializers.Serializer):
    """OpenAI's chat-completion request plus FastGPT's and Open WebUI's chat fields.

    Not strict: fields this server does not know are passed through to the upstream.
    """

    def get_fields(self) -> dict[str, serializers.Field]:
        # DRF deep-copies every declared field for every instance, running each field's
        # constructor again: about 1 ms of every completion's way to its first token. These
        # fields keep no state of a request, so shallow copies (bound to this instance as
        # usual) do; a list's child field is shared, which only validates.
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}

    model = StrictCharField(max_length=255)
    messages = serializers.ListField(child=ChatMessageField(), allow_empty=False, max_length=10_000)
    stream = StrictBooleanField(required=False, default=False)
    stream_options = serializers.DictField(required=False, allow_null=True)
    max_tokens = StrictIntegerField(required=False, allow_null=True, min_value=1)
    max_completion_tokens = StrictIntegerField(required=False, allow_null=True, min_value=1)
    temperature = StrictFloatField(required=False, allow_null=True, min_value=0, max_value=2)
    top_p = StrictFloatField(required=False, allow_null=True, min_value=0, max_value=1)
    stop = StopField(required=False, allow_null=True)
    presence_penalty = StrictFloatField(required=False, allow_null=True, min_value=-2, max_value=2)
    frequency_penalty = StrictFloatField(required=False, allow_null=True, min_value=-2, max_value=2)
    seed = StrictIntegerField(required=False, allow_null=True)
    response_format = serializers.DictField(required=False, allow_null=True)
    tools = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True)
    tool_choice = ToolChoiceField(required=False, allow_null=True)
    user = StrictCharField(required=False, max_length=255, allow_blank=True)
    n = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=16)
    # FastGPT (chatId, responseChatItemId, customUid, detail) and Open WebUI (chat_id, id).
    chatId = StrictCharField(required=False, max_length=128, allow_blank=True)
    chat_id = StrictCharField(required=False, max_length=128, allow_blank=True)
    responseChatItemId = MessageIdField(required=False, allow_blank=True)
    customUid = StrictCharField(required=False, max_length=255, allow_blank=True)
    detail = StrictBooleanField(required=False, default=False)
    files = serializers.ListField(required=False, allow_null=True)
    knowledge_ids = serializers.ListField(
        child=StrictCharField(max_length=128), required=False, allow_null=True, max_length=100
    )
    # Open WebUI: functions offered to the model as tools, run here when it calls them.
    tool_ids = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, allow_null=True, max_length=64
    )

    # Ours: never sent upstream.
    OWN_FIELDS = ("chatId", "chat_id", "responseChatItemId", "customUid", "detail", "files")
    OWN_FIELDS += ("knowledge_ids", "id", "session_id", "variables", "tool_ids")


class ModelParamsSerializer(serializers.Serializer):
    """A custom model's parameters: ``system`` plus request fields applied as defaults.

    The known ones are checked; others (an upstream's own, such as Ollama's ``num_ctx``) are
    kept and sent upstream as they are.
    """

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        known = super().to_internal_value(data)
        extra = {k: v for k, v in data.items() if k not in self.fields}
        return {**extra, **known}

    system = StrictCharField(required=False, allow_blank=True, max_length=100_000)
    temperature = StrictFloatField(required=False, min_value=0, max_value=2)
    top_p = StrictFloatField(required=False, min_value=0, max_value=1)
    max_tokens = StrictIntegerField(required=False, min_value=1)
    stop = StopField(required=False)
    presence_penalty = StrictFloatField(required=False, min_value=-2, max_value=2)
    frequency_penalty = StrictFloatField(required=False, min_value=-2, max_value=2)
    seed = StrictIntegerField(required=False)


class ModelIdField(StrictCharField):
    default_error_messages = {
        "invalid": "Must be a string.",
        "pattern": "Use 1-128 letters, digits and _ . : / - only.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=128, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not MODEL_ID_PATTERN.match(value):
            self.fail("pattern")
        return value


class CustomModelFieldsSerializer(StrictSerializer):
    name = StrictCharField(max_length=255, required=False, allow_blank=True)
    base_model = StrictCharField(max_length=255)
    params = ModelParamsSerializer(required=False)
    knowledge_ids = serializers.ListField(
        child=StrictCharField(max_length=128), required=False, max_length=100
    )
    is_public = StrictBooleanField(required=False)


class CustomModelOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="model_id")
    owner_id = serializers.CharField()
    created_at = serializers.SerializerMethodField()
    updated_at = serializers.SerializerMethodField()

    class Meta:
        model = CustomModel
        fields = [
            "id",
            "name",
            "base_model",
            "params",
            "knowledge_ids",
            "is_public",
            "owner_id",
            "created_at",
            "updated_at",
        ]

    def get_created_at(self, obj: CustomModel) -> int:
        return int(obj.created_at.timestamp())

    def get_updated_at(self, obj: CustomModel) -> int:
        return int(obj.updated_at.timestamp())


class ModelOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    owned_by = serializers.CharField()
    created = serializers.IntegerField()


class ModelListOutputSerializer(serializers.Serializer):
    models = ModelOutputSerializer(many=True)
    errors = serializers.ListField(child=serializers.DictField())


def masked(key: str) -> str:
    """An API key as shown to admins: its last four characters."""
    if not key:
        return ""
    return "…" + key[-4:] if len(key) > 8 else "…"


class ConnectionOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Connection.Kind.choices)
    base_url = serializers.CharField()
    api_key = serializers.CharField(help_text="Masked: only the last four characters.")
    timeout = serializers.IntegerField()
    enabled = serializers.BooleanField()
    source = serializers.ChoiceField(choices=[("env", "env"), ("db", "db")])
