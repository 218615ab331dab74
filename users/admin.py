from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from users.errors import LastAdmin, OwnRoleChange
from users.models import ApiKey, AuditLog, SiteSettings, UsageRecord, User
from users.services import site_settings_cache_clear, user_delete, user_role_changed
from webui_backend.errors import AppError


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


class UserChangeForm(forms.ModelForm):
    """The API's rules for roles, in the Django admin: not your own, not the last admin's."""

    acting_user: User | None = None  # set per request by UserAdmin.get_form

    class Meta:
        model = User
        fields = ["email", "name", "role", "profile_image_url", "is_active", "daily_token_budget"]

    def clean(self) -> dict:
        data = super().clean()
        user = self.instance
        if "role" in self.changed_data and self.acting_user and user.pk == self.acting_user.pk:
            raise forms.ValidationError(OwnRoleChange.default_detail)
        stays_admin = data.get("role") == User.Role.ADMIN and data.get("is_active", True)
        admins = User.objects.filter(role=User.Role.ADMIN, is_active=True)
        if not stays_admin and admins.filter(pk=user.pk).exists() and admins.count() == 1:
            raise forms.ValidationError(LastAdmin.default_detail)
        return data


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    """Accounts. Role changes are audited and deletion goes through ``user_delete`` (disable,
    audit, background removal), as through the API."""

    form = UserChangeForm
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
        form = super().get_form(request, obj, change=change, **kwargs)
        form.acting_user = request.user  # a new class per request: modelform_factory
        return form

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        if change and "role" in form.changed_data:
            user_role_changed(actor=request.user, user=obj, previous=form.initial["role"])

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.pk == request.user.pk:
            return False  # as the API: nobody deletes themselves
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        user_delete(actor=request.user, user=obj)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            try:
                user_delete(actor=request.user, user=user)  # type: ignore[arg-type]
            except AppError as exc:
                self.message_user(request, f"{user.email}: {exc.detail}", messages.ERROR)

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
