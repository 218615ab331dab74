from django.apps import AppConfig


class WebuiBackendConfig(AppConfig):
    name = "webui_backend"
    verbose_name = "Web UI backend"

    def ready(self) -> None:
        from webui_backend import checks  # noqa: F401 - registers the system checks
