from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users"

    def ready(self) -> None:
        from users.selectors import user_counts_by_role
        from webui_backend.dashboard import register_count

        def users_by_role() -> dict[str, int]:
            counts = user_counts_by_role()
            return {**counts, "total": sum(counts.values())}

        register_count("users", users_by_role)
