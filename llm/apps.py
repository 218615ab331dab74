from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class LLMConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM"

    def ready(self) -> None:
        from llm.models import Connection, CustomModel
        from llm.snapshot import config_changed
        from llm.upstream import http_sessions_close
        from webui_backend.lifecycle import on_drained

        on_drained(http_sessions_close)  # a graceful stop closes the upstream connections

        for model in (Connection, CustomModel):
            for signal in (post_save, post_delete):
                signal.connect(config_changed, sender=model, dispatch_uid=f"llm-config-{model}")
