"""Shapes of chats and messages on the wire."""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chats.errors import MessageTooLarge
from chats.models import Chat, Message
from chats.tree import active_branch, children_of
from webui_backend.serializers import StrictCharField, StrictSerializer, UnixTimestampField

MESSAGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
TITLE_MAX = 1000
TAG_MAX = 100
TIMESTAMP_MAX = 32_503_680_000  # the year 3000
SOURCES_MAX = 500_000  # characters of a message's sources as JSON (chunks' text included)
FEEDBACK_COMMENT_MAX = 2000


def content_text(content: str | list[dict[str, Any]]) -> str:
    """The searchable plain text of a message's content."""
    if isinstance(content, str):
        return content
    return "\n".join(
        part["text"] for part in content if part.get("type") == "text" and "text" in part
    )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        ],
        "description": "Text, or OpenAI-style content parts ({type: 'text', text}, ...).",
    }
)
class ContentField(serializers.Field):
    """Message content: a string, or a list of OpenAI-style parts. Too large is 413."""

    default_error_messages = {
        "invalid": "Must be a string or a list of content parts.",
        "part": "Each content part must be an object with a string 'type'.",
        "text": "A 'text' part needs a string 'text'.",
    }

    def to_internal_value(self, data: Any) -> str | list[dict[str, Any]]:
        if isinstance(data, list):
            for part in data:
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    self.fail("part")
                if part["type"] == "text" and not isinstance(part.get("text"), str):
                    self.fail("text")
        elif not isinstance(data, str):
            self.fail("invalid")
        if _has_nul(data):  # PostgreSQL cannot store U+0000 in text or jsonb
            raise serializers.ValidationError("Null characters are not allowed.")
        size = len(json.dumps(data, ensure_ascii=False).encode())
        if size > settings.CHAT_MESSAGE_MAX_BYTES:
            raise MessageTooLarge(
                f"The message is {size} bytes; this server accepts at most "
                f"{settings.CHAT_MESSAGE_MAX_BYTES}."
            )
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class MessageIdField(StrictCharField):
    default_error_messages = {
        "invalid": "Must be a string.",
        "pattern": "Use 1-128 letters, digits and _ . : - only.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=128, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value and not MESSAGE_ID_PATTERN.match(value):
            self.fail("pattern")
        return value


class FeedbackSerializer(StrictSerializer):
    """A rating of an answer: thumbs up (1) or down (-1), with an optional comment."""

    rating = serializers.ChoiceField(choices=[1, -1])
    comment = StrictCharField(
        max_length=FEEDBACK_COMMENT_MAX, required=False, allow_blank=True, default=""
    )
    updated_at = serializers.IntegerField(
        required=False, min_value=0, max_value=TIMESTAMP_MAX, help_text="Unix seconds."
    )

    def validate_comment(self, value: str) -> str:
        if "\x00" in value:
            raise serializers.ValidationError("Null characters are not allowed.")
        return value


class MessageInputSerializer(StrictSerializer):
    id = MessageIdField(required=False)
    parent_id = MessageIdField(required=False, allow_null=True, allow_blank=True)
    parentId = MessageIdField(
        required=False, allow_null=True, allow_blank=True
    )  # Open WebUI spells it so
    childrenIds = serializers.ListField(
        required=False, write_only=True
    )  # derived from parents; ignored
    role = serializers.ChoiceField(choices=Message.Role.choices)
    content = ContentField()
    model = StrictCharField(max_length=255, required=False, allow_blank=True)
    usage = serializers.DictField(required=False, allow_null=True)
    sources = serializers.ListField(
        child=serializers.DictField(), required=False, allow_null=True, max_length=100
    )
    timestamp = serializers.IntegerField(required=False, min_value=0, max_value=TIMESTAMP_MAX)
    feedback = FeedbackSerializer(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        camel = attrs.pop("parentId", None)
        attrs.pop("childrenIds", None)
        if attrs.get("parent_id") is None and camel is not None:
            attrs["parent_id"] = camel
        usage = attrs.get("usage")
        if usage is not None and (len(json.dumps(usage)) > 10_000 or _has_nul(usage)):
            raise serializers.ValidationError({"usage": ["Usage is too large or malformed."]})
        sources = attrs.get("sources")
        if sources is not None and (len(json.dumps(sources)) > SOURCES_MAX or _has_nul(sources)):
            raise serializers.ValidationError({"sources": ["Sources are too large or malformed."]})
        if attrs.get("feedback") is not None:
            attrs["feedback"] = feedback_value(**attrs["feedback"])
        return attrs


def feedback_value(*, rating: int, comment: str = "", updated_at: int | None = None) -> dict:
    """The stored form of a message's feedback."""
    stamp = updated_at if updated_at is not None else int(datetime.now(tz=UTC).timestamp())
    return {"rating": rating, "comment": comment, "updated_at": stamp}


@dataclass(frozen=True)
class MessageIn:
    """A validated message from a client, before it is stored."""

    message_id: str
    parent_message_id: str
    role: str
    content: Any
    model: str = ""
    usage: dict | None = None
    sources: list | None = None
    timestamp: datetime | None = None
    feedback: dict | None = None

    @classmethod
    def from_validated(cls, data: dict[str, Any], *, message_id: str, parent: str) -> "MessageIn":
        stamp = data.get("timestamp")
        return cls(
            message_id=message_id,
            parent_message_id=parent,
            role=data["role"],
            content=data["content"],
            model=data.get("model", ""),
            usage=data.get("usage"),
            sources=data.get("sources"),
            timestamp=datetime.fromtimestamp(stamp, tz=UTC) if stamp is not None else None,
            feedback=data.get("feedback"),
        )


class OpenWebUIMessageSerializer(MessageInputSerializer):
    """A message inside a chat body, as Open WebUI's frontend writes it.

    Its message objects are open-ended records (``user``, ``user_id``, ``models``, ``modelName``,
    ``modelIdx``, ``done``, ``files``, ``info``, ``statusHistory``, ``error``, …, more with each
    release); Open WebUI keeps whatever they hold. The fields we store are validated as usual;
    the others are ignored rather than refused, so its clients can save chats here. Appending a
    single message (``POST /api/chats/{id}/messages``) stays strict.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("usage") is None and isinstance(data.get("info"), dict):
                usage = data["info"].get("usage")  # where older Open WebUI kept it
                data = {**data, "usage": usage if isinstance(usage, dict) else None}
            data = {key: value for key, value in data.items() if key in self.fields}
        return super().to_internal_value(data)


class HistoryInputSerializer(StrictSerializer):
    """Open WebUI's tree: ``{messages: {id: message}, current_id}`` (``currentId`` also read)."""

    messages = serializers.DictField(child=OpenWebUIMessageSerializer())
    current_id = MessageIdField(required=False, allow_blank=True, allow_null=True)
    currentId = MessageIdField(required=False, allow_blank=True, allow_null=True)


class TagNamesField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=StrictCharField(max_length=TAG_MAX), max_length=50, **kwargs)


class ChatFieldsSerializer(StrictSerializer):
    """The ``chat`` object of create and update requests."""

    title = StrictCharField(max_length=TITLE_MAX, required=False, allow_blank=True)
    models = serializers.ListField(
        child=StrictCharField(max_length=255), max_length=20, required=False
    )
    messages = serializers.ListField(child=OpenWebUIMessageSerializer(), required=False)
    history = HistoryInputSerializer(required=False)
    tags = TagNamesField(required=False)
    folder_id = StrictCharField(max_length=255, required=False, allow_blank=True, allow_null=True)
    pinned = serializers.BooleanField(required=False)
    archived = serializers.BooleanField(required=False)
    # Open WebUI's frontend also sends these; accepted and not kept (the server makes the id;
    # `timestamp` is in milliseconds there; `system` and `params` are the client's settings).
    id = serializers.CharField(required=False, allow_blank=True, allow_null=True, write_only=True)
    system = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, write_only=True
    )
    params = serializers.DictField(required=False, allow_null=True, write_only=True)
    timestamp = serializers.IntegerField(required=False, allow_null=True, write_only=True)
    files = serializers.ListField(required=False, allow_null=True, write_only=True)

    OPEN_WEBUI_ONLY = ("id", "system", "params", "timestamp", "files")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in self.OPEN_WEBUI_ONLY:
            attrs.pop(name, None)
        if "folder_id" in attrs:
            attrs["folder_id"] = attrs["folder_id"] or ""
        history = attrs.get("history")
        if history is not None and "messages" in attrs:
            attrs.pop("messages")  # Open WebUI sends both; the tree holds every branch
        return attrs


# --- Export and import ------------------------------------------------------------------------

EXPORT_FORMAT = "webui-backend.chats"
EXPORT_VERSION = 1


class UnixSecondsField(serializers.IntegerField):
    """Unix seconds in, an aware datetime out."""

    default_error_messages = {"range": "Must be Unix seconds between 0 and the year 3000."}

    def to_internal_value(self, data: Any) -> datetime:
        seconds = super().to_internal_value(data)
        if not 0 <= seconds <= TIMESTAMP_MAX:
            self.fail("range")
        return datetime.fromtimestamp(seconds, tz=UTC)


class ExportedMessageSerializer(MessageInputSerializer):
    id = MessageIdField()


class ExportedChatSerializer(StrictSerializer):
    id = serializers.UUIDField(required=False, format="hex_verbose")
    title = StrictCharField(max_length=TITLE_MAX, allow_blank=True)
    models = serializers.ListField(child=StrictCharField(max_length=255), max_length=20)
    folder_id = StrictCharField(max_length=255, allow_blank=True, allow_null=True)
    pinned = serializers.BooleanField()
    archived = serializers.BooleanField()
    tags = TagNamesField()
    current_id = MessageIdField(allow_blank=True, allow_null=True)
    created_at = UnixSecondsField()
    updated_at = UnixSecondsField()
    messages = serializers.ListField(child=ExportedMessageSerializer())

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["folder_id"] = attrs.get("folder_id") or ""
        return attrs


class ImportInputSerializer(StrictSerializer):
    """The file ``GET /api/chats/export`` writes."""

    format = serializers.ChoiceField(choices=[EXPORT_FORMAT])
    version = serializers.ChoiceField(choices=[EXPORT_VERSION])
    exported_at = serializers.IntegerField(required=False)
    chats = serializers.ListField(child=ExportedChatSerializer(), max_length=100_000)


def exported_chat(chat: Chat, messages: list[Message]) -> dict[str, Any]:
    return {
        "id": str(chat.pk),
        "title": chat.title,
        "models": chat.model_ids,
        "folder_id": chat.folder_id or None,
        "pinned": chat.pinned,
        "archived": chat.archived,
        "tags": [tag.name for tag in chat.tags.all()],
        "current_id": chat.current_id or None,
        "created_at": unix(chat.created_at),
        "updated_at": unix(chat.updated_at),
        "messages": [message_payload(m) for m in messages],
    }


# --- Output ----------------------------------------------------------------------------------


def unix(value: datetime) -> int:
    return int(value.timestamp())


def message_payload(message: Message) -> dict[str, Any]:
    payload = {
        "id": message.message_id,
        "parent_id": message.parent_message_id or None,
        "role": message.role,
        "content": message.content,
        "model": message.model,
        "usage": message.usage,
        "timestamp": unix(message.created_at),
    }
    if message.sources is not None:  # as Open WebUI: only on answers that have them
        payload["sources"] = message.sources
    if message.feedback is not None:  # only on rated answers
        payload["feedback"] = message.feedback
    return payload


# The two views of a chat's messages in its ``chat`` object; a client may ask for one only.
CHAT_PARTS = ("messages", "history")


def chat_body(
    chat: Chat, messages: "list[Message] | list[MessageRow]", *, parts: tuple[str, ...] = CHAT_PARTS
) -> dict[str, Any]:
    """The ``chat`` object: the active branch as ``messages`` plus the whole ``history`` tree
    (``parts`` leaves one out: a long chat is otherwise sent twice)."""
    by_id = {m.message_id: m for m in messages}
    children = children_of(messages)
    history = {}
    for message in messages:
        payload = message_payload(message)
        payload["children_ids"] = children.get(message.message_id, [])
        history[message.message_id] = payload
    body: dict[str, Any] = {"title": chat.title, "models": chat.model_ids}
    if "messages" in parts:
        body["messages"] = [history[m.message_id] for m in active_branch(by_id, chat.current_id)]
    if "history" in parts:
        body["history"] = {"messages": history, "current_id": chat.current_id or None}
    return body


class MessageRow:
    """A stored message as ``message_payload`` reads it, from ``values_list`` (no model)."""

    FIELDS = (
        "message_id",
        "parent_message_id",
        "role",
        "content",
        "model",
        "usage",
        "sources",
        "feedback",
        "created_at",
    )
    __slots__ = FIELDS

    def __init__(self, *values: Any) -> None:
        for name, value in zip(self.FIELDS, values, strict=True):
            setattr(self, name, value)


def chat_output(chat: Chat, *, parts: tuple[str, ...] = CHAT_PARTS) -> dict[str, Any]:
    """What ``ChatOutputSerializer`` gives for ``chat`` (tags and share prefetched, as
    ``selectors.chat_get_for_user`` does), built directly: the messages are read as rows in
    one query and no serializer runs (the long-chat GET is the hottest read)."""
    rows = Message.objects.filter(chat=chat).order_by("seq").values_list(*MessageRow.FIELDS)
    share = getattr(chat, "share", None)
    share_id = share.share_id if share is not None and share.is_live() else None
    tags = getattr(chat, "tag_names", None)  # read with the chat (chat_get_for_user)
    if tags is None:
        tags = [tag.name for tag in chat.tags.all()]
    return chat_output_of(chat, [MessageRow(*row) for row in rows], tags, share_id, parts=parts)


def chat_output_new(chat: Chat) -> dict[str, Any]:
    """``chat_output`` of a chat ``services.chat_create`` has just made without tags, from
    what it wrote (``created_messages``, in sequence order): no share, no tags, no reads."""
    return chat_output_of(chat, chat.created_messages, [], None)


def chat_output_of(
    chat: Chat,
    messages: "list[Message] | list[MessageRow]",
    tags: list[str],
    share_id: str | None,
    *,
    parts: tuple[str, ...] = CHAT_PARTS,
) -> dict[str, Any]:
    return {
        "id": str(chat.pk),
        "user_id": str(chat.user_id),
        "title": chat.title,
        "created_at": unix(chat.created_at),
        "updated_at": unix(chat.updated_at),
        "pinned": chat.pinned,
        "archived": chat.archived,
        "folder_id": chat.folder_id or None,
        "tags": tags,
        "chat": chat_body(chat, messages, parts=parts),
        "share_id": share_id,
    }


class FeedbackOutputSerializer(serializers.Serializer):
    rating = serializers.IntegerField(help_text="1 (thumbs up) or -1 (thumbs down).")
    comment = serializers.CharField()
    updated_at = serializers.IntegerField()


class MessageOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    parent_id = serializers.CharField(allow_null=True)
    children_ids = serializers.ListField(child=serializers.CharField(), required=False)
    role = serializers.ChoiceField(choices=Message.Role.choices)
    content = ContentField()
    model = serializers.CharField()
    usage = serializers.DictField(allow_null=True)
    sources = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="An answer from knowledge: the chunks it was given (as the response's).",
    )
    timestamp = serializers.IntegerField()
    feedback = FeedbackOutputSerializer(
        required=False, help_text="The owner's rating of this answer; absent when unrated."
    )


class HistoryOutputSerializer(serializers.Serializer):
    messages = serializers.DictField(child=MessageOutputSerializer())
    current_id = serializers.CharField(allow_null=True)


class ChatBodyOutputSerializer(serializers.Serializer):
    title = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField())
    messages = MessageOutputSerializer(many=True)
    history = HistoryOutputSerializer()


class ChatListItemOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    user_id = serializers.CharField()
    title = serializers.CharField()
    created_at = UnixTimestampField()
    updated_at = UnixTimestampField()
    pinned = serializers.BooleanField()
    archived = serializers.BooleanField()
    folder_id = serializers.CharField(allow_null=True)
    tags = serializers.SerializerMethodField()

    def get_tags(self, chat: Chat) -> list[str]:
        return [tag.name for tag in chat.tags.all()]

    def to_representation(self, chat: Chat) -> dict[str, Any]:
        data = super().to_representation(chat)
        data["folder_id"] = chat.folder_id or None
        return data


class ChatOutputSerializer(ChatListItemOutputSerializer):
    chat = serializers.SerializerMethodField()
    share_id = serializers.SerializerMethodField()

    @extend_schema_field(ChatBodyOutputSerializer)
    def get_chat(self, chat: Chat) -> dict[str, Any]:
        return chat_body(chat, list(chat.messages.all()))

    @extend_schema_field(OpenApiTypes.STR)
    def get_share_id(self, chat: Chat) -> str | None:
        share = getattr(chat, "share", None)
        return share.share_id if share is not None and share.is_live() else None
