from django import forms
from django.contrib import admin

from users.models import ApiKey, AuditLog, SiteSettings, UsageRecord, User
from users.services import site_settings_cache_clear


class UserCreationForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    class Meta:
        model = User
        fields = ["email", "name", "role"]

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        user.set_password(self.cleaned_data["password"])
        if commit:
            user.save()
        return user


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "name",
        "role",
        "is_active",
        "daily_token_budget",
        "last_active_at",
        "created_at",
    ]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "name"]
    ordering = ["-created_at"]
    readonly_fields = ["id", "password", "last_login", "last_active_at", "created_at", "updated_at"]
    fields = [
        "id",
        "email",
        "name",
        "role",
        "profile_image_url",
        "is_active",
        "daily_token_budget",
        "password",
        "last_login",
        "last_active_at",
        "created_at",
        "updated_at",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = UserCreationForm
            kwargs["fields"] = ["email", "name", "role", "password"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ["email", "name", "role", "password"]
        return self.fields

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return self.readonly_fields if obj is not None else []


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "enable_signup",
        "default_user_role",
        "enable_api_keys",
        "api_key_roles",
        "rate_limit_policy",
        "updated_at",
    ]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        site_settings_cache_clear()  # every process sees the change on its next request


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys can be revoked or re-scoped here; they are created through the API (shown once)."""

    list_display = [
        "name",
        "user",
        "prefix",
        "scope",
        "model",
        "daily_token_budget",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "created_at",
    ]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "prefix", "user__email", "model"]
    list_select_related = ["user"]
    ordering = ["-created_at"]
    fields = [
        "id",
        "user",
        "name",
        "prefix",
        "scope",
        "model",
        "daily_token_budget",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "created_at",
    ]
    readonly_fields = ["id", "user", "prefix", "last_used_at", "created_at"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the services and never edited."""

    list_display = ["created_at", "actor_email", "action", "target_type", "target_id"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["actor_email", "target_id", "target_type"]
    ordering = ["-created_at", "-id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """Read-only: rows are incremented by ``users.services.usage_record``."""

    list_display = [
        "day",
        "user",
        "api_key",
        "model",
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    ]
    list_filter = ["day", "model"]
    search_fields = ["user__email", "model", "api_key__name", "api_key__prefix"]
    list_select_related = ["user", "api_key"]
    ordering = ["-day", "model"]
    date_hierarchy = "day"

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
