"""Output shapes of files, processing jobs and knowledge collections."""

from typing import Any

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from knowledge.models import File, Knowledge, ProcessingJob
from webui_backend.serializers import UnixTimestampField


class JobOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    file_id = serializers.CharField()
    knowledge_id = serializers.CharField(allow_null=True)
    state = serializers.ChoiceField(choices=ProcessingJob.State.choices)
    error = serializers.CharField()
    chunks_done = serializers.IntegerField()
    chunks_total = serializers.IntegerField()
    attempts = serializers.IntegerField(
        help_text="Runs started and not handed back for a retry (a worker that died counts)."
    )
    created_at = UnixTimestampField()
    updated_at = UnixTimestampField()
    heartbeat_at = UnixTimestampField(allow_null=True)
    finished_at = UnixTimestampField(allow_null=True)


class FileOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    filename = serializers.CharField()
    user_id = serializers.CharField()
    created_at = UnixTimestampField()
    updated_at = UnixTimestampField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    sha256 = serializers.CharField()
    status = serializers.CharField(help_text="State of the latest processing job; '' if none.")
    error = serializers.CharField()
    meta = serializers.SerializerMethodField()

    @extend_schema_field(
        inline_serializer(
            "FileMeta",
            {
                "name": serializers.CharField(),
                "content_type": serializers.CharField(),
                "size": serializers.IntegerField(),
            },
        )
    )
    def get_meta(self, file: File) -> dict[str, Any]:
        # Open WebUI clients read these under meta; the name is the sanitized one.
        return {"name": file.filename, "content_type": file.content_type, "size": file.size}


class FileDetailOutputSerializer(FileOutputSerializer):
    job = serializers.SerializerMethodField()

    @extend_schema_field(JobOutputSerializer(allow_null=True))
    def get_job(self, file: File) -> dict[str, Any] | None:
        job = self.context.get("job")
        return JobOutputSerializer(job).data if job is not None else None


class KnowledgeOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    user_id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    public = serializers.BooleanField()
    created_at = UnixTimestampField()
    updated_at = UnixTimestampField()
    data = serializers.SerializerMethodField()

    @extend_schema_field(
        inline_serializer(
            "KnowledgeData", {"file_ids": serializers.ListField(child=serializers.CharField())}
        )
    )
    def get_data(self, knowledge: Knowledge) -> dict[str, Any]:
        file_ids = self.context.get("file_ids")
        if file_ids is None:  # prefetched by knowledge_list_for_user
            file_ids = [str(m.file_id) for m in knowledge.knowledgefile_set.all()]
        return {"file_ids": file_ids}


class KnowledgeProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    queued = serializers.IntegerField()
    indexing = serializers.IntegerField()
    indexed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()


class KnowledgeDetailOutputSerializer(KnowledgeOutputSerializer):
    files = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    @extend_schema_field(KnowledgeProgressSerializer)
    def get_progress(self, knowledge: Knowledge) -> dict[str, int]:
        """The files by processing state (as the ``knowledge:progress`` socket event)."""
        from knowledge.processing import progress_of

        return progress_of([file.status for file in self.context["files"]])

    @extend_schema_field(FileOutputSerializer(many=True))
    def get_files(self, knowledge: Knowledge) -> list[dict[str, Any]]:
        return FileOutputSerializer(self.context["files"], many=True).data
