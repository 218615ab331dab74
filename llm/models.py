import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Connection(models.Model):
    """An upstream model server added by an admin (those from the environment are not rows)."""

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible"
        OLLAMA = "ollama", "Ollama"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OPENAI)
    # OpenAI-compatible: the URL that /chat/completions and /models hang off (…/v1);
    # Ollama: the server's root (…:11434).
    base_url = models.CharField(max_length=500)
    api_key = models.CharField(max_length=500, blank=True, default="")
    # Seconds the upstream may stay silent before the first token or between chunks.
    timeout = models.PositiveIntegerField(default=60)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name


class CustomModel(models.Model):
    """A named model built on an upstream one: a system prompt and parameters applied to it."""

    # The id clients name in ``model``; one namespace for everyone (a public model must be
    # unambiguous).
    model_id = models.CharField(max_length=128, unique=True)
    name = models.CharField(max_length=255)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="custom_models"
    )
    base_model = models.CharField(max_length=255)
    params = models.JSONField(default=dict, blank=True)
    knowledge_ids = models.JSONField(default=list, blank=True)
    is_public = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model_id"]

    def __str__(self) -> str:
        return self.model_id


class Generation(models.Model):
    """One completion turn saved into a chat: how it ended, and what the client told us."""

    class Status(models.TextChoices):
        STREAMING = "streaming", "Streaming"
        COMPLETE = "complete", "Complete"
        INCOMPLETE = "incomplete", "Incomplete"  # a fault or cut after some tokens
        FAILED = "failed", "Failed"  # nothing was generated

    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, related_name="generations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations"
    )
    request_message_id = models.CharField(max_length=128, blank=True, default="")
    response_message_id = models.CharField(max_length=128)
    model = models.CharField(max_length=255)
    custom_uid = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STREAMING)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_detail = models.TextField(blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chat", "response_message_id"], name="generation_reply_unique_in_chat"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.status}"
