"""The project's URLs plus one route that fails, to see Django's 500 handler answer."""

from django.db import OperationalError
from django.urls import path

from webui_backend.urls import handler400, handler403, handler404, handler500, urlpatterns


def fail(request: object) -> None:
    raise RuntimeError("boom")


def database_down(request: object) -> None:
    raise OperationalError("connection refused")


urlpatterns = [
    *urlpatterns,
    path("api/test-failure", fail),
    path("api/test-database-down", database_down),
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
