"""Chunks of files with their embeddings, and the admin's choice of embedding model."""

import uuid

from django.db import models
from django.utils import timezone

from retrieval.fields import EmbeddingField


class FileIndex(models.Model):
    """Which model a file's current chunks were made with, and a version that changes every time
    they are replaced. Processes compare ``version`` to know their in-memory copy is current;
    a file in scope without a row for the current model is reported as pending."""

    file = models.OneToOneField(
        "knowledge.File", on_delete=models.CASCADE, primary_key=True, related_name="index"
    )
    model = models.CharField(max_length=255)
    dim = models.PositiveIntegerField()
    chunk_count = models.PositiveIntegerField()
    version = models.UUIDField(default=uuid.uuid4)
    indexed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["model"], name="file_index_model")]

    def __str__(self) -> str:
        return f"{self.file_id} {self.model}"


class Chunk(models.Model):
    """A piece of a file's text (by tokens of the embedding model) and its normalized embedding.

    Searched lexically too: SQLite keeps an FTS5 table in step by triggers, PostgreSQL a
    generated ``tsvector`` column with a GIN index (both made by migration 0001)."""

    file = models.ForeignKey("knowledge.File", on_delete=models.CASCADE, related_name="chunks")
    model = models.CharField(max_length=255)
    chunk_index = models.PositiveIntegerField()
    page = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    content = models.TextField()
    # The section's heading path (HTML, Markdown), outermost first; null for older chunks.
    # Nullable so that adding it is an ALTER TABLE on SQLite (a table rebuild would drop the
    # FTS5 triggers).
    headings = models.JSONField(null=True, blank=True)
    embedding = EmbeddingField()

    class Meta:
        indexes = [models.Index(fields=["file", "model"], name="chunk_file_model")]

    def __str__(self) -> str:
        return f"{self.file_id}#{self.chunk_index}"


class EmbeddingConfig(models.Model):
    """The admin's embedding settings, in one row. Empty values: the environment's are in force."""

    engine = models.CharField(max_length=16, blank=True, default="")
    model = models.CharField(max_length=255, blank=True, default="")
    openai_base_url = models.CharField(max_length=500, blank=True, default="")
    openai_api_key = models.CharField(max_length=500, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="embedding_config_single")
        ]

    def __str__(self) -> str:
        return "Embedding settings"
