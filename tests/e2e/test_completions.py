"""Completions end to end: a real daphne proxying to real stand-in upstreams on loopback."""

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
import websockets

from chats.models import Chat, Message
from llm.models import Generation
from tests.e2e.conftest import free_port, token_for
from tests.e2e.test_realtime import next_frame, ws_url
from tests.upstream import StandIn
from users.models import ApiKey, UsageRecord, User
from users.services import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def upstream() -> Iterator[StandIn]:
    server = StandIn("openai").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ollama() -> Iterator[StandIn]:
    server = StandIn("ollama").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy(start_server: Callable[..., str], upstream: StandIn, ollama: StandIn) -> str:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there: a broken connection
    return start_server(
        "daphne",
        OPENAI_API_BASE_URLS=f"{upstream.url};{dead}",
        OPENAI_API_KEYS="sk-upstream-secret-1234;",
        OLLAMA_BASE_URLS=ollama.url,
        UPSTREAM_TIMEOUT="2",
        MODELS_FETCH_TIMEOUT="1",
        MODELS_CACHE_TTL="0",
        COMPLETION_PUBLISH_INTERVAL_MS="1",
    )


@pytest.fixture
def user() -> User:
    return User.objects.create_user(email="ann@example.com", password="x", name="Ann")


@pytest.fixture
def admin() -> User:
    return User.objects.create_user(
        email="root@example.com", password="x", name="Root", role=User.Role.ADMIN
    )


def http(proxy: str, who: User | str) -> httpx.Client:
    token = who if isinstance(who, str) else token_for(who)
    return httpx.Client(base_url=proxy, headers={"Authorization": f"Bearer {token}"}, timeout=20)


def sse_events(response: httpx.Response) -> list[Any]:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            value = line.removeprefix("data: ")
            events.append(value if value == "[DONE]" else json.loads(value))
    return events


def wait_for_usage(user: User) -> UsageRecord:
    """The turn's usage row, once the server (still working after the client left) wrote it."""
    deadline = time.monotonic() + 10
    while (row := UsageRecord.objects.filter(user=user).first()) is None:
        assert time.monotonic() < deadline, "the usage was never recorded"
        time.sleep(0.05)
    return row


# --- the official client ------------------------------------------------------------------


def test_openai_client_non_streaming_with_a_jwt(proxy: str, user: User) -> None:
    client = openai.OpenAI(base_url=f"{proxy}/api/openai/v1", api_key=token_for(user))

    answer = client.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": "Hi"}], temperature=0.3
    )

    assert answer.object == "chat.completion"
    assert answer.model == "mock"
    assert answer.id.startswith("chatcmpl-")
    assert answer.choices[0].message.content == "tok0 tok1 tok2 tok3 tok4 "
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 5
    row = UsageRecord.objects.get(user=user, model="mock")
    assert (row.requests, row.completion_tokens) == (1, 5)


def test_openai_client_streams_with_an_sk_key_and_usage(proxy: str, user: User) -> None:
    raw = api_key_create(user=user, name="cli", scope=ApiKey.Scope.COMPLETIONS).api_key
    client = openai.OpenAI(base_url=f"{proxy}/api/openai/v1", api_key=raw)

    stream = client.chat.completions.create(
        model="mock",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"mock_chunks": 20},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(f"tok{i} " for i in range(20))
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 20
    assert UsageRecord.objects.get(user=user, api_key__isnull=False).completion_tokens == 20


def test_openai_client_lists_models(proxy: str, user: User) -> None:
    client = openai.OpenAI(base_url=f"{proxy}/api/openai/v1", api_key=token_for(user))

    ids = {m.id for m in client.models.list()}

    assert {"mock", "mock-large", "llama-mock:1b"} <= ids


def test_model_list_reports_the_broken_connection(proxy: str, user: User) -> None:
    with http(proxy, user) as client:
        body = client.get("/api/models/").json()

    assert {m["id"] for m in body["models"]} >= {"mock", "llama-mock:1b"}
    assert set(body["models"][0]) == {"id", "name", "owned_by", "created"}
    assert len(body["errors"]) == 1


def test_slow_connection_does_not_hold_up_the_list(proxy: str, admin: User) -> None:
    slow = StandIn("openai", models_delay=30).start()
    try:
        with http(proxy, admin) as client:
            created = client.post("/api/connections/", json={"name": "slow", "base_url": slow.url})
            # The client's 20 s timeout would fail this if the 30 s list were waited for.
            body = client.get("/api/models/").json()
    finally:
        slow.stop()

    assert created.status_code == 201
    assert "mock" in {m["id"] for m in body["models"]}
    assert any("timed out" in e["detail"] for e in body["errors"])


# --- streaming by hand ----------------------------------------------------------------------


def test_stream_chunks_arrive_before_the_answer_ends(
    proxy: str, user: User, upstream: StandIn
) -> None:
    body = {
        "model": "mock",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "mock_chunks": 6,
        "mock_delay": 0.3,
    }
    finished_before = upstream.finished
    with (
        http(proxy, user) as client,
        client.stream("POST", "/api/openai/v1/chat/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        next(line for line in lines if '"tok0 "' in line)
        upstream_done_at_first_token = upstream.finished > finished_before
        rest = [line for line in lines if line.startswith("data: ")]

    assert response.headers["content-type"].startswith("text/event-stream")
    assert not upstream_done_at_first_token  # passed on as it came, not buffered
    assert rest[-1] == "data: [DONE]"


def test_unknown_fields_go_upstream_and_custom_model_applies(
    proxy: str, user: User, upstream: StandIn
) -> None:
    with http(proxy, user) as client:
        created = client.post(
            "/api/models/create",
            json={
                "name": "helper",
                "base_model": "mock",
                "params": {"system": "Be brief.", "temperature": 0.2, "top_p": 0.5},
            },
        )
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json={
                "model": "helper",
                "messages": [{"role": "user", "content": "Hi"}],
                "top_p": 0.9,
                "logit_bias": {"50256": -100},
            },
        )
        listed = client.get("/api/models/").json()["models"]

    sent = upstream.requests[-1]
    assert created.status_code == 201
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "helper"
    assert sent["model"] == "mock"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (sent["temperature"], sent["top_p"]) == (0.2, 0.9)
    assert sent["logit_bias"] == {"50256": -100}
    assert "helper" in {m["id"] for m in listed}


def test_private_custom_model_is_unknown_to_others(proxy: str, user: User, admin: User) -> None:
    stranger = User.objects.create_user(email="sam@example.com", password="x", name="Sam")
    with http(proxy, user) as client:
        client.post("/api/models/create", json={"name": "mine", "base_model": "mock"})
    with http(proxy, stranger) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json={"model": "mine", "messages": [{"role": "user", "content": "Hi"}]},
        )
    with http(proxy, admin) as client:
        client.post("/api/models/mine/update", json={"is_public": True})
    with http(proxy, stranger) as client:
        later = client.post(
            "/api/openai/v1/chat/completions",
            json={"model": "mine", "messages": [{"role": "user", "content": "Hi"}]},
        )

    assert answer.status_code == 404
    assert answer.json()["code"] == "model_not_found"
    assert later.status_code == 200


def test_only_an_admin_is_told_how_many_connections_could_not_be_asked(
    proxy: str, user: User, admin: User
) -> None:
    body = {"model": "no-such-model", "messages": [{"role": "user", "content": "Hi"}]}
    with http(proxy, user) as client:
        answer = client.post("/api/openai/v1/chat/completions", json=body)
    with http(proxy, admin) as client:
        admins = client.post("/api/openai/v1/chat/completions", json=body)

    assert answer.status_code == 404
    assert answer.json() == {
        "detail": "Model 'no-such-model' not found.",
        "code": "model_not_found",
    }
    assert admins.status_code == 404
    assert "1 connection(s) could not be asked" in admins.json()["detail"]


def test_deeply_nested_completion_body_is_400(proxy: str, user: User) -> None:
    body = '{"model": "mock", "messages": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with http(proxy, user) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            content=body,
            headers={"Content-Type": "application/json"},
        )

    assert answer.status_code == 400
    assert answer.json()["code"] == "json_too_deep"


# --- chats: server-side history ---------------------------------------------------------------


def test_fastgpt_chat_id_keeps_history_and_saves_the_turn(
    proxy: str, user: User, upstream: StandIn
) -> None:
    with http(proxy, user) as client:
        first = client.post(
            "/api/v1/chat/completions",
            json={
                "model": "mock",
                "chatId": "111",
                "customUid": "visitor-7",
                "responseChatItemId": "reply-1",
                "messages": [{"role": "user", "content": "Who is the director"}],
            },
        )
        second = client.post(
            "/api/v1/chat/completions",
            json={
                "model": "mock",
                "chatId": "111",
                "detail": True,
                "messages": [{"role": "user", "content": "And the year?"}],
            },
        )

    assert first.status_code == 200, first.text
    assert first.json()["responseChatItemId"] == "reply-1"
    sent = upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == "tok0 tok1 tok2 tok3 tok4 "
    detail = second.json()["responseData"][0]
    assert detail["outputTokens"] == 5
    assert "runningTime" in detail
    chat = Chat.objects.get(user=user)
    texts = [(m.role, m.text) for m in Message.objects.filter(chat=chat)]
    assert texts[0] == ("user", "Who is the director")
    assert texts[1] == ("assistant", "tok0 tok1 tok2 tok3 tok4 ")
    assert len(texts) == 4
    generation = Generation.objects.get(response_message_id="reply-1")
    assert generation.custom_uid == "visitor-7"
    assert generation.status == Generation.Status.COMPLETE


def test_another_users_chat_id_is_404(proxy: str, user: User) -> None:
    other = User.objects.create_user(email="sam@example.com", password="x", name="Sam")
    chat = Chat.objects.create(user=other, title="theirs")
    with http(proxy, user) as client:
        answer = client.post(
            "/api/chat/completions",
            json={
                "model": "mock",
                "chat_id": str(chat.pk),
                "messages": [{"role": "user", "content": "Hi"}],
            },
        )

    assert answer.status_code == 404
    assert answer.json()["code"] == "chat_not_found"
    assert not Message.objects.filter(chat=chat).exists()


def test_chat_reply_survives_a_client_that_leaves(proxy: str, user: User) -> None:
    body = {
        "model": "mock",
        "chatId": "survivor",
        "stream": True,
        "responseChatItemId": "r-1",
        "messages": [{"role": "user", "content": "Tell me"}],
        "mock_chunks": 10,
        "mock_delay": 0.1,
    }
    with (
        http(proxy, user) as client,
        client.stream("POST", "/api/v1/chat/completions", json=body) as response,
    ):
        next(line for line in response.iter_lines() if '"tok0' in line)
    # Disconnected after the first token: the reply still completes and is saved.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = Message.objects.filter(message_id="r-1").first()
        if reply is not None:
            break
        time.sleep(0.1)

    wait_for_usage(user)  # the turn's last write

    assert reply is not None
    assert reply.text == "".join(f"tok{i} " for i in range(10))
    from realtime.models import RoomEvent

    deltas = RoomEvent.objects.filter(room=f"chat:{reply.chat_id}", event="completion.delta")
    assert "".join(e.data["delta"] for e in deltas.order_by("seq")) == reply.text


def test_without_chat_id_a_disconnect_cancels_upstream(
    proxy: str, user: User, upstream: StandIn
) -> None:
    before = upstream.disconnects
    body = {
        "model": "mock",
        "stream": True,
        "messages": [{"role": "user", "content": "Hi"}],
        "mock_chunks": 100,
        "mock_delay": 0.1,
    }
    with (
        http(proxy, user) as client,
        client.stream("POST", "/api/openai/v1/chat/completions", json=body) as response,
    ):
        next(line for line in response.iter_lines() if '"tok0' in line)
    deadline = time.monotonic() + 5
    while upstream.disconnects == before and time.monotonic() < deadline:
        time.sleep(0.05)
    wait_for_usage(user)  # what was generated is still counted

    assert upstream.disconnects == before + 1  # long before the 10 s the answer would take


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404, "model_not_found"),
        ({"model": "mock", "messages": []}, 400, "invalid"),
        ({"model": "mock", "messages": "hello"}, 400, "invalid"),
        ({"model": "mock", "messages": [{"role": "wizard", "content": "x"}]}, 400, "invalid"),
        ({"model": "mock", "messages": [{"role": "user", "content": 5}]}, 400, "invalid"),
        ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, 400, "invalid"),
        (
            {"model": "mock", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
            400,
            "invalid",
        ),
        (
            {"model": "mock", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
            400,
            "invalid",
        ),
        (
            {"model": "mock", "messages": [{"role": "user", "content": "x"}], "files": [{"id": 1}]},
            400,
            "invalid",
        ),
    ],
)
def test_bad_requests_get_clear_errors(
    proxy: str, user: User, body: dict[str, Any], status: int, code: str
) -> None:
    with http(proxy, user) as client:
        answer = client.post("/api/openai/v1/chat/completions", json=body)

    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code


def test_malformed_json_oversized_body_and_no_token(proxy: str, user: User) -> None:
    with http(proxy, user) as client:
        malformed = client.post(
            "/api/openai/v1/chat/completions",
            content=b"{oops",
            headers={"Content-Type": "application/json"},
        )
        huge = client.post(
            "/api/openai/v1/chat/completions",
            json={"model": "mock", "messages": [{"role": "user", "content": "x" * 9_000_000}]},
        )
    anonymous = httpx.post(f"{proxy}/api/openai/v1/chat/completions", json={}, timeout=10)

    assert malformed.status_code == 400
    assert huge.status_code == 413
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"


def test_key_bound_to_another_model_is_refused(proxy: str, user: User) -> None:
    raw = api_key_create(
        user=user, name="bound", scope=ApiKey.Scope.COMPLETIONS, model="mock-large"
    ).api_key
    with http(proxy, raw) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json={"model": "mock", "messages": [{"role": "user", "content": "x"}]},
        )

    assert answer.status_code == 403
    assert answer.json()["code"] == "api_key_scope"


def test_envelope_on_request(proxy: str, user: User) -> None:
    with http(proxy, user) as client:
        ok = client.post(
            "/api/v1/chat/completions",
            headers={"X-Response-Envelope": "true"},
            json={"model": "mock", "messages": [{"role": "user", "content": "x"}]},
        ).json()
        missing = client.post(
            "/api/v1/chat/completions?envelope=1",
            json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
        ).json()

    assert (ok["success"], ok["code"], ok["message"]) == (True, "200", "successful")
    assert ok["data"]["object"] == "chat.completion"
    assert (missing["success"], missing["code"]) == (False, "404")
    assert missing["data"]["code"] == "model_not_found"


# --- upstream faults --------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("401", 502, "upstream_unauthorized"),
        ("429", 429, "upstream_rate_limited"),
        ("500", 502, "upstream_error"),
        ("503", 503, "upstream_overloaded"),
        ("400", 400, "upstream_rejected"),
        ("hang", 504, "upstream_timeout"),
    ],
)
def test_upstream_faults_before_the_first_token(
    proxy: str, user: User, fault: str, status: int, code: str, stream: bool
) -> None:
    with http(proxy, user) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json={
                "model": "mock",
                "stream": stream,
                "messages": [{"role": "user", "content": "x"}],
                "mock_fault": fault,
            },
        )

    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    if fault == "429":
        assert answer.headers["Retry-After"] == "7"


def test_headers_then_silence_is_a_timeout(proxy: str, user: User) -> None:
    with http(proxy, user) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json={
                "model": "mock",
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
                "mock_fault": "hang_after_headers",
            },
        )

    assert answer.status_code == 504


def test_streams_one_after_another_reuse_the_upstream_connection(
    proxy: str, user: User, upstream: StandIn
) -> None:
    """A stream read to its end gives its connection back: no new TCP (or TLS) handshake
    per completion, even when the body's end comes a moment after ``[DONE]`` (a separate
    write: under load it often does)."""
    body = {
        "model": "mock",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
        "mock_end_delay": 0.03,
    }

    with http(proxy, user) as client:
        for _ in range(3):
            with client.stream("POST", "/api/openai/v1/chat/completions", json=body) as response:
                assert sse_events(response)[-1] == "[DONE]"

    assert len(set(upstream.peers[-3:])) == 1


def test_an_upstream_that_never_ends_its_body_after_done_does_not_hold_the_answer(
    proxy: str, user: User, upstream: StandIn
) -> None:
    """An upstream that never ends its body after ``[DONE]`` is dropped at once: the answer
    is not held for it."""
    body = {
        "model": "mock",
        "stream": True,
        "chatId": "endless-body",
        "responseChatItemId": "endless-reply",
        "messages": [{"role": "user", "content": "x"}],
        "mock_chunks": 3,
        "mock_fault": "hang_after_done",
    }
    started = time.monotonic()
    with (
        http(proxy, user) as client,
        client.stream("POST", "/api/v1/chat/completions", json=body) as response,
    ):
        events = sse_events(response)
    elapsed = time.monotonic() - started

    assert events[-1] == "[DONE]"
    assert not any(isinstance(e, dict) and "error" in e for e in events)
    assert elapsed < 0.45
    reply = Message.objects.get(message_id="endless-reply")
    assert reply.text == "tok0 tok1 tok2 "
    assert "incomplete" not in (reply.usage or {})
    deadline = time.monotonic() + 5
    while upstream.disconnects < 1:  # the stand-in saw its connection dropped
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_non_json_answer_is_502(proxy: str, user: User) -> None:
    with http(proxy, user) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json={
                "model": "mock",
                "messages": [{"role": "user", "content": "x"}],
                "mock_fault": "notjson",
            },
        )

    assert answer.status_code == 502
    assert answer.json()["code"] == "upstream_invalid_response"


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("cut", "upstream_stream_cut"),
        ("nodone", "upstream_stream_cut"),
        ("badjson", "upstream_invalid_response"),
        ("garbled", "upstream_invalid_response"),
    ],
)
def test_mid_stream_faults_end_with_an_error_event_and_save_what_came(
    proxy: str, user: User, fault: str, code: str
) -> None:
    body = {
        "model": "mock",
        "chatId": f"faulty-{fault}",
        "responseChatItemId": "partial",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
        "mock_fault": fault,
        "mock_cut_after": 3,
    }
    with (
        http(proxy, user) as client,
        client.stream("POST", "/api/v1/chat/completions", json=body) as response,
    ):
        events = sse_events(response)

    assert response.status_code == 200
    assert events[-1] == "[DONE]"
    assert events[-2]["error"]["code"] == code
    deadline = time.monotonic() + 5
    while not Message.objects.filter(message_id="partial").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    reply = Message.objects.get(message_id="partial")
    if fault != "nodone":
        assert reply.text == "tok0 tok1 tok2 "
    assert reply.usage["incomplete"] is True
    assert Generation.objects.get(response_message_id="partial").status == "incomplete"


def test_openai_client_raises_on_a_mid_stream_error(proxy: str, user: User) -> None:
    client = openai.OpenAI(base_url=f"{proxy}/api/openai/v1", api_key=token_for(user))
    stream = client.chat.completions.create(
        model="mock",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        extra_body={"mock_fault": "cut"},
    )

    with pytest.raises(openai.APIError):
        list(stream)


# --- Ollama pull and connections --------------------------------------------------------------


def test_admin_pulls_a_model_with_streamed_progress(
    proxy: str, admin: User, user: User, ollama: StandIn
) -> None:
    with (
        http(proxy, admin) as client,
        client.stream("POST", "/api/models/pull", json={"name": "llama-new:7b"}) as response,
    ):
        lines = [json.loads(line) for line in response.iter_lines() if line]
    with http(proxy, user) as client:
        refused = client.post("/api/models/pull", json={"name": "x"})
    with http(proxy, admin) as client:
        failed = client.post("/api/models/pull", json={"name": "missing-model"})

    assert response.status_code == 200
    assert lines[0]["status"] == "pulling manifest"
    assert lines[-1]["status"] == "success"
    assert ollama.pulls[-2:] == ["llama-new:7b", "missing-model"]
    assert refused.status_code == 403
    assert failed.status_code == 502


def test_connections_api_masks_keys(proxy: str, admin: User, user: User) -> None:
    with http(proxy, admin) as client:
        created = client.post(
            "/api/connections/",
            json={
                "name": "extra",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key": "sk-abcdefgh5678",
            },
        )
        listed = client.get("/api/connections/").json()
        updated = client.post(
            f"/api/connections/{created.json()['id']}/update", json={"timeout": 5}
        )
        deleted = client.delete(f"/api/connections/{created.json()['id']}")
    with http(proxy, user) as client:
        refused = client.get("/api/connections/")

    assert created.status_code == 201
    assert created.json()["api_key"] == "…5678"
    assert "sk-upstream-secret-1234" not in json.dumps(listed)
    assert {c["source"] for c in listed} == {"env", "db"}
    assert updated.json()["timeout"] == 5
    assert deleted.status_code == 204
    assert refused.status_code == 403


def test_completions_count_against_the_request_limit(proxy: str, user: User) -> None:
    with http(proxy, user) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json={"model": "mock", "messages": [{"role": "user", "content": "x"}]},
        )

    assert answer.headers["X-RateLimit-Limit"] == "100"
    assert int(answer.headers["X-RateLimit-Remaining"]) < 100


def test_ollama_models_are_served_through_its_openai_route(
    proxy: str, user: User, ollama: StandIn
) -> None:
    before = len(ollama.requests)
    with http(proxy, user) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json={"model": "llama-mock:1b", "messages": [{"role": "user", "content": "x"}]},
        )

    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "llama-mock:1b"
    assert len(ollama.requests) == before + 1


def test_streams_hold_no_database_connection_while_waiting(
    start_server: Callable[..., str], upstream: StandIn, user: User
) -> None:
    """A pool of one connection (PostgreSQL) still serves other requests during 8 streams."""
    url = start_server(
        "daphne",
        OPENAI_API_BASE_URLS=upstream.url,
        DB_POOL_MAX_SIZE="1",
        DB_POOL_TIMEOUT="3",
    )
    body = {
        "model": "mock",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
        "mock_chunks": 20,
        "mock_delay": 0.1,
    }

    async def run() -> tuple[list[list[Any]], list[int]]:
        headers = {"Authorization": f"Bearer {token_for(user)}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

            async def stream() -> list[Any]:
                async with client.stream(
                    "POST", "/api/openai/v1/chat/completions", json=body
                ) as response:
                    return [line async for line in response.aiter_lines() if line]

            async def reads() -> list[int]:
                await asyncio.sleep(0.5)  # the streams are waiting on the upstream now
                return [(await client.get("/api/auths/")).status_code for _ in range(3)]

            *streams, statuses = await asyncio.gather(*(stream() for _ in range(8)), reads())
            return streams, statuses

    streams, statuses = asyncio.run(run())

    assert statuses == [200, 200, 200]
    assert all(s[-1] == "data: [DONE]" for s in streams)


def test_reused_reply_id_is_409_and_get_is_405(proxy: str, user: User) -> None:
    body = {
        "model": "mock",
        "chatId": "twice",
        "responseChatItemId": "same",
        "messages": [{"role": "user", "content": "x"}],
    }
    with http(proxy, user) as client:
        first = client.post("/api/v1/chat/completions", json=body)
        again = client.post("/api/v1/chat/completions", json=body)
        got = client.get("/api/v1/chat/completions")

    assert first.status_code == 200
    assert again.status_code == 409
    assert got.status_code == 405


def test_another_tab_watches_the_reply_grow(proxy: str, user: User) -> None:
    chat = Chat.objects.create(user=user, title="watched")
    body = {
        "model": "mock",
        "chat_id": str(chat.pk),
        "stream": True,
        "responseChatItemId": "grown",
        "messages": [{"role": "user", "content": "Tell me"}],
        "mock_chunks": 8,
        "mock_delay": 0.05,
    }

    async def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with websockets.connect(ws_url(proxy, token_for(user))) as ws:
            await next_frame(ws, "authenticated")
            await ws.send(
                json.dumps({"type": "join_chat", "data": {"chat_id": str(chat.pk)}, "ack": 1})
            )
            await next_frame(ws, "ack")
            headers = {"Authorization": f"Bearer {token_for(user)}"}
            async with httpx.AsyncClient(base_url=proxy, headers=headers, timeout=20) as client:
                answer = await client.post("/api/chat/completions", json=body)
                assert answer.status_code == 200
            deltas = []
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame["type"] == "completion.delta":
                    deltas.append(frame["data"])
                elif frame["type"] == "completion.done":
                    return deltas, frame["data"]

    deltas, done = asyncio.run(run())

    assert "".join(d["delta"] for d in deltas) == "".join(f"tok{i} " for i in range(8))
    assert [d["index"] for d in deltas] == list(range(len(deltas)))
    assert {d["message_id"] for d in deltas} == {"grown"}
    assert done["status"] == "complete"
