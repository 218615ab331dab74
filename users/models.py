import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower

# A day's token budget fits a signed 64-bit column with room to add a day's usage to it.
TOKEN_BUDGET_MAX = 10**15


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: object) -> "User":
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> "User":
        fields["role"] = User.Role.ADMIN
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=normalize_email(username or ""))


def normalize_email(email: str) -> str:
    """Emails are case-insensitive logins: stored and looked up lowercased and trimmed."""
    return email.strip().lower()


class User(AbstractBaseUser):
    """An account. ``email`` is the login; ``role`` decides what the account may do.

    The API's admins are the Django admin's staff: ``is_staff`` derives from the role, so the
    two can never disagree.
    """

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        USER = "user", "User"
        PENDING = "pending", "Pending"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=255)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    profile_image_url = models.CharField(max_length=2048, blank=True, default="")
    is_active = models.BooleanField(default=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    daily_token_budget = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Completion tokens per UTC day; empty means no budget."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="user_email_lowercase"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=["admin", "user", "pending"]), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    @property
    def is_staff(self) -> bool:
        return self.is_active and self.is_admin

    @property
    def is_superuser(self) -> bool:
        return self.is_staff

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_staff

    def has_perms(self, perm_list: object, obj: object = None) -> bool:
        return self.is_staff

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_staff


class SiteSettings(models.Model):
    """The admin-editable settings of the site, in one row.

    A null column means "not set by an admin": the environment's value is in force, so an
    operator can still change it by configuration until an admin saves one.
    """

    enable_signup = models.BooleanField(null=True, blank=True)
    default_user_role = models.CharField(
        max_length=16,
        choices=[(User.Role.USER, "User"), (User.Role.PENDING, "Pending")],
        blank=True,
        default="",
    )
    enable_api_keys = models.BooleanField(null=True, blank=True)
    # Roles whose accounts may create and use API keys, e.g. ["admin", "user"].
    api_key_roles = models.JSONField(null=True, blank=True)
    # The request-rate policy as users.policy.RateLimitPolicy.as_dict() writes it; the API
    # validates it before it is saved.
    rate_limit_policy = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "site settings"
        verbose_name_plural = "site settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="site_settings_single")
        ]

    def __str__(self) -> str:
        return "Site settings"


class ApiKey(models.Model):
    """A long-lived ``sk-…`` credential of one user.

    The raw key is shown once, at creation; only its SHA-256 digest is stored, with the first
    characters (``prefix``) kept in clear so the key can be found and recognised in lists.
    A key is never deleted by its owner, only revoked, so a revoked key can be told apart from
    an unknown one and its usage stays on record.
    """

    class Scope(models.TextChoices):
        ALL = "all", "All routes"
        COMPLETIONS = "completions", "Completions only"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=255)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.ALL)
    model = models.CharField(
        max_length=255, blank=True, default="", help_text="Completions-only keys: the one model."
    )
    daily_token_budget = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Completion tokens per UTC day; empty means no budget."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=["all", "completions"]), name="apikey_scope_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(model="") | models.Q(scope="completions"),
                name="apikey_model_only_for_completions",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditLog(models.Model):
    """One admin action, written by ``users.services.audit_record``; never edited.

    The actor's email is copied in, so the entry still says who acted after that account is
    deleted; the target is named by type and id, not by a foreign key, for the same reason.
    """

    class Action(models.TextChoices):
        USER_UPDATE = "user.update", "User updated"
        USER_ROLE_CHANGE = "user.role_change", "Role changed"
        USER_DELETE = "user.delete", "User deleted"
        SETTINGS_UPDATE = "settings.update", "Site settings changed"
        CHAT_READ = "chat.read", "Another user's chat read"

    id = models.BigAutoField(primary_key=True)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_email = models.EmailField(max_length=254)
    action = models.CharField(max_length=64, choices=Action.choices, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=255, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="auditlog_target")]

    def __str__(self) -> str:
        return f"{self.actor_email} {self.action} {self.target_type}:{self.target_id}"


class UsageRecord(models.Model):
    """Completion tokens of one user (and key, if one was used) for one model on one UTC day.

    Rows are only ever incremented in place (``users.services.usage_record``); one partial
    unique constraint per case keeps a single row per (user, key, model, day), since a NULL
    key would otherwise never collide with another NULL.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="usage_records")
    # RESTRICT: a key with recorded usage cannot be deleted on its own (keys are revoked, not
    # deleted), yet deleting the user still takes its keys and usage together.
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    model = models.CharField(max_length=255)
    day = models.DateField()
    requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "api_key", "model", "day"],
                condition=models.Q(api_key__isnull=False),
                name="usage_one_row_per_key_model_day",
            ),
            models.UniqueConstraint(
                fields=["user", "model", "day"],
                condition=models.Q(api_key__isnull=True),
                name="usage_one_row_per_user_model_day",
            ),
        ]
        indexes = [
            models.Index(fields=["day", "model"], name="usage_day_model"),
            models.Index(fields=["user", "day"], name="usage_user_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model}: {self.prompt_tokens}+{self.completion_tokens}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
