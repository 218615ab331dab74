"""Request ids, log lines and /metrics, in one process (the cluster tests cross processes)."""

import json
import logging
from typing import Any

import pytest
from celery import shared_task
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory
from webui_backend.observability import ContextFilter, JsonFormatter, request_id_var

pytestmark = pytest.mark.django_db


def test_a_sane_request_id_comes_back_and_a_missing_one_is_made(api: APIClient) -> None:
    kept = api.get("/api/version", HTTP_X_REQUEST_ID="edge-4f2a.9:1")
    made = api.get("/api/version")
    replaced = api.get("/api/version", HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert kept["X-Request-ID"] == "edge-4f2a.9:1"
    assert len(made["X-Request-ID"]) == 32
    assert len(replaced["X-Request-ID"]) == 32
    assert made["X-Request-ID"] != replaced["X-Request-ID"]


def test_json_log_lines_carry_the_request_id_and_the_traceback() -> None:
    record = logging.LogRecord("webui.test", logging.ERROR, __file__, 1, "failed %s", ("x",), None)
    try:
        raise ValueError("multi\nline")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    record.chat_id = "c1"
    token = request_id_var.set("req-1")
    try:
        ContextFilter().filter(record)
    finally:
        request_id_var.reset(token)

    line = JsonFormatter().format(record)

    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "failed x"
    assert data["level"] == "ERROR"
    assert data["request_id"] == "req-1"
    assert data["chat_id"] == "c1"
    assert "ValueError: multi\\nline" in line


def test_the_access_line_names_the_route_pattern(
    api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = UserFactory()
    api.force_authenticate(user)
    chat = api.post("/api/chats/new", {"chat": {"title": "t"}}, format="json").json()

    with caplog.at_level(logging.INFO, logger="webui.access"):
        api.get(f"/api/chats/{chat['id']}", HTTP_X_REQUEST_ID="look-for-me")

    (record,) = [r for r in caplog.records if getattr(r, "request_id", "") == "look-for-me"]
    assert record.name == "webui.access"
    assert record.route == "api/chats/<str:chat_id>"  # type: ignore[attr-defined]
    assert record.status == 200  # type: ignore[attr-defined]


@shared_task
def _note_request_id() -> str:
    return request_id_var.get()


def test_a_task_run_for_a_request_knows_its_id(eager_tasks: None) -> None:
    token = request_id_var.set("from-the-request")
    try:
        seen = _note_request_id.delay().get()
    finally:
        request_id_var.reset(token)

    assert seen == "from-the-request"


def test_metrics_are_404_until_a_token_is_set(settings: Any) -> None:
    settings.METRICS_TOKEN = ""

    response = Client().get("/metrics")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_metrics_want_the_token(settings: Any, api: APIClient) -> None:
    settings.METRICS_TOKEN = "s3cret"
    api.get("/api/version")

    refused = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    page = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")

    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/plain")
    text = page.content.decode()
    assert 'webui_http_request_duration_seconds_count{method="GET",route="api/version"' in text
    for name in ("webui_open_sockets", "webui_active_completions", "webui_draining"):
        assert name in text


def test_unknown_paths_share_one_route_label(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret"
    Client().get("/no/such/path/123")

    text = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()

    assert 'route="<unmatched>"' in text
    assert "/no/such/path/123" not in text


@pytest.mark.urls("tests.urls_with_failure")
def test_a_database_outage_is_a_503_to_retry() -> None:
    response = Client(raise_request_exception=False).get("/api/test-database-down")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "The database is unavailable; retry shortly.",
        "code": "database_unavailable",
    }
    assert response["Retry-After"] == "2"
