"""Retrieval's routes: search the user's knowledge, search the web, the admin's embedding model."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from retrieval.embedders import (
    LOCAL_MODEL_NAME,
    embedding_settings,
    local_model_known,
    model_key_current,
)
from retrieval.errors import FetchRefused
from retrieval.search import chunks_search
from retrieval.services import embedding_config_update
from retrieval.ssrf import Policy, url_checked
from retrieval.web import MAX_COUNT, web_search
from users.permissions import IsAdmin
from webui_backend.serializers import CredentialField, StrictCharField, StrictSerializer

QUERY_MAX_CHARS = 2000
IDS_MAX = 100


class _Metadata(serializers.Serializer):
    file_id = serializers.UUIDField()
    filename = serializers.CharField()
    knowledge_id = serializers.UUIDField(allow_null=True)
    page = serializers.IntegerField(allow_null=True)
    chunk_index = serializers.IntegerField()
    headings = serializers.ListField(
        child=serializers.CharField(),
        help_text="The chunk's section: its heading path, outermost first (HTML, Markdown).",
    )


class _Result(serializers.Serializer):
    content = serializers.CharField()
    score = serializers.FloatField(help_text="In [0, 1], higher is better (see docs/retrieval.md).")
    metadata = _Metadata()


class QueryOutputSerializer(serializers.Serializer):
    results = _Result(many=True)
    pending_file_ids = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="Files in scope still being processed (or indexed with an older model): "
        "searched without them.",
    )


class RetrievalQueryApi(APIView):
    class InputSerializer(StrictSerializer):
        query = StrictCharField(max_length=QUERY_MAX_CHARS)
        knowledge_ids = serializers.ListField(
            child=StrictCharField(max_length=64), max_length=IDS_MAX, default=list
        )
        file_ids = serializers.ListField(
            child=StrictCharField(max_length=64), max_length=IDS_MAX, default=list
        )
        top_k = serializers.IntegerField(min_value=1, max_value=50, default=5)
        hybrid = serializers.BooleanField(default=lambda: settings.ENABLE_RAG_HYBRID_SEARCH)
        min_score = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.0)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs["knowledge_ids"] and not attrs["file_ids"]:
                raise serializers.ValidationError("Name knowledge_ids or file_ids to search.")
            return attrs

    @extend_schema(
        operation_id="retrieval_query",
        request=InputSerializer,
        responses=QueryOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = chunks_search(user=request.user, **data.validated_data)
        body = {
            "results": [hit.as_json() for hit in result.hits],
            "pending_file_ids": result.pending_file_ids,
        }
        return Response(QueryOutputSerializer(body).data)


class _WebResult(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.CharField()
    snippet = serializers.CharField(allow_blank=True)


class WebOutputSerializer(serializers.Serializer):
    results = _WebResult(many=True)


class WebSearchApi(APIView):
    class InputSerializer(StrictSerializer):
        query = StrictCharField(max_length=500)
        count = serializers.IntegerField(min_value=1, max_value=MAX_COUNT, required=False)

    @extend_schema(
        operation_id="retrieval_web", request=InputSerializer, responses=WebOutputSerializer
    )
    def post(self, request: Request) -> Response:
        from django.conf import settings

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = web_search(
            query=data.validated_data["query"],
            count=data.validated_data.get("count", settings.WEB_SEARCH_RESULT_COUNT),
        )
        body = {
            "results": [{"title": r.title, "url": r.url, "snippet": r.snippet} for r in results]
        }
        return Response(WebOutputSerializer(body).data)


class EmbeddingConfigOutputSerializer(serializers.Serializer):
    engine = serializers.CharField()
    model = serializers.CharField()
    openai_base_url = serializers.CharField(allow_blank=True)
    openai_api_key_set = serializers.BooleanField()
    model_key = serializers.CharField(help_text="The vector space stored with every vector.")
    reindexing = serializers.BooleanField(required=False)


def _config_body(reindexing: bool | None = None) -> dict[str, Any]:
    config = embedding_settings()
    body: dict[str, Any] = {
        "engine": config.engine,
        "model": config.model,
        "openai_base_url": config.openai_base_url,
        "openai_api_key_set": bool(config.openai_api_key),
        "model_key": model_key_current(),
    }
    if reindexing is not None:
        body["reindexing"] = reindexing
    return body


class EmbeddingConfigApi(APIView):
    """The embedding engine and model (admins only). A change of engine or model re-indexes
    every file; meanwhile searches report not-yet-redone files as pending."""

    permission_classes = [IsAdmin]

    class InputSerializer(StrictSerializer):
        engine = serializers.ChoiceField(choices=["local", "openai"], required=False)
        model = StrictCharField(max_length=255, required=False, allow_blank=True)
        openai_base_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
        openai_api_key = CredentialField(required=False, allow_blank=True)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            current = embedding_settings()
            engine = attrs.get("engine", current.engine)
            model = attrs.get("model", current.model) or ""
            base_url = attrs.get("openai_base_url", current.openai_base_url)
            if engine == "openai" and not base_url:
                raise serializers.ValidationError(
                    {"openai_base_url": ["The openai engine needs the server's base URL."]}
                )
            if engine == "local" and not local_model_known(model):
                raise serializers.ValidationError(
                    {
                        "model": [
                            f"The local engine takes {LOCAL_MODEL_NAME!r} or the absolute "
                            "path of a sentence-transformers model folder."
                        ]
                    }
                )
            if engine == "openai" and "engine" in attrs and not model:
                raise serializers.ValidationError({"model": ["Name the embedding model."]})
            if "openai_base_url" in attrs:
                if attrs["openai_base_url"] and not attrs["openai_base_url"].startswith(
                    ("http://", "https://")
                ):
                    raise serializers.ValidationError(
                        {"openai_base_url": ["Give an http or https URL."]}
                    )
                if attrs["openai_base_url"]:
                    try:
                        url_checked(attrs["openai_base_url"], policy=Policy.upstream())
                    except FetchRefused as exc:
                        raise serializers.ValidationError(
                            {"openai_base_url": [str(exc.detail)]}
                        ) from None
                attrs["openai_base_url"] = attrs["openai_base_url"].rstrip("/")
            return attrs

    @extend_schema(
        operation_id="retrieval_embedding_get", responses=EmbeddingConfigOutputSerializer
    )
    def get(self, request: Request) -> Response:
        return Response(EmbeddingConfigOutputSerializer(_config_body()).data)

    @extend_schema(
        operation_id="retrieval_embedding_update",
        request=InputSerializer,
        responses=EmbeddingConfigOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _, reindexing = embedding_config_update(**data.validated_data)
        return Response(EmbeddingConfigOutputSerializer(_config_body(reindexing)).data)
