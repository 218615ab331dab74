"""Views for tests/core/test_asgi_handler.py (its ROOT_URLCONF)."""

import threading

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def queries_before(request: HttpRequest) -> JsonResponse:
    """How many queries this thread's connection logged before this request's own."""
    connection.force_debug_cursor = True
    logged = len(connection.queries_log)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"logged": logged, "thread": threading.get_ident()})


class Rendered(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def get(self, request: Request) -> Response:
        return Response({"thread": threading.get_ident()}, status=int(request.GET.get("s", 200)))


async def async_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"thread": threading.get_ident()})


urlpatterns = [
    path("queries", queries_before),
    path("rendered", Rendered.as_view()),
    path("async", async_view),
]
