"""``GET /health``: is every part this process depends on answering? And ``GET /api/version``."""

import logging
import secrets
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webui_backend.celery import app as celery_app

logger = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key, value = "health:probe", secrets.token_hex(8)
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("cache did not return what was written")


def check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # tasks run in this process: there is no broker to reach
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


class HealthApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            (200, "application/json"): inline_serializer(
                "Health",
                {"status": serializers.CharField(), "checks": serializers.DictField()},
            )
        },
        summary="Liveness and readiness: database, cache and broker",
    )
    def get(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        for name, check in CHECKS.items():
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:
                logger.warning("health check %s failed: %s", name, exc)
                checks[name] = f"failed: {type(exc).__name__}"
        healthy = all(value == "ok" for value in checks.values())
        return Response(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status=200 if healthy else 503,
        )


class VersionApi(APIView):
    """The server's version, as Open WebUI answers it. Open to anyone; with credentials it goes
    through authentication and the request limit like any route (the benchmark of that layer
    uses it: same view, with no credentials, a JWT or an API key)."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            (200, "application/json"): inline_serializer(
                "Version", {"version": serializers.CharField()}
            )
        },
        summary="The server's version",
    )
    def get(self, request: Request) -> Response:
        return Response({"version": settings.SPECTACULAR_SETTINGS["VERSION"]})
