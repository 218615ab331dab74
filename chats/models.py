import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class Chat(models.Model):
    """A conversation. Its messages are rows of their own, forming a tree (edits branch)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chats"
    )
    title = models.CharField(max_length=1000, default="New Chat")
    model_ids = models.JSONField(default=list, blank=True, help_text="Shown as `models`.")
    folder_id = models.CharField(max_length=255, blank=True, default="")
    pinned = models.BooleanField(default=False)
    archived = models.BooleanField(default=False)
    # The leaf of the active branch: a Message.message_id of this chat, or "" for none.
    current_id = models.CharField(max_length=128, blank=True, default="")
    # Messages get increasing sequence numbers, which order siblings and concurrent appends.
    last_seq = models.PositiveIntegerField(default=0)
    tags = models.ManyToManyField("Tag", related_name="chats", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["user", "archived", "-pinned", "-updated_at", "-id"], name="chat_list_order"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system", "System"
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"
        TOOL = "tool", "Tool"

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    # The public id: chosen by the client or generated; unique within its chat.
    message_id = models.CharField(max_length=128)
    # The parent's message_id in the same chat ("" for a root). A plain column rather than a
    # foreign key: a whole tree is inserted in one statement, and trees are walked in memory.
    parent_message_id = models.CharField(max_length=128, blank=True, default="")
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.JSONField(help_text="Text, or a list of OpenAI-style content parts.")
    text = models.TextField(blank=True, default="", help_text="Plain text of content, for search.")
    model = models.CharField(max_length=255, blank=True, default="")
    usage = models.JSONField(null=True, blank=True)
    # An answer from knowledge: the chunks it was given, as Open WebUI keeps them on the message
    # (``message.sources``), so citations survive a reload.
    sources = models.JSONField(null=True, blank=True)
    # The owner's thumbs up or down on an answer, as Open WebUI and FastGPT keep it:
    # ``{"rating": 1 | -1, "comment": str, "updated_at": unix seconds}``; null when unrated.
    feedback = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["chat", "message_id"], name="message_id_unique_in_chat"
            ),
            models.UniqueConstraint(fields=["chat", "seq"], name="message_seq_unique_in_chat"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"


class Tag(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tags"
    )
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("user", Lower("name"), name="tag_name_unique_per_user"),
        ]

    def __str__(self) -> str:
        return self.name


class ChatShare(models.Model):
    """A read-only snapshot of a chat behind an unguessable id. Re-sharing refreshes it."""

    chat = models.OneToOneField(Chat, on_delete=models.CASCADE, related_name="share")
    share_id = models.CharField(max_length=64, unique=True)
    snapshot = models.JSONField()
    require_auth = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.share_id

    def is_live(self, now: datetime | None = None) -> bool:
        return self.expires_at is None or self.expires_at > (now or timezone.now())
