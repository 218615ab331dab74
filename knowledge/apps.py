from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge"

    def ready(self) -> None:
        from knowledge.models import File, Knowledge
        from knowledge.services import files_purge_for_user
        from webui_backend.dashboard import register_count
        from webui_backend.user_data import register_user_data_cleanup

        register_count("files", File.objects.count)
        register_count("knowledge", Knowledge.objects.count)
        register_user_data_cleanup("knowledge.files", files_purge_for_user)
