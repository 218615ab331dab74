from django.contrib import admin

from llm.models import Connection, CustomModel, Generation
from llm.serializers import masked


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "base_url", "key", "timeout", "enabled", "created_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "base_url"]
    # The key is set through the API; the admin never shows it.
    exclude = ["api_key"]
    readonly_fields = ["id", "key", "created_at", "updated_at"]

    @admin.display(description="API key")
    def key(self, obj: Connection) -> str:
        return masked(obj.api_key)


@admin.register(CustomModel)
class CustomModelAdmin(admin.ModelAdmin):
    list_display = ["model_id", "name", "base_model", "owner", "is_public", "updated_at"]
    list_filter = ["is_public"]
    search_fields = ["model_id", "name", "base_model", "owner__email"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["response_message_id", "chat", "user", "model", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["response_message_id", "custom_uid", "user__email", "model"]
    list_select_related = ["user", "chat"]
    raw_id_fields = ["user", "chat"]
    readonly_fields = [f.name for f in Generation._meta.fields]
