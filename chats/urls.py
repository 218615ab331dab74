from django.urls import path

from chats import api
from realtime.sse import chat_events

app_name = "chats"

# Fixed routes come before the ones with a chat id, which would otherwise take their names.
urlpatterns = [
    path("", api.ChatListApi.as_view(), name="chat-list"),
    path("new", api.ChatCreateApi.as_view(), name="chat-create"),
    path("tags", api.TagListApi.as_view(), name="tag-list"),
    path("export", api.ChatExportApi.as_view(), name="chat-export"),
    path("import", api.ChatImportApi.as_view(), name="chat-import"),
    path("archive/all", api.ChatArchiveAllApi.as_view(), name="chat-archive-all"),
    path("admin/<str:chat_id>", api.AdminChatApi.as_view(), name="admin-chat-read"),
    path("share/<str:share_id>", api.SharedChatApi.as_view(), name="share-read"),
    path("share/<str:share_id>/clone", api.SharedChatCloneApi.as_view(), name="share-clone"),
    path("<str:chat_id>", api.ChatDetailApi.as_view(), name="chat-detail"),
    path("<str:chat_id>/messages", api.MessageAppendApi.as_view(), name="message-append"),
    path("<str:chat_id>/events", chat_events, name="chat-events"),
    path(
        "<str:chat_id>/messages/<str:message_id>",
        api.MessageDetailApi.as_view(),
        name="message-detail",
    ),
    path(
        "<str:chat_id>/messages/<str:message_id>/feedback",
        api.MessageFeedbackApi.as_view(),
        name="message-feedback",
    ),
    path(
        "<str:chat_id>/messages/<str:message_id>/edit",
        api.MessageEditApi.as_view(),
        name="message-edit",
    ),
    path("<str:chat_id>/current", api.ChatCurrentApi.as_view(), name="chat-current"),
    path("<str:chat_id>/pin", api.ChatPinApi.as_view(), name="chat-pin"),
    path("<str:chat_id>/archive", api.ChatArchiveApi.as_view(), name="chat-archive"),
    path("<str:chat_id>/tags", api.ChatTagsApi.as_view(), name="chat-tags"),
    path("<str:chat_id>/clone", api.ChatCloneApi.as_view(), name="chat-clone"),
    path("<str:chat_id>/share", api.ChatShareApi.as_view(), name="chat-share"),
]
