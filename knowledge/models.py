import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class File(models.Model):
    """An uploaded file: its bytes live in Django's storage under ``storage_name``.

    The client's ``filename`` is metadata only; it is never part of a storage path.
    ``status`` mirrors the state of the file's latest processing job ("" before any).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files"
    )
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=16, blank=True, default="")
    error = models.TextField(blank=True, default="")
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="file_list_order")]
        constraints = [
            # The same bytes uploaded twice by one user are one file.
            models.UniqueConstraint(fields=["user", "sha256"], name="file_sha256_unique_per_user"),
        ]

    def __str__(self) -> str:
        return self.filename


class Knowledge(models.Model):
    """A knowledge collection: a named set of files searched together."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="knowledge"
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    # Readable (never writable) by every approved user of the site when true.
    public = models.BooleanField(default=False)
    files = models.ManyToManyField(File, through="KnowledgeFile", related_name="knowledge")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-updated_at", "-id"], name="knowledge_list_order")]

    def __str__(self) -> str:
        return self.name


class KnowledgeFile(models.Model):
    knowledge = models.ForeignKey(Knowledge, on_delete=models.CASCADE)
    file = models.ForeignKey(File, on_delete=models.CASCADE)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["knowledge", "file"], name="knowledge_file_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.knowledge_id} {self.file_id}"


class ProcessingJob(models.Model):
    """One run of turning a file into indexed chunks, observable and retry-safe.

    queued → extracting → embedding → indexed, or failed (``error`` kept) or cancelled.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        EXTRACTING = "extracting", "Extracting"
        EMBEDDING = "embedding", "Embedding"
        INDEXED = "indexed", "Indexed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (State.QUEUED, State.EXTRACTING, State.EMBEDDING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="jobs")
    knowledge = models.ForeignKey(
        Knowledge, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    error = models.TextField(blank=True, default="")
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set by the run that holds the job; a run whose lease was taken away (reaped, cancelled)
    # finds its writes matching no row and stops.
    lease = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "heartbeat_at"], name="job_reaper_scan"),
            models.Index(fields=["file", "-created_at"], name="job_latest_per_file"),
        ]

    def __str__(self) -> str:
        return f"{self.file_id} {self.state}"
