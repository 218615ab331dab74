"""The project's URLs plus one route that fails, to see Django's 500 handler answer."""

from django.urls import path

from webui_backend.urls import handler400, handler403, handler404, handler500, urlpatterns


def fail(request: object) -> None:
    raise RuntimeError("boom")


urlpatterns = [*urlpatterns, path("api/test-failure", fail)]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
