from django.apps import AppConfig


class WebuiBackendConfig(AppConfig):
    name = "webui_backend"
    verbose_name = "Web UI backend"

    def ready(self) -> None:
        from django.conf import settings

        from webui_backend import checks  # noqa: F401 - registers the system checks
        from webui_backend.openwebui_env import log_report

        log_report(settings.OPENWEBUI_ENV_REPORT)
