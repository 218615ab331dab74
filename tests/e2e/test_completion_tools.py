"""Tools in completions end to end: a real daphne, the stand-in upstream calling our functions,
and the real sandbox running them."""

import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from chats.models import Message
from functions import sandbox
from functions.errors import SandboxUnavailable
from functions.models import Function
from functions.services import function_create, function_settings_update
from llm.models import Generation
from realtime.models import RoomEvent
from tests.e2e.conftest import token_for
from tests.upstream import StandIn
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

SEED_SOURCE = "def my_function(param: str) -> str:\n    return param.upper()"
FAILING_SOURCE = "def boom(param: str) -> str:\n    raise ValueError('no such ' + param)"


@pytest.fixture(scope="session")
def upstream() -> Iterator[StandIn]:
    server = StandIn("openai").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy(start_server: Callable[..., str], upstream: StandIn) -> str:
    return start_server(
        "daphne",
        OPENAI_API_BASE_URLS=upstream.url,
        OPENAI_API_KEYS="",
        OLLAMA_BASE_URLS="",
        MODELS_CACHE_TTL="0",
        COMPLETION_TOOL_MAX_ROUNDS="2",
        FUNCTIONS_RUN_TIMEOUT="5",
        COMPLETION_PUBLISH_INTERVAL_MS="1",
    )


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    """As in tests/functions: skip on a host without the sandbox, except in CI."""
    try:
        sandbox.availability()
    except SandboxUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must exercise the real sandbox: {exc.detail}")
        pytest.skip(str(exc.detail))


@pytest.fixture
def admin() -> User:
    return User.objects.create_user(
        email="root@example.com", password="x", name="Root", role=User.Role.ADMIN
    )


@pytest.fixture
def user() -> User:
    function_settings_update(users_can_run=True, users_can_edit=True)
    return User.objects.create_user(email="ann@example.com", password="x", name="Ann")


@pytest.fixture
def my_function(admin: User) -> Function:
    return function_create(user=admin, name="my_function", content=SEED_SOURCE, is_global=True)


def ask(proxy: str, who: User, **body: Any) -> httpx.Response:
    marker = uuid.uuid4().hex  # finds this request's upstream calls among the session's
    request = {"model": "mock", "messages": [{"role": "user", "content": "Hi"}], "user": marker}
    with httpx.Client(timeout=30) as client:
        return client.post(
            f"{proxy}/api/chat/completions",
            json={**request, **body},
            headers={"Authorization": f"Bearer {token_for(who)}"},
        )


def calls_with(upstream: StandIn, response_marker: str) -> list[dict[str, Any]]:
    return [r for r in upstream.requests if r.get("user") == response_marker]


def seed_call(function: Function, **extra: Any) -> dict[str, Any]:
    tool = {"name": "my_function", "arguments": {"param": "test"}, **extra}
    return {"tool_ids": [str(function.pk)], "mock_tool": tool}


def test_seed_function_round_trip(
    proxy: str, upstream: StandIn, user: User, my_function: Function
) -> None:
    response = ask(proxy, user, user="round-trip", **seed_call(my_function))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "Tool said: TEST"
    first, second = calls_with(upstream, "round-trip")[-2:]
    assert first["stream"] is False
    assert [t["function"]["name"] for t in first["tools"]] == ["my_function"]
    assert first["tools"][0]["function"]["parameters"]["properties"]["param"]["type"] == "string"
    assert "tool_ids" not in first
    call, result = second["messages"][-2:]
    assert call["role"] == "assistant"
    assert call["tool_calls"][0]["function"]["name"] == "my_function"
    assert result == {"role": "tool", "tool_call_id": "call_0", "content": "TEST"}
    # Both rounds count: the stand-in reports 3 prompt tokens a message.
    assert body["usage"]["prompt_tokens"] == 3 * 1 + 3 * 3


def test_seed_function_round_trip_streamed(proxy: str, user: User, my_function: Function) -> None:
    response = ask(proxy, user, stream=True, **seed_call(my_function))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        line.removeprefix("data: ")
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Tool said: TEST"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert len({c["id"] for c in chunks}) == 1


def test_chat_saves_the_tool_round_and_publishes_it(
    proxy: str, user: User, my_function: Function
) -> None:
    chat_id = str(uuid.uuid4())

    response = ask(proxy, user, chat_id=chat_id, responseChatItemId="r-1", **seed_call(my_function))

    assert response.status_code == 200, response.text
    user_message, call, result, reply = Message.objects.filter(chat_id=chat_id)
    assert (user_message.role, user_message.content) == ("user", "Hi")
    assert call.role == "assistant"
    assert call.parent_message_id == user_message.message_id
    assert call.usage["tool_calls"][0]["function"] == {
        "name": "my_function",
        "arguments": '{"param": "test"}',
    }
    assert (result.role, result.content, result.parent_message_id) == (
        "tool",
        "TEST",
        call.message_id,
    )
    assert result.usage == {"tool_call_id": "call_0", "name": "my_function", "error": None}
    assert (reply.message_id, reply.content) == ("r-1", "Tool said: TEST")
    assert reply.parent_message_id == result.message_id
    assert Generation.objects.get(chat_id=chat_id).status == Generation.Status.COMPLETE
    events = list(
        RoomEvent.objects.filter(room=f"chat:{chat_id}", event__startswith="completion.")
        .order_by("seq")
        .values_list("event", "data")
    )
    names = [name for name, _ in events]
    assert names.index("completion.tool_call") < names.index("completion.tool_result")
    assert names[-1] == "completion.done"
    tool_call = dict(events)["completion.tool_call"]
    assert (tool_call["name"], tool_call["tool_call_id"], tool_call["reply_id"]) == (
        "my_function",
        "call_0",
        "r-1",
    )
    assert dict(events)["completion.tool_result"]["content"] == "TEST"


def test_the_next_turn_sends_the_saved_round_upstream(
    proxy: str, upstream: StandIn, user: User, my_function: Function
) -> None:
    chat_id = str(uuid.uuid4())
    assert ask(proxy, user, chat_id=chat_id, **seed_call(my_function)).status_code == 200

    response = ask(
        proxy,
        user,
        user="next-turn",
        chat_id=chat_id,
        messages=[{"role": "user", "content": "And again?"}],
    )

    assert response.status_code == 200, response.text
    (sent,) = calls_with(upstream, "next-turn")
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert sent["messages"][1]["tool_calls"][0]["id"] == "call_0"
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_0", "content": "TEST"}


def test_max_rounds_reached_is_a_clear_error(
    proxy: str, upstream: StandIn, user: User, my_function: Function
) -> None:
    chat_id = str(uuid.uuid4())

    response = ask(proxy, user, user="loop", chat_id=chat_id, **seed_call(my_function, always=True))

    assert response.status_code == 502
    assert response.json()["code"] == "tool_rounds_exceeded"
    assert len(calls_with(upstream, "loop")) == 3  # two rounds of runs, then one answer too many
    roles = [m.role for m in Message.objects.filter(chat_id=chat_id)]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert Generation.objects.get(chat_id=chat_id).error_code == "tool_rounds_exceeded"


def test_max_rounds_reached_on_a_stream_is_an_error_answer(
    proxy: str, user: User, my_function: Function
) -> None:
    response = ask(proxy, user, stream=True, **seed_call(my_function, always=True))

    assert response.status_code == 502
    assert response.json()["code"] == "tool_rounds_exceeded"


def test_a_failing_tool_sends_its_error_to_the_model(
    proxy: str, upstream: StandIn, user: User, admin: User
) -> None:
    boom = function_create(user=user, name="boom", content=FAILING_SOURCE)

    response = ask(
        proxy,
        user,
        user="boom",
        tool_ids=[str(boom.pk)],
        mock_tool={"name": "boom", "arguments": {"param": "luck"}},
    )

    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert content.startswith("Tool said: ")
    assert "no such luck" in content
    tool_message = calls_with(upstream, "boom")[-1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "ValueError" in tool_message["content"]


def test_arguments_that_do_not_fit_go_back_as_an_error(
    proxy: str, user: User, my_function: Function
) -> None:
    response = ask(
        proxy,
        user,
        tool_ids=[str(my_function.pk)],
        mock_tool={"name": "my_function", "arguments": {"wrong": 1}},
    )

    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert "do not match the function's parameters" in content


def test_another_users_private_function_is_404(proxy: str, user: User, admin: User) -> None:
    bob = User.objects.create_user(email="bob@example.com", password="x", name="Bob")
    private = function_create(
        user=bob, name="secret", content=SEED_SOURCE.replace("my_function", "secret")
    )

    for tool_id in (str(private.pk), str(uuid.uuid4()), "not-a-uuid"):
        response = ask(proxy, user, tool_ids=[tool_id])
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "function_not_found"


def test_user_without_run_permission_is_403(proxy: str, user: User, my_function: Function) -> None:
    function_settings_update(users_can_run=False)

    response = ask(proxy, user, **seed_call(my_function))

    assert response.status_code == 403
    assert response.json()["code"] == "functions_run_forbidden"


def test_calls_of_the_clients_own_tools_come_back_untouched(
    proxy: str, upstream: StandIn, user: User, my_function: Function
) -> None:
    weather = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }

    response = ask(
        proxy,
        user,
        user="client-tool",
        tools=[weather],
        tool_ids=[str(my_function.pk)],
        mock_tool={"name": "get_weather", "arguments": {"city": "Oslo"}},
    )

    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
    }
    (sent,) = calls_with(upstream, "client-tool")
    assert [t["function"]["name"] for t in sent["tools"]] == ["my_function", "get_weather"]


def test_tool_ids_are_validated(proxy: str, user: User) -> None:
    response = ask(proxy, user, tool_ids="my_function")

    assert response.status_code == 400
    assert "tool_ids" in response.json()["fields"]
