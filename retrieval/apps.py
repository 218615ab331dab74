from django.apps import AppConfig


class RetrievalConfig(AppConfig):
    name = "retrieval"
    verbose_name = "Retrieval"

    def ready(self) -> None:
        from retrieval.models import Chunk
        from webui_backend.dashboard import register_count

        register_count("chunks", lambda: Chunk.objects.count())
