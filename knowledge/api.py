import unicodedata
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge import selectors, services
from knowledge.errors import FileNotFound, FileRequired, FileTooLarge
from knowledge.models import File, Knowledge
from knowledge.serializers import (
    FileDetailOutputSerializer,
    FileOutputSerializer,
    JobOutputSerializer,
    KnowledgeDetailOutputSerializer,
    KnowledgeOutputSerializer,
)
from knowledge.uploads import FIELD, LimitedUploadHandler
from webui_backend.idempotency import idempotent
from webui_backend.pagination import PAGE_MAX, keyset_page
from webui_backend.serializers import StrictCharField, StrictSerializer

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Send the same key again to get the first answer instead of a second write.",
)
# Room for the multipart framing around the file when judging a declared Content-Length.
MULTIPART_OVERHEAD = 64 * 1024


def file_detail(file: File, *, status_code: int = status.HTTP_200_OK) -> Response:
    job = selectors.file_latest_job(file=file)
    data = FileDetailOutputSerializer(file, context={"job": job}).data
    return Response(data, status=status_code)


def knowledge_detail(knowledge: Knowledge) -> Response:
    files = list(selectors.knowledge_files(knowledge=knowledge))
    context = {"files": files, "file_ids": [str(file.pk) for file in files]}
    return Response(KnowledgeDetailOutputSerializer(knowledge, context=context).data)


def attachment_header(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the exact name as
    RFC 5987 ``filename*`` (Django's own header drops the ASCII one for non-ASCII names)."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = "".join("_" if ch in '"\\' or not ch.isprintable() else ch for ch in ascii_name)
    return f"attachment; filename=\"{ascii_name or 'file'}\"; filename*=utf-8''{quote(filename)}"


# --- Files ----------------------------------------------------------------------------------


class FileListApi(APIView):
    parser_classes = [MultiPartParser]

    class FilterSerializer(serializers.Serializer):
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)
        page = serializers.IntegerField(required=False, min_value=1, max_value=PAGE_MAX)
        cursor = StrictCharField(required=False, max_length=500)

    class UploadQuerySerializer(serializers.Serializer):
        process = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: FileOutputSerializer(many=True)},
        summary="My files, newest first",
        description=(
            "Paginate with `cursor` (the `X-Next-Cursor` response header; stable while files "
            "are added) or `page` (1-based)."
        ),
    )
    def get(self, request: Request) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows, headers = keyset_page(
            selectors.file_list_for_user(user=request.user),
            limit=params.validated_data["limit"],
            page=params.validated_data.get("page"),
            cursor=params.validated_data.get("cursor"),
            after=selectors.files_after_cursor,
            encode=selectors.file_cursor_encode,
        )
        return Response(FileOutputSerializer(rows, many=True).data, headers=headers)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {FIELD: {"type": "string", "format": "binary"}},
                "required": [FIELD],
            }
        },
        parameters=[UploadQuerySerializer, IDEMPOTENCY_HEADER],
        responses={201: FileDetailOutputSerializer, 200: FileDetailOutputSerializer},
        summary="Upload a file (multipart field `file`)",
        description=(
            "201 with the new file; 200 with the existing one when you uploaded the same bytes "
            "before. PDF, DOCX, TXT, Markdown, HTML, CSV and JSON, judged by content and "
            "extension (415 otherwise); FILE_MAX_BYTES (413); empty files are 400. "
            "`process=true` queues processing at once (otherwise adding the file to a "
            "collection or `POST /api/retrieval/process` does)."
        ),
    )
    def post(self, request: Request) -> Response:
        query = self.UploadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = settings.FILE_MAX_BYTES
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise FileTooLarge(f"The file is larger than the limit of {limit:,} bytes.")
        handler = LimitedUploadHandler(request._request, limit=limit)
        request._request.upload_handlers = [handler]
        uploaded = request.FILES.get(FIELD)
        if uploaded is None:
            raise FileRequired()

        saved: list[str] = []

        def write() -> Response:
            file, created = services.file_upload(
                user=request.user,
                uploaded=uploaded,
                raw_name=handler.raw_name,
                sha256=handler.sha256,
            )
            if created:
                saved.append(file.storage_name)
            if query.validated_data["process"]:
                services.processing_job_queue(file=file, force=False)
            return file_detail(file, status_code=201 if created else 200)

        try:
            return idempotent(
                request, scope="files:upload", write=write, fingerprint=handler.sha256
            )
        finally:
            uploaded.close()
            # The bytes are stored before the row commits; a row rolled back with the
            # idempotency transaction (a racing request with the same key) leaves them behind.
            services.file_bytes_unclaimed_delete(storage_names=saved)


class FileDetailApi(APIView):
    @extend_schema(
        responses={200: FileDetailOutputSerializer},
        summary="A file, with its latest processing job",
    )
    def get(self, request: Request, file_id: str) -> Response:
        return file_detail(selectors.file_get_for_user(file_id=file_id, user=request.user))

    @extend_schema(
        responses={204: None},
        summary="Delete my file: its bytes, its chunks and its place in every collection",
    )
    def delete(self, request: Request, file_id: str) -> Response:
        file = selectors.file_get_owned(file_id=file_id, user=request.user)
        services.file_delete(file=file)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FileContentApi(APIView):
    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
        summary="Download a file's bytes",
        description="Streamed, as an attachment, with the file's content type.",
    )
    def get(self, request: Request, file_id: str) -> FileResponse:
        file = selectors.file_get_for_user(file_id=file_id, user=request.user)
        try:
            stored = default_storage.open(file.storage_name, "rb")
        except FileNotFoundError:
            raise FileNotFound("The file's stored bytes are missing.") from None
        response = FileResponse(stored, content_type=file.content_type)
        response["Content-Disposition"] = attachment_header(file.filename)
        # Never rendered by a browser as a page of this site (an uploaded HTML file).
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox"
        return response


class FileJobApi(APIView):
    @extend_schema(
        responses={200: JobOutputSerializer},
        summary="The file's latest processing job",
        description="404 when the file was never processed.",
    )
    def get(self, request: Request, file_id: str) -> Response:
        file = selectors.file_get_for_user(file_id=file_id, user=request.user)
        job = selectors.file_latest_job(file=file)
        if job is None:
            raise FileNotFound("This file has no processing job.")
        return Response(JobOutputSerializer(job).data)


class FileJobCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: JobOutputSerializer},
        summary="Cancel the file's running processing job",
        description="409 when no job is queued or running.",
    )
    def post(self, request: Request, file_id: str) -> Response:
        file = selectors.file_get_owned(file_id=file_id, user=request.user)
        return Response(JobOutputSerializer(services.processing_job_cancel(file=file)).data)


class ProcessApi(APIView):
    class InputSerializer(serializers.Serializer):
        file_id = StrictCharField(max_length=100)
        knowledge_id = StrictCharField(max_length=100, required=False, allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: JobOutputSerializer},
        summary="Process (again) a file of mine, optionally into a collection of mine",
        description=(
            "Queues a processing job (the running one if there is one) and answers at once; "
            "with `knowledge_id` the file is also added to that collection."
        ),
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        file = selectors.file_get_owned(file_id=data.validated_data["file_id"], user=request.user)
        knowledge = None
        if knowledge_id := data.validated_data.get("knowledge_id"):
            knowledge = selectors.knowledge_get_writable(
                knowledge_id=knowledge_id, user=request.user
            )
        job = services.file_process(file=file, knowledge=knowledge)
        return Response(JobOutputSerializer(job).data)


# --- Knowledge collections ------------------------------------------------------------------


class KnowledgeFieldsSerializer(StrictSerializer):
    name = StrictCharField(max_length=255)
    description = StrictCharField(max_length=10_000, required=False, allow_blank=True)
    public = serializers.BooleanField(required=False)


class KnowledgeListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=100)
        page = serializers.IntegerField(required=False, min_value=1, max_value=PAGE_MAX, default=1)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: KnowledgeOutputSerializer(many=True)},
        summary="Collections I can read: mine and public ones, recently changed first",
    )
    def get(self, request: Request) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit, page = params.validated_data["limit"], params.validated_data["page"]
        rows = selectors.knowledge_list_for_user(user=request.user)[
            (page - 1) * limit : page * limit
        ]
        return Response(KnowledgeOutputSerializer(rows, many=True).data)


class KnowledgeCreateApi(APIView):
    @extend_schema(
        request=KnowledgeFieldsSerializer,
        responses={200: KnowledgeDetailOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create a knowledge collection (private unless `public`)",
    )
    def post(self, request: Request) -> Response:
        data = KnowledgeFieldsSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def write() -> Response:
            knowledge = services.knowledge_create(user=request.user, **data.validated_data)
            return knowledge_detail(knowledge)

        return idempotent(request, scope="knowledge:create", write=write)


def _delete_files(request: Request) -> bool:
    flag = serializers.BooleanField(required=False, default=False)
    try:
        return bool(flag.run_validation(request.query_params.get("delete_files", False)))
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({"delete_files": exc.detail}) from None


def knowledge_destroy(request: Request, knowledge_id: str) -> Response:
    delete_files = _delete_files(request)
    knowledge = selectors.knowledge_get_writable(knowledge_id=knowledge_id, user=request.user)
    services.knowledge_delete(knowledge=knowledge, delete_files=delete_files)
    return Response(status=status.HTTP_204_NO_CONTENT)


DELETE_FILES = OpenApiParameter(
    "delete_files",
    OpenApiTypes.BOOL,
    description="Also delete the collection's files (from every collection, with their chunks).",
)


class KnowledgeDetailApi(APIView):
    @extend_schema(
        responses={200: KnowledgeDetailOutputSerializer},
        summary="A collection with its files and their processing status",
    )
    def get(self, request: Request, knowledge_id: str) -> Response:
        knowledge = selectors.knowledge_get_for_user(knowledge_id=knowledge_id, user=request.user)
        return knowledge_detail(knowledge)

    @extend_schema(
        parameters=[DELETE_FILES],
        responses={204: None},
        summary="Delete my collection (its files stay unless `delete_files=true`)",
        operation_id="knowledge_destroy",
    )
    def delete(self, request: Request, knowledge_id: str) -> Response:
        return knowledge_destroy(request, knowledge_id)


class KnowledgeDeleteApi(APIView):
    @extend_schema(
        parameters=[DELETE_FILES],
        responses={204: None},
        summary="Delete my collection (Open WebUI's path)",
        operation_id="knowledge_delete",
    )
    def delete(self, request: Request, knowledge_id: str) -> Response:
        return knowledge_destroy(request, knowledge_id)


class KnowledgeUpdateApi(APIView):
    class InputSerializer(KnowledgeFieldsSerializer):
        name = StrictCharField(max_length=255, required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: KnowledgeDetailOutputSerializer},
        summary="Rename, describe or publish my collection",
    )
    def post(self, request: Request, knowledge_id: str) -> Response:
        knowledge = selectors.knowledge_get_writable(knowledge_id=knowledge_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.knowledge_update(knowledge=knowledge, **data.validated_data)
        return knowledge_detail(knowledge)


class KnowledgeFileInputSerializer(StrictSerializer):
    file_id = StrictCharField(max_length=100)


class KnowledgeFileAddApi(APIView):
    @extend_schema(
        request=KnowledgeFileInputSerializer,
        responses={200: KnowledgeDetailOutputSerializer},
        summary="Add a file of mine to my collection and index it",
        description=(
            "Idempotent: adding a file that is already in the collection answers 200 with the "
            "collection unchanged. A file not yet indexed gets a processing job."
        ),
    )
    def post(self, request: Request, knowledge_id: str) -> Response:
        knowledge = selectors.knowledge_get_writable(knowledge_id=knowledge_id, user=request.user)
        data = KnowledgeFileInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        file = selectors.file_get_owned(file_id=data.validated_data["file_id"], user=request.user)
        services.knowledge_file_add(knowledge=knowledge, file=file)
        return knowledge_detail(knowledge)


FILES_BATCH_MAX = 1000


class KnowledgeFilesBatchAddApi(APIView):
    class InputSerializer(serializers.ListSerializer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(
                child=KnowledgeFileInputSerializer(),
                min_length=1,
                max_length=FILES_BATCH_MAX,
                **kwargs,
            )

    @extend_schema(
        request=KnowledgeFileInputSerializer(many=True),
        responses={200: KnowledgeDetailOutputSerializer},
        summary="Add many files of mine to my collection at once and index them",
        description=(
            "The body is a list of `{file_id}` (1 to 1000), as Open WebUI's. All or nothing: an "
            "id that is not one of my files is a 404 naming it and nothing is added. Files "
            "already in the collection stay as they are; the others are queued, each indexed on "
            "its own (one that fails does not hold up the rest). The answer has `progress`."
        ),
    )
    def post(self, request: Request, knowledge_id: str) -> Response:
        knowledge = selectors.knowledge_get_writable(knowledge_id=knowledge_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        files = selectors.files_get_owned(
            file_ids=[item["file_id"] for item in data.validated_data], user=request.user
        )
        services.knowledge_files_add(knowledge=knowledge, files=files)
        return knowledge_detail(knowledge)


class KnowledgeFileRemoveApi(APIView):
    @extend_schema(
        request=KnowledgeFileInputSerializer,
        responses={200: KnowledgeDetailOutputSerializer},
        summary="Take a file out of my collection (the file itself stays)",
    )
    def post(self, request: Request, knowledge_id: str) -> Response:
        knowledge = selectors.knowledge_get_writable(knowledge_id=knowledge_id, user=request.user)
        data = KnowledgeFileInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        file = selectors.file_get_owned(file_id=data.validated_data["file_id"], user=request.user)
        services.knowledge_file_remove(knowledge=knowledge, file=file)
        return knowledge_detail(knowledge)


class KnowledgeReindexApi(APIView):
    @extend_schema(
        request=None,
        responses={200: KnowledgeDetailOutputSerializer},
        summary="Process every file of my collection again",
    )
    def post(self, request: Request, knowledge_id: str) -> Response:
        knowledge = selectors.knowledge_get_writable(knowledge_id=knowledge_id, user=request.user)
        services.knowledge_reindex(knowledge=knowledge)
        return knowledge_detail(knowledge)
