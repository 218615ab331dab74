"""Writes of connections and custom models, and of completion turns saved into chats."""

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from chats.errors import ChatNotFound, InvalidHistory, MessageIdConflict
from chats.models import Chat, Message
from chats.services import message_append
from knowledge.selectors import knowledge_ids_readable
from llm.errors import ModelIdTaken
from llm.models import Connection, CustomModel, Generation
from llm.upstream import catalogue_forget
from realtime.events import chat_room, publish
from users.models import User

# FastGPT's chat ids are any string: a non-UUID one is mapped, per user, to a stable UUID.
CHAT_ID_NAMESPACE = uuid.UUID("4b0c6f1e-8a43-4c55-9f0e-2d8f3c1a7b65")


def connection_create(**fields: Any) -> Connection:
    connection = Connection.objects.create(**fields)
    transaction.on_commit(catalogue_forget)
    return connection


def connection_update(connection: Connection, **fields: Any) -> Connection:
    for name, value in fields.items():
        setattr(connection, name, value)
    connection.updated_at = timezone.now()
    connection.save()
    transaction.on_commit(catalogue_forget)
    return connection


def connection_delete(connection: Connection) -> None:
    connection.delete()
    transaction.on_commit(catalogue_forget)


def knowledge_ids_checked(*, owner: User, knowledge_ids: list[str]) -> list[str]:
    """The collections to attach to ``owner``'s model, each one they may read (else 404)."""
    return [str(pk) for pk in knowledge_ids_readable(user=owner, knowledge_ids=knowledge_ids)]


def custom_model_create(
    *,
    owner: User,
    model_id: str,
    name: str,
    base_model: str,
    params: dict[str, Any],
    knowledge_ids: list[str],
    is_public: bool,
) -> CustomModel:
    """Create a custom model; its id must be free (409 ``model_id_taken``)."""
    try:
        with transaction.atomic():
            return CustomModel.objects.create(
                owner=owner,
                model_id=model_id,
                name=name or model_id,
                base_model=base_model,
                params=params,
                knowledge_ids=knowledge_ids_checked(owner=owner, knowledge_ids=knowledge_ids),
                is_public=is_public,
            )
    except IntegrityError:
        raise ModelIdTaken() from None


def custom_model_update(model: CustomModel, **fields: Any) -> CustomModel:
    if "knowledge_ids" in fields:
        fields["knowledge_ids"] = knowledge_ids_checked(
            owner=model.owner, knowledge_ids=fields["knowledge_ids"]
        )
    for name, value in fields.items():
        setattr(model, name, value)
    model.updated_at = timezone.now()
    model.save()
    return model


def custom_model_delete(model: CustomModel) -> None:
    model.delete()


# --- completion turns in chats ----------------------------------------------------------------


def chat_uuid_for(*, user: User, chat_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(chat_id)
    except ValueError:
        return uuid.uuid5(CHAT_ID_NAMESPACE, f"{user.pk}:{chat_id}")


def chat_get_or_create_for_completion(*, user: User, chat_id: str, title: str) -> Chat:
    """The user's chat ``chat_id``, created if no chat has that id; another user's is 404."""
    pk = chat_uuid_for(user=user, chat_id=chat_id)
    chat = Chat.objects.filter(pk=pk).first()
    if chat is None:
        try:
            with transaction.atomic():
                chat = Chat.objects.create(pk=pk, user=user, title=title[:100] or "New Chat")
        except IntegrityError:  # created by a concurrent turn
            chat = Chat.objects.get(pk=pk)
    if chat.user_id != user.pk:
        raise ChatNotFound()
    return chat


@transaction.atomic
def turn_begin(
    *,
    chat: Chat,
    user: User,
    messages: list[dict[str, Any]],
    model: str,
    reply_id: str,
    custom_uid: str,
) -> Generation:
    """Save the turn's new messages (each becomes the leaf) and open its Generation row."""
    last_id = ""
    for item in messages:
        data: dict[str, Any] = {"role": item["role"], "content": item["content"] or ""}
        if item.get("id"):
            data["id"] = item["id"]
        message, _ = message_append(chat, data)
        last_id = message.message_id
    try:
        with transaction.atomic():
            return Generation.objects.create(
                chat=chat,
                user=user,
                request_message_id=last_id,
                response_message_id=reply_id,
                model=model,
                custom_uid=custom_uid,
            )
    except IntegrityError:  # a concurrent turn claimed the same reply id
        raise MessageIdConflict(f"This chat has a reply {reply_id!r} already.") from None


@transaction.atomic
def turn_finish(
    *,
    generation: Generation,
    content: str,
    usage: dict[str, Any] | None,
    error: tuple[str, str] | None,
    parent_id: str = "",
    sources: list[dict[str, Any]] | None = None,
) -> None:
    """Save the reply (what arrived, marked incomplete after a fault) and close the turn.

    ``sources`` (an answer from knowledge: what it was given, as the response carries them)
    are kept on the reply, as Open WebUI keeps citations on the message.

    The reply goes under ``parent_id`` (the turn's last tool result) when given, else under
    the turn's request message.
    """
    chat = Chat.objects.get(pk=generation.chat_id)
    stored_usage: dict[str, Any] = dict(usage or {})
    if error is not None:
        stored_usage.update({"incomplete": True, "error": error[0]})
    data: dict[str, Any] = {
        "id": generation.response_message_id,
        "role": "assistant",
        "content": content,
        "model": generation.model,
        "usage": stored_usage or None,
    }
    if sources:
        data["sources"] = sources
    if parent_id or generation.request_message_id:
        data["parent_id"] = parent_id or generation.request_message_id
    try:
        with transaction.atomic():
            message_append(chat, data)
    except InvalidHistory:  # the message being answered was deleted (with what follows it)
        error, content = ("message_deleted", "The message being answered was deleted."), ""
    if error is None:
        generation.status = Generation.Status.COMPLETE
    elif content:
        generation.status = Generation.Status.INCOMPLETE
    else:
        generation.status = Generation.Status.FAILED
    generation.error_code, generation.error_detail = error or ("", "")
    generation.prompt_tokens = int((usage or {}).get("prompt_tokens") or 0)
    generation.completion_tokens = int((usage or {}).get("completion_tokens") or 0)
    generation.finished_at = timezone.now()
    generation.save()
    publish(
        chat_room(chat.pk),
        "completion.done",
        {
            "chat_id": str(chat.pk),
            "message_id": generation.response_message_id,
            "status": generation.status,
            "error": error[0] if error else None,
        },
    )


@transaction.atomic
def turn_tool_call_save(
    *, generation: Generation, parent_id: str, content: str, tool_calls: list[dict[str, Any]]
) -> str:
    """Save the model's tool-call message of one round (``usage.tool_calls``) under
    ``parent_id`` and publish ``completion.tool_call`` for each call; returns its id."""
    chat = Chat.objects.get(pk=generation.chat_id)
    data: dict[str, Any] = {
        "role": Message.Role.ASSISTANT,
        "content": content,
        "model": generation.model,
        "usage": {"tool_calls": tool_calls},
        "parent_id": parent_id,
    }
    message, _ = message_append(chat, data)
    for call in tool_calls:
        function = call.get("function") or {}
        publish(
            chat_room(chat.pk),
            "completion.tool_call",
            {
                "chat_id": str(chat.pk),
                "message_id": message.message_id,
                "reply_id": generation.response_message_id,
                "tool_call_id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            },
        )
    return message.message_id


@transaction.atomic
def turn_tool_result_save(
    *,
    generation: Generation,
    parent_id: str,
    tool_call_id: str,
    name: str,
    content: str,
    error: str | None,
) -> str:
    """Save one tool result (role ``tool``; ``usage`` names the call) under ``parent_id`` and
    publish ``completion.tool_result``; returns its id."""
    chat = Chat.objects.get(pk=generation.chat_id)
    data: dict[str, Any] = {
        "role": Message.Role.TOOL,
        "content": content,
        "usage": {"tool_call_id": tool_call_id, "name": name, "error": error},
        "parent_id": parent_id,
    }
    message, _ = message_append(chat, data)
    publish(
        chat_room(chat.pk),
        "completion.tool_result",
        {
            "chat_id": str(chat.pk),
            "message_id": message.message_id,
            "reply_id": generation.response_message_id,
            "tool_call_id": tool_call_id,
            "name": name,
            "content": content,
            "error": error,
        },
    )
    return message.message_id


@transaction.atomic
def turn_publish_delta(*, chat_id: Any, message_id: str, delta: str, index: int) -> None:
    """Tell the chat's room about a batch of streamed tokens (stored for catch-up)."""
    publish(
        chat_room(chat_id),
        "completion.delta",
        {"chat_id": str(chat_id), "message_id": message_id, "index": index, "delta": delta},
    )
