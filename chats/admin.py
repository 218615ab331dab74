from django.contrib import admin

from chats.models import Chat, ChatShare, Message, Tag


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "pinned", "archived", "updated_at", "created_at"]
    list_filter = ["pinned", "archived"]
    search_fields = ["title", "user__email", "id"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["id", "current_id", "last_seq", "created_at"]
    ordering = ["-updated_at"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["message_id", "chat", "role", "model", "created_at"]
    list_filter = ["role"]
    search_fields = ["message_id", "text", "chat__id"]
    list_select_related = ["chat"]
    raw_id_fields = ["chat"]
    ordering = ["-created_at"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "created_at"]
    search_fields = ["name", "user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]


@admin.register(ChatShare)
class ChatShareAdmin(admin.ModelAdmin):
    list_display = ["share_id", "chat", "require_auth", "expires_at", "updated_at"]
    list_filter = ["require_auth"]
    search_fields = ["share_id", "chat__title"]
    list_select_related = ["chat"]
    raw_id_fields = ["chat"]
