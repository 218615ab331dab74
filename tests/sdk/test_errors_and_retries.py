"""Errors from real server answers, retries through the flaky proxy, and the request log."""

import logging
import uuid

import httpx
import pytest
from webui_client import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
    WebUIError,
)

from chats.models import Chat, Message
from knowledge.models import File
from tests.e2e.conftest import free_port
from tests.sdk.conftest import Both, key_of
from tests.sdk.proxy import FlakyProxy
from tests.upstream import StandIn
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

COMPLETIONS = "/api/v1/chat/completions"


def test_each_error_from_a_real_answer(
    both: Both, sdk_server: str, ann_key: str, upstream: StandIn
) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    knowledge = both.knowledge(api_key=ann_key, base_url=sdk_server)
    app = both.app(api_key=ann_key, base_url=sdk_server)
    stranger = both.chat(api_key="sk-not-a-real-key", base_url=sdk_server)
    run = both.run
    started = run(chat.start_chat(messages=[{"id": "m", "role": "user", "content": "a"}]))

    def error_of(response: httpx.Response) -> WebUIError:
        with pytest.raises(WebUIError) as caught:
            response.raise_for_status()
        assert not isinstance(caught.value, httpx.HTTPStatusError)
        return caught.value

    unauthenticated = error_of(run(stranger.list_chats()))
    forbidden = error_of(run(app.stats()))
    missing = error_of(run(chat.get_chat(str(uuid.uuid4()))))
    conflict = error_of(run(chat.append_message(started.id, "user", "b", id="m")))
    invalid = error_of(run(knowledge.create_collection("")))
    asked = len(upstream.requests)
    with pytest.raises(RateLimitError) as limited:
        run(chat.complete("x", model="mock", mock_fault="429"))
    assert len(upstream.requests) == asked + 1  # a completion is never sent again
    with pytest.raises(APIError) as failed:
        run(chat.complete("x", model="mock", mock_fault="500"))

    assert isinstance(unauthenticated, AuthenticationError)
    assert unauthenticated.status_code == 401
    assert unauthenticated.code is not None
    assert isinstance(forbidden, PermissionDeniedError)
    assert forbidden.status_code == 403
    assert forbidden.code == "admin_only"
    assert isinstance(missing, NotFoundError)
    assert missing.code == "chat_not_found"
    assert missing.detail == "Chat not found."
    assert isinstance(conflict, ConflictError)
    assert conflict.code == "message_id_conflict"
    assert isinstance(invalid, ValidationError)
    assert invalid.code == "invalid"
    assert "name" in invalid.fields
    assert limited.value.retry_after == 7.0
    assert limited.value.code == "upstream_rate_limited"
    assert type(failed.value) is APIError
    assert failed.value.status_code == 502
    assert failed.value.code == "upstream_error"
    assert failed.value.response is not None
    for error in (unauthenticated, forbidden, missing, conflict, invalid):
        assert isinstance(error, APIError)
        assert ann_key not in str(error)


def test_connection_refused_and_timeout(both: Both, proxy: FlakyProxy, ann_key: str) -> None:
    nowhere = both.chat(api_key=ann_key, base_url=f"http://127.0.0.1:{free_port()}")
    slow = both.chat(api_key=ann_key, base_url=proxy.url, timeout=0.5, max_retries=1)
    chat_id = str(uuid.uuid4())
    proxy.script(f"/api/chats/{chat_id}", "hang", "hang")

    with pytest.raises(APIConnectionError) as refused:
        both.run(nowhere.list_chats())
    with pytest.raises(APITimeoutError):
        both.run(slow.get_chat(chat_id))

    assert not isinstance(refused.value, APITimeoutError)
    assert refused.value.code == "connection_error"
    assert proxy.count(f"/api/chats/{chat_id}") == 2  # tried, then once more


def test_safe_requests_are_retried_until_they_pass(
    both: Both, proxy: FlakyProxy, ann_key: str
) -> None:
    chat = both.chat(api_key=ann_key, base_url=proxy.url, max_retries=3)
    chat_id = str(uuid.uuid4())
    path = f"/api/chats/{chat_id}"
    proxy.script(path, "drop", "503", "429")

    response = both.run(chat.get_chat(chat_id))

    assert response.status_code == 404  # the server's answer, after three failed attempts
    assert proxy.count(path) == 4
    assert proxy.count(path, forwarded=True) == 1


def test_retries_stop_at_max_retries(both: Both, proxy: FlakyProxy, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=proxy.url, max_retries=2)
    once = both.chat(api_key=ann_key, base_url=proxy.url, max_retries=0)
    proxy.script("/api/chats/", "503", "502", "503", "503")

    response = both.run(chat.list_chats())
    with pytest.raises(APIError) as caught:
        response.raise_for_status()
    single = both.run(once.list_chats())

    assert response.status_code == 503
    assert caught.value.code == "proxy_refused"
    assert single.status_code == 503
    assert proxy.count("/api/chats/") == 4  # 1 + 2 retries, then 1 without retries


def test_a_create_whose_answer_is_lost_is_not_made_twice(
    both: Both, proxy: FlakyProxy, ann: User, ann_key: str
) -> None:
    chat = both.chat(api_key=ann_key, base_url=proxy.url)
    knowledge = both.knowledge(api_key=ann_key, base_url=proxy.url)
    proxy.script("/api/chats/new", "forward_then_drop")
    proxy.script("/api/files/", "503", "forward_then_drop")

    created = both.run(chat.create_chat(title="Once"))
    uploaded = both.run(knowledge.upload_file(b"hello world\n", filename="a.txt"))

    assert created.status_code == 200
    assert created.headers["Idempotent-Replayed"] == "true"
    assert proxy.count("/api/chats/new", forwarded=True) == 2  # the server saw it twice ...
    assert Chat.objects.filter(user=ann, title="Once").count() == 1  # ... and made it once
    keys = {s.headers["idempotency-key"] for s in proxy.seen if s.path == "/api/chats/new"}
    assert len(keys) == 1
    assert uploaded.status_code == 201
    assert proxy.count("/api/files/") == 3
    assert proxy.count("/api/files/", forwarded=True) == 2
    assert File.objects.filter(user=ann).count() == 1

    chat_id = created.json()["id"]
    proxy.script(f"/api/chats/{chat_id}/messages", "forward_then_drop")
    appended = both.run(chat.append_message(chat_id, "user", "only once"))
    assert appended.status_code == 201
    assert Message.objects.filter(chat_id=chat_id, text="only once").count() == 1


def test_a_completion_is_never_sent_twice(
    both: Both, proxy: FlakyProxy, ann_key: str, upstream: StandIn
) -> None:
    chat = both.chat(api_key=ann_key, base_url=proxy.url, max_retries=3)
    chat_id = str(uuid.uuid4())
    asked = len(upstream.requests)
    proxy.script(COMPLETIONS, "forward_then_drop", "503")

    with pytest.raises(APIConnectionError):
        both.run(chat.complete("just once", model="mock", chat_id=chat_id))
    overloaded = both.run(
        chat.create_chat_completion([{"role": "user", "content": "x"}], model="mock")
    )
    updated = both.run(chat.update_chat(chat_id, title="t"))  # a plain POST: not retried

    assert proxy.count(COMPLETIONS) == 2  # one attempt each
    assert proxy.count(COMPLETIONS, forwarded=True) == 1
    assert len(upstream.requests) == asked + 1
    assert Message.objects.filter(chat_id=chat_id, text="just once").count() == 1
    assert overloaded.status_code == 503
    assert updated.status_code == 200


def test_logging_one_line_per_request_and_never_the_key(
    both: Both, proxy: FlakyProxy, ann: User, caplog: pytest.LogCaptureFixture
) -> None:
    key = key_of(ann)
    chat = both.chat(api_key=key, base_url=proxy.url, enable_logging=True)
    quiet = both.chat(api_key=key, base_url=proxy.url)
    proxy.script("/api/chats/new", "429")

    with caplog.at_level(logging.INFO, logger="webui_client"):
        created = both.run(chat.create_chat(title="secret title", messages=[]))
        share = both.run(chat.share_chat(created.json()["id"])).json()
        both.run(chat.get_shared_chat(share["share_id"]))
        both.run(quiet.list_chats())

    lines = [r.getMessage() for r in caplog.records if r.name == "webui_client"]
    assert lines[0].startswith("POST /api/chats/new -> 429 in ")
    assert lines[0].endswith("; retrying in 1.00s")  # the proxy's Retry-After
    assert lines[1].startswith("POST /api/chats/new -> 200 in ")
    assert lines[1].endswith(" retry 1")
    assert lines[2].startswith(f"POST /api/chats/{created.json()['id']}/share -> 200")
    assert lines[3].startswith("GET /api/chats/share/… -> 200")
    assert len(lines) == 4  # the quiet client logs nothing
    text = "\n".join(lines)  # (httpx's own log, when on, is httpx's business)
    for secret in (key, key[3:], share["share_id"], "secret title", "Bearer"):
        assert secret not in text


def test_fastgpts_envelope_errors_are_understood(both: Both, sdk_server: str, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)

    response = both.run(
        chat.request(
            "POST",
            COMPLETIONS,
            json={"model": "mock", "messages": []},
            headers={"X-Response-Envelope": "true"},
        )
    )
    with pytest.raises(ValidationError) as caught:
        response.raise_for_status()

    assert response.json()["success"] is False
    assert caught.value.code == "invalid"
    assert "messages" in caught.value.fields
