import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Function(models.Model):
    """A user's Python function: its source, and the schema read from its signature on save.

    The source is stored as text and only ever parsed here; it runs in the sandbox alone.
    """

    class Type(models.TextChoices):
        FUNCTION = "function", "Function"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="functions"
    )
    name = models.CharField(max_length=64, help_text="The Python function's name; the tool name.")
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.FUNCTION)
    content = models.TextField(help_text="Python source defining a top-level function `name`.")
    description = models.TextField(blank=True, default="")
    parameters = models.JSONField(help_text="JSON schema of the arguments, from the signature.")
    is_active = models.BooleanField(default=True)
    is_global = models.BooleanField(default=False, help_text="Usable by every user.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="function_name_unique_per_user"),
            models.CheckConstraint(condition=models.Q(type="function"), name="function_type_valid"),
        ]
        indexes = [models.Index(fields=["is_global"], name="function_global")]

    def __str__(self) -> str:
        return self.name


class FunctionSettings(models.Model):
    """Admin-editable choices about functions, in one row (null: the environment's value).

    Kept in this app rather than users.SiteSettings so the functions app owns its migrations.
    """

    users_can_edit = models.BooleanField(null=True, blank=True)
    users_can_run = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "function settings"
        verbose_name_plural = "function settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="function_settings_single")
        ]

    def __str__(self) -> str:
        return "Function settings"
