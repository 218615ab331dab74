"""Models, custom models, connections and Ollama pulls. The completion routes are the async
handler in ``llm.completions``; the pull below is async too (it streams upstream progress)."""

from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.completions import error_response
from llm.errors import NoOllamaConnection
from llm.models import Connection
from llm.selectors import (
    connection_get,
    custom_model_get_editable,
    custom_models_visible_to,
)
from llm.serializers import (
    ConnectionOutputSerializer,
    CustomModelFieldsSerializer,
    CustomModelOutputSerializer,
    ModelIdField,
    ModelListOutputSerializer,
    masked,
)
from llm.services import (
    connection_create,
    connection_delete,
    connection_update,
    custom_model_create,
    custom_model_delete,
    custom_model_update,
)
from llm.snapshot import config_snapshot
from llm.turns import db
from llm.upstream import (
    ModelEntry,
    Upstream,
    catalogue,
    catalogue_forget,
    ollama_pull,
    upstreams_all,
    upstreams_from_env,
)
from retrieval.errors import FetchRefused
from retrieval.ssrf import Policy, url_checked
from users.authentication import request_authenticate
from users.models import User
from users.permissions import IsAdmin
from webui_backend.serializers import CredentialField, StrictCharField, StrictSerializer


def model_list_for(*, user: User) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The upstream catalogue plus the custom models the user may use."""
    upstream_models, errors = async_to_sync(catalogue)(config_snapshot().upstreams)
    custom = [
        ModelEntry(
            id=m.model_id,
            name=m.name,
            owned_by=str(m.owner_id),
            created=int(m.created_at.timestamp()),
        )
        for m in custom_models_visible_to(user=user)
    ]
    taken = {m.id for m in custom}
    entries = custom + [m for m in upstream_models if m.id not in taken]
    models = [
        {"id": e.id, "name": e.name, "owned_by": e.owned_by, "created": e.created} for e in entries
    ]
    return models, errors


class ModelListApi(APIView):
    @extend_schema(operation_id="models_list", responses=ModelListOutputSerializer)
    def get(self, request: Request) -> Response:
        models, errors = model_list_for(user=request.user)
        return Response({"models": models, "errors": errors})


class OpenAIModelListOutputSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = serializers.ListField(child=serializers.DictField())


class OpenAIModelListApi(APIView):
    """OpenAI's ``GET /v1/models`` shape, for the official clients' ``models.list()``."""

    api_key_scope = "completions"

    @extend_schema(responses=OpenAIModelListOutputSerializer)
    def get(self, request: Request) -> Response:
        models, _ = model_list_for(user=request.user)
        data = [{"object": "model", **m} for m in models]
        return Response({"object": "list", "data": data})


class CustomModelCreateApi(APIView):
    class InputSerializer(CustomModelFieldsSerializer):
        id = ModelIdField(required=False)
        name = StrictCharField(max_length=255)

    @extend_schema(request=InputSerializer, responses=CustomModelOutputSerializer)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        model_id = fields.get("id") or fields["name"]
        ModelIdField().run_validation(model_id)
        model = custom_model_create(
            owner=request.user,
            model_id=model_id,
            name=fields["name"],
            base_model=fields["base_model"],
            params=fields.get("params", {}),
            knowledge_ids=fields.get("knowledge_ids", []),
            is_public=fields.get("is_public", False),
        )
        return Response(CustomModelOutputSerializer(model).data, status=status.HTTP_201_CREATED)


class CustomModelUpdateApi(APIView):
    class InputSerializer(CustomModelFieldsSerializer):
        base_model = StrictCharField(max_length=255, required=False)

    @extend_schema(request=InputSerializer, responses=CustomModelOutputSerializer)
    def post(self, request: Request, model_id: str) -> Response:
        model = custom_model_get_editable(user=request.user, model_id=model_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = custom_model_update(model, **data.validated_data)
        return Response(CustomModelOutputSerializer(model).data)


class CustomModelDetailApi(APIView):
    @extend_schema(responses=CustomModelOutputSerializer)
    def get(self, request: Request, model_id: str) -> Response:
        model = custom_models_visible_to(user=request.user).filter(model_id=model_id).first()
        if model is None:
            from llm.errors import CustomModelNotFound

            raise CustomModelNotFound()
        return Response(CustomModelOutputSerializer(model).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, model_id: str) -> Response:
        custom_model_delete(custom_model_get_editable(user=request.user, model_id=model_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- connections (admin) ----------------------------------------------------------------------


def connection_payload(upstream: Upstream, *, enabled: bool = True) -> dict[str, Any]:
    source, _, rest = upstream.key.partition(":")
    return {
        "id": rest if source == "db" else upstream.key,
        "name": upstream.name,
        "kind": upstream.kind,
        "base_url": upstream.base_url,
        "api_key": masked(upstream.api_key),
        "timeout": int(upstream.timeout),
        "enabled": enabled,
        "source": source,
    }


def connection_row_payload(connection: Connection) -> dict[str, Any]:
    from llm.upstream import upstream_of

    return connection_payload(upstream_of(connection), enabled=connection.enabled)


class ConnectionFieldsSerializer(StrictSerializer):
    name = StrictCharField(max_length=100)
    kind = serializers.ChoiceField(choices=Connection.Kind.choices, required=False)
    base_url = serializers.URLField(max_length=500)
    api_key = CredentialField(required=False, allow_blank=True)
    timeout = serializers.IntegerField(min_value=1, max_value=3600, required=False)
    enabled = serializers.BooleanField(required=False)

    def validate_base_url(self, value: str) -> str:
        """Refused at once if the upstream policy would refuse it at every connection."""
        try:
            url_checked(value, policy=Policy.upstream())
        except FetchRefused as exc:
            raise serializers.ValidationError(str(exc.detail)) from None
        return value


class ConnectionListApi(APIView):
    permission_classes = [IsAdmin]

    class InputSerializer(ConnectionFieldsSerializer):
        pass

    @extend_schema(responses=ConnectionOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = [connection_payload(u) for u in upstreams_from_env()]
        rows += [connection_row_payload(c) for c in Connection.objects.all()]
        return Response(rows)

    @extend_schema(request=InputSerializer, responses={201: ConnectionOutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            connection = connection_create(**data.validated_data)
        return Response(connection_row_payload(connection), status=status.HTTP_201_CREATED)


class ConnectionUpdateApi(APIView):
    permission_classes = [IsAdmin]

    class InputSerializer(ConnectionFieldsSerializer):
        name = StrictCharField(max_length=100, required=False)
        base_url = serializers.URLField(max_length=500, required=False)

    @extend_schema(request=InputSerializer, responses=ConnectionOutputSerializer)
    def post(self, request: Request, connection_id: str) -> Response:
        connection = connection_get(connection_id=connection_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            connection = connection_update(connection, **data.validated_data)
        return Response(connection_row_payload(connection))


class ConnectionDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, connection_id: str) -> Response:
        with transaction.atomic():
            connection_delete(connection_get(connection_id=connection_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Ollama pull (admin, async: it streams) ---------------------------------------------------


class ModelPullView:
    api_key_scope = "all"

    class InputSerializer(StrictSerializer):
        name = StrictCharField(max_length=255)
        connection_id = StrictCharField(max_length=64, required=False)


def pull_prepare(request: HttpRequest) -> tuple[Upstream, str]:
    view = ModelPullView()
    drf = request_authenticate(request, view, IsAdmin())
    data = ModelPullView.InputSerializer(data=drf.data)
    data.is_valid(raise_exception=True)
    wanted = data.validated_data.get("connection_id")
    ollamas = [u for u in upstreams_all() if u.kind == Connection.Kind.OLLAMA]
    if wanted:
        ollamas = [u for u in ollamas if u.key in (wanted, f"db:{wanted}")]
    if not ollamas:
        raise NoOllamaConnection()
    return ollamas[0], data.validated_data["name"]


@csrf_exempt
async def model_pull(request: HttpRequest) -> HttpResponse:
    """``POST /api/models/pull {name}``: Ollama's NDJSON progress, passed on line by line."""
    if request.method != "POST":
        return error_response(request, MethodNotAllowed(request.method or ""))
    try:
        upstream, name = await db(pull_prepare, request)
        lines = ollama_pull(upstream, name)
        first = await anext(lines, None)
    except APIException as exc:
        return error_response(request, exc)

    async def body() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield first
            async for line in lines:
                yield line
        except APIException as exc:
            import json

            yield json.dumps({"error": str(exc.detail), "code": exc.get_codes()}).encode() + b"\n"
        finally:
            await lines.aclose()
            catalogue_forget()

    return StreamingHttpResponse(body(), content_type="application/x-ndjson")
