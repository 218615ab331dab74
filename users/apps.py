from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users"

    def ready(self) -> None:
        # Registers the tasks with the Celery app in every process (web ones too, where the
        # services queue them by name: on the embedded default they run at once, in process).
        import users.tasks  # noqa: F401
        from users.selectors import user_counts_by_role
        from webui_backend.dashboard import register_count

        def users_by_role() -> dict[str, int]:
            counts = user_counts_by_role()
            return {**counts, "total": sum(counts.values())}

        register_count("users", users_by_role)
