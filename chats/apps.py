from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    verbose_name = "Chats"

    def ready(self) -> None:
        from chats.models import Chat, Message
        from webui_backend.dashboard import register_count

        register_count("chats", Chat.objects.count)
        register_count("messages", Message.objects.count)
