from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats import selectors, services
from chats.errors import InvalidImport
from chats.formats import chatgpt_to_export, is_chatgpt_export
from chats.models import Chat, ChatShare
from chats.serializers import (
    CHAT_PARTS,
    FEEDBACK_COMMENT_MAX,
    TAG_MAX,
    ChatFieldsSerializer,
    ChatListItemOutputSerializer,
    ChatOutputSerializer,
    ContentField,
    ImportInputSerializer,
    MessageIdField,
    MessageInputSerializer,
    MessageOutputSerializer,
    chat_body,
    chat_output,
    chat_output_new,
    message_payload,
)
from users.models import AuditLog, User
from users.permissions import IsAdmin, IsApprovedUser
from users.services import audit_record
from webui_backend.errors import Forbidden
from webui_backend.idempotency import idempotency_asked, idempotent
from webui_backend.pagination import PAGE_MAX, keyset_page, keyset_page_of
from webui_backend.parsers import JSONParser
from webui_backend.serializers import StrictCharField, StrictSerializer, validated

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Send the same key again to get the first answer instead of a second write.",
)


def refreshed(chat: Chat) -> Chat:
    """The chat as stored now, with what its output needs prefetched."""
    return selectors.chat_get_again(chat=chat)


def chat_response(chat: Chat) -> Response:
    return Response(chat_output(refreshed(chat)))


class ChatListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        archived = serializers.BooleanField(required=False, default=False)
        pinned = serializers.BooleanField(required=False, allow_null=True, default=None)
        tag = StrictCharField(required=False, max_length=TAG_MAX)
        folder_id = StrictCharField(required=False, max_length=255, allow_blank=True)
        q = StrictCharField(required=False, max_length=500, allow_blank=True)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)
        page = serializers.IntegerField(required=False, min_value=1, max_value=PAGE_MAX)
        cursor = StrictCharField(required=False, max_length=500)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: ChatListItemOutputSerializer(many=True)},
        summary="My chats: pinned first, newest first",
        description=(
            "Unarchived chats unless `archived=true`. Paginate with `cursor` (the value of the "
            "`X-Next-Cursor` response header; stable while chats change) or `page` (1-based)."
        ),
    )
    def get(self, request: Request) -> Response:
        options = dict(validated(self.FilterSerializer, request.query_params))
        limit, page, cursor = (
            options.pop("limit"),
            options.pop("page", None),
            options.pop("cursor", None),
        )
        if cursor is None and "tag" not in options and not options.get("q"):
            # The everyday list (a page by number): one statement of our own, not the ORM's.
            options.pop("q", None)
            fetched = selectors.chat_list_rows_plain(
                user=request.user, **options, limit=limit + 1, offset=((page or 1) - 1) * limit
            )
            rows, headers = keyset_page_of(fetched, limit=limit, encode=selectors.encode_cursor)
        else:
            rows, headers = keyset_page(
                selectors.chat_list_rows_for_user(user=request.user, **options),
                limit=limit,
                page=page,
                cursor=cursor,
                after=selectors.after_cursor,
                encode=selectors.encode_cursor,
            )
        # Plain rows, not models through ChatListItemOutputSerializer: the same answer in a
        # fifth of the time (bench/README.md, vs_openwebui.py).
        return Response(selectors.chat_list_items(rows), headers=headers)

    @extend_schema(
        responses={204: None}, summary="Delete all my chats", operation_id="chats_delete_all"
    )
    def delete(self, request: Request) -> Response:
        services.chat_delete_all(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatCreateApi(APIView):
    class InputSerializer(StrictSerializer):
        chat = ChatFieldsSerializer()
        # Open WebUI's request also names the folder beside the chat, and chat variables.
        folder_id = StrictCharField(max_length=255, required=False, allow_null=True)
        variables = serializers.DictField(required=False, allow_null=True, write_only=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: ChatOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create a chat (with messages as a list or a whole history tree)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer.validated(request.data)

        def write() -> Response:
            fields = dict(data["chat"])
            if data.get("folder_id"):
                fields["folder_id"] = data["folder_id"]
            chat = services.chat_create(user=request.user, **fields)
            if fields.get("tags"):
                return chat_response(chat)
            return Response(chat_output_new(chat))  # from what was written: nothing to read

        return idempotent(request, scope="chats:new", write=write)


class ChatDetailApi(APIView):
    class InputSerializer(StrictSerializer):
        chat = ChatFieldsSerializer()

    class QuerySerializer(serializers.Serializer):
        include = serializers.MultipleChoiceField(
            choices=CHAT_PARTS,
            required=False,
            help_text=(
                "`messages` (the active branch) or `history` (the whole tree) to get only that "
                "in `chat`; both when absent. Repeat it or separate with commas."
            ),
        )

    @extend_schema(
        parameters=[QuerySerializer],
        responses={200: ChatOutputSerializer},
        summary="A chat with its messages",
    )
    def get(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user, with_tags=True)
        parts = CHAT_PARTS
        if "include" in request.query_params:
            values = [
                part.strip()
                for value in request.query_params.getlist("include")
                for part in value.split(",")
                if part.strip()
            ]
            query = self.QuerySerializer(data={"include": values})
            query.is_valid(raise_exception=True)
            parts = tuple(p for p in CHAT_PARTS if p in query.validated_data["include"]) or parts
        return Response(chat_output(chat, parts=parts))

    @extend_schema(
        request=InputSerializer,
        responses={200: ChatOutputSerializer},
        summary="Update a chat; `messages` becomes its active branch",
        description=(
            "Messages are matched by id. New ones are added; stored ones may change content; "
            "none are ever removed (other branches and messages another client appended "
            "meanwhile are kept). A list that contradicts stored parent links is 409."
        ),
    )
    def post(self, request: Request, chat_id: str) -> Response:
        fields = self.InputSerializer.validated(request.data)["chat"]
        if fields.keys() <= services.COLUMN_FIELDS:  # a rename, a pin: the chat's row alone
            chat = services.chat_update_columns(chat_id=chat_id, user=request.user, **fields)
            return Response(chat_output(chat))
        with transaction.atomic():  # one read of the chat: under its lock, scoped to its owner
            chat = selectors.chat_get_for_user(
                chat_id=chat_id, user=request.user, lock=True, with_tags=True
            )
            chat = services.chat_update_locked(chat, **fields)
        # The chat as read under the lock and saved: nothing to read again but its parts.
        return Response(chat_output(chat))

    @extend_schema(responses={204: None}, summary="Delete a chat")
    def delete(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        services.chat_delete(chat)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageAppendApi(APIView):
    class PageSerializer(serializers.Serializer):
        offset = serializers.IntegerField(required=False, min_value=0, default=0)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    @extend_schema(
        parameters=[PageSerializer],
        responses={
            200: inline_serializer(
                "MessagePage",
                {
                    "messages": MessageOutputSerializer(many=True),
                    "total": serializers.IntegerField(),
                },
            )
        },
        summary="The active branch's messages, oldest first, a page at a time",
        description=(
            "FastGPT's chat records: `offset` messages from the root are skipped, at most "
            "`limit` follow; `total` is the length of the whole active branch."
        ),
    )
    def get(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        params = self.PageSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        branch = selectors.chat_active_branch(chat=chat)
        offset, limit = params.validated_data["offset"], params.validated_data["limit"]
        page = [message_payload(m) for m in branch[offset : offset + limit]]
        return Response({"messages": page, "total": len(branch)})

    @extend_schema(
        request=MessageInputSerializer,
        responses={201: MessageOutputSerializer, 200: MessageOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Append a message (to `parent_id`, else to the current leaf)",
        description="201 when stored; 200 when a message with this client id already was.",
    )
    def post(self, request: Request, chat_id: str) -> Response:
        if not idempotency_asked(request):
            data = MessageInputSerializer.validated(request.data)
            message, created = services.message_append_for_user(
                chat_id=chat_id, user=request.user, data=dict(data)
            )
            return Response(message_payload(message), status=201 if created else 200)
        # With a key: the chat is checked before the key is looked up, and the write locks it.
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        data = MessageInputSerializer.validated(request.data)

        def write() -> Response:
            message, created = services.message_append(chat, dict(data))
            return Response(message_payload(message), status=201 if created else 200)

        return idempotent(request, scope=f"chat:{chat.pk}:messages", write=write)


class MessageDetailApi(APIView):
    @extend_schema(
        responses={204: None},
        summary="Delete a message and every message below it",
        description=(
            "The message's whole subtree goes (a reply without its question is not kept). "
            "If the active branch ran through it, the newest remaining leaf under its parent "
            "becomes current, else the parent."
        ),
    )
    def delete(self, request: Request, chat_id: str, message_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        services.message_delete(chat, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageFeedbackApi(APIView):
    class InputSerializer(StrictSerializer):
        rating = serializers.ChoiceField(choices=[1, -1, 0], help_text="1 up, -1 down, 0 clear.")
        comment = StrictCharField(
            max_length=FEEDBACK_COMMENT_MAX, required=False, allow_blank=True, default=""
        )

    @extend_schema(
        request=InputSerializer,
        responses={200: MessageOutputSerializer},
        summary="Rate an answer: thumbs up (1) or down (-1) with a comment; 0 clears it",
    )
    def post(self, request: Request, chat_id: str, message_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_feedback_set(chat, message_id=message_id, **data.validated_data)
        return Response(message_payload(message))


class MessageEditApi(APIView):
    class InputSerializer(StrictSerializer):
        content = ContentField()

    @extend_schema(
        request=InputSerializer,
        responses={201: MessageOutputSerializer},
        summary="Edit a message into a new branch (its sibling becomes the current leaf)",
    )
    def post(self, request: Request, chat_id: str, message_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_edit(chat, message_id=message_id, **data.validated_data)
        return Response(message_payload(message), status=status.HTTP_201_CREATED)


class ChatCurrentApi(APIView):
    class InputSerializer(StrictSerializer):
        message_id = MessageIdField()

    @extend_schema(
        request=InputSerializer,
        responses={200: ChatOutputSerializer},
        summary="Switch branch: make a message the current leaf",
    )
    def post(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return chat_response(services.chat_set_current(chat, **data.validated_data))


class _FlagApi(APIView):
    flag = ""

    def post(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        chat = services.chat_set_flag(
            chat, flag=self.flag, value=data.validated_data.get(self.flag)
        )
        return Response(ChatListItemOutputSerializer(chat).data)


class ChatPinApi(_FlagApi):
    flag = "pinned"

    class InputSerializer(StrictSerializer):
        pinned = serializers.BooleanField(required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: ChatListItemOutputSerializer},
        summary="Pin or unpin (no body: toggle)",
    )
    def post(self, request: Request, chat_id: str) -> Response:
        return super().post(request, chat_id)


class ChatArchiveApi(_FlagApi):
    flag = "archived"

    class InputSerializer(StrictSerializer):
        archived = serializers.BooleanField(required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: ChatListItemOutputSerializer},
        summary="Archive or unarchive (no body: toggle)",
    )
    def post(self, request: Request, chat_id: str) -> Response:
        return super().post(request, chat_id)


class ChatArchiveAllApi(APIView):
    @extend_schema(
        request=None,
        responses={200: inline_serializer("ArchiveAll", {"archived": serializers.IntegerField()})},
        summary="Archive all my chats",
    )
    def post(self, request: Request) -> Response:
        return Response({"archived": services.chat_archive_all(user=request.user)})


class TagListApi(APIView):
    @extend_schema(
        responses={
            200: inline_serializer("TagOutput", {"name": serializers.CharField()}, many=True)
        },
        summary="My tags",
    )
    def get(self, request: Request) -> Response:
        return Response(
            [{"name": tag.name} for tag in selectors.tag_list_for_user(user=request.user)]
        )


class ChatTagsApi(APIView):
    class InputSerializer(StrictSerializer):
        name = StrictCharField(max_length=TAG_MAX)

    @extend_schema(
        request=InputSerializer,
        responses={200: ChatListItemOutputSerializer},
        summary="Tag a chat",
    )
    def post(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.chat_tag_add(chat, **data.validated_data)
        return Response(ChatListItemOutputSerializer(refreshed(chat)).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: ChatListItemOutputSerializer},
        summary="Remove a tag from a chat",
    )
    def delete(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.chat_tag_remove(chat, **data.validated_data)
        return Response(ChatListItemOutputSerializer(refreshed(chat)).data)


class ChatCloneApi(APIView):
    @extend_schema(request=None, responses={200: ChatOutputSerializer}, summary="Clone my chat")
    def post(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        body = chat_body(chat, list(chat.messages.all()))
        clone = services.chat_clone(user=request.user, title=f"Clone of {chat.title}", body=body)
        return chat_response(clone)


class ChatShareApi(APIView):
    class InputSerializer(StrictSerializer):
        require_auth = serializers.BooleanField(required=False, default=True)
        expires_in = serializers.IntegerField(
            required=False, min_value=60, max_value=10 * 365 * 86400
        )

    class OutputSerializer(serializers.Serializer):
        share_id = serializers.CharField()
        url = serializers.CharField()
        require_auth = serializers.BooleanField()
        expires_at = serializers.IntegerField(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        summary="Share a snapshot of the chat (sharing again refreshes it)",
        description="Readers must be signed in unless `require_auth` is false.",
    )
    def post(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        expires_in = data.validated_data.get("expires_in")
        expires_at = datetime.now(tz=UTC) + timedelta(seconds=expires_in) if expires_in else None
        share = services.chat_share(
            chat, require_auth=data.validated_data["require_auth"], expires_at=expires_at
        )
        return Response(share_payload(request, share))

    @extend_schema(responses={204: None}, summary="Revoke the share link")
    def delete(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_for_user(chat_id=chat_id, user=request.user)
        services.chat_unshare(chat)
        return Response(status=status.HTTP_204_NO_CONTENT)


def share_payload(request: Request, share: ChatShare) -> dict[str, Any]:
    base = settings.WEBUI_URL or request.build_absolute_uri("/").rstrip("/")
    return {
        "share_id": share.share_id,
        "url": f"{base}/s/{share.share_id}",
        "require_auth": share.require_auth,
        "expires_at": int(share.expires_at.timestamp()) if share.expires_at else None,
    }


def readable_share(request: Request, share_id: str) -> ChatShare:
    """A live share the requester may read: signed in (and approved) when the link says so."""
    share = selectors.share_get(share_id=share_id)
    if share.require_auth:
        user = request.user
        if not (user and user.is_authenticated):
            raise NotAuthenticated("Sign in to read this shared chat.")
        if user.role == User.Role.PENDING:
            raise Forbidden(IsApprovedUser.message, "account_pending")
    return share


class SharedChatApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: inline_serializer(
                "SharedChat",
                {
                    "share_id": serializers.CharField(),
                    "title": serializers.CharField(),
                    "chat": serializers.DictField(),
                    "shared_at": serializers.IntegerField(),
                },
            )
        },
        summary="Read a shared chat (a read-only snapshot)",
    )
    def get(self, request: Request, share_id: str) -> Response:
        share = readable_share(request, share_id)
        return Response({"share_id": share.share_id, **share.snapshot})


class SharedChatCloneApi(APIView):
    @extend_schema(
        request=None, responses={200: ChatOutputSerializer}, summary="Clone a shared chat"
    )
    def post(self, request: Request, share_id: str) -> Response:
        share = readable_share(request, share_id)
        clone = services.chat_clone(
            user=request.user, title=share.snapshot["title"], body=share.snapshot["chat"]
        )
        return chat_response(clone)


class AdminChatApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        responses={200: ChatOutputSerializer},
        summary="Read any user's chat (admin; every read is written to the audit log)",
    )
    def get(self, request: Request, chat_id: str) -> Response:
        chat = selectors.chat_get_any(chat_id=chat_id)
        audit_record(
            actor=request.user,
            action=AuditLog.Action.CHAT_READ,
            target_type="chat",
            target_id=str(chat.pk),
            detail={"owner": chat.user.email, "title": chat.title[:100]},
        )
        return Response(ChatOutputSerializer(chat).data)


class ChatExportApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Export all my chats as JSON")
    def get(self, request: Request) -> StreamingHttpResponse:
        response = StreamingHttpResponse(
            selectors.chats_export_for_user(user=request.user), content_type="application/json"
        )
        response["Content-Disposition"] = 'attachment; filename="chats-export.json"'
        return response


class ImportParser(JSONParser):
    """Exports can be large: imports get their own size limit."""

    limit_setting = "CHAT_IMPORT_MAX_BYTES"


class ChatImportApi(APIView):
    parser_classes = [ImportParser]

    @extend_schema(
        request=ImportInputSerializer,
        responses={200: ChatListItemOutputSerializer(many=True)},
        summary="Import chats from an export, or ChatGPT's conversations.json (all or nothing)",
    )
    def post(self, request: Request) -> Response:
        document = request.data
        if is_chatgpt_export(document):  # ChatGPT's conversations.json
            document, _ = chatgpt_to_export(document)
        elif not isinstance(document, dict) or "format" not in document:
            raise InvalidImport()
        data = ImportInputSerializer(data=document)
        data.is_valid(raise_exception=True)
        chats = services.chats_import(user=request.user, chats=data.validated_data["chats"])
        listed = selectors.chat_list_by_ids(user=request.user, ids=[c.pk for c in chats])
        return Response(ChatListItemOutputSerializer(listed, many=True).data)
