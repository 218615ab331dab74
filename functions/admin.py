from django.contrib import admin

from functions.models import Function, FunctionSettings


@admin.register(Function)
class FunctionAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "type", "is_active", "is_global", "updated_at"]
    list_filter = ["type", "is_active", "is_global"]
    search_fields = ["name", "user__email", "id"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    # The schema is derived from the source by the API; editing the source here would skip that.
    readonly_fields = ["id", "content", "description", "parameters", "created_at", "updated_at"]


@admin.register(FunctionSettings)
class FunctionSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "users_can_edit", "users_can_run", "updated_at"]
