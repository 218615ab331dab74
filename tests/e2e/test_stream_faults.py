"""Upstreams that misbehave mid-stream: every fault ends the client's stream cleanly (an error
chunk, then ``[DONE]``), saves what came as an incomplete reply, and gives the upstream
connection back (the server is allowed only one: the next completion needs it)."""

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from chats.models import Message
from llm.models import Generation
from tests.e2e.conftest import token_for
from tests.upstream import StandIn
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

METRICS_TOKEN = "stream-faults-metrics"


@pytest.fixture(scope="module")
def upstream() -> Iterator[StandIn]:
    server = StandIn("openai").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(start_server: Callable[..., str], upstream: StandIn) -> str:
    return start_server(
        "daphne",
        OPENAI_API_BASE_URLS=upstream.url,
        UPSTREAM_TIMEOUT="2",
        UPSTREAM_MAX_CONNECTIONS="1",
        COMPLETION_MAX_SECONDS="3",
        MODELS_CACHE_TTL="60",
        METRICS_TOKEN=METRICS_TOKEN,
    )


@pytest.fixture
def user() -> User:
    return User.objects.create_user(email="faults@example.com", password="x", name="Fay")


def stream(proxy: str, user: User, body: dict[str, Any]) -> tuple[int, list[Any]]:
    headers = {"Authorization": f"Bearer {token_for(user)}"}
    events: list[Any] = []
    with (
        httpx.Client(base_url=proxy, headers=headers, timeout=20) as client,
        client.stream("POST", "/api/v1/chat/completions", json=body) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: "):
                value = line.removeprefix("data: ")
                events.append(value if value == "[DONE]" else json.loads(value))
        return response.status_code, events


def saved_reply(message_id: str) -> Message:
    deadline = time.monotonic() + 10
    while not Message.objects.filter(message_id=message_id).exists():
        assert time.monotonic() < deadline, "the reply was never saved"
        time.sleep(0.05)
    return Message.objects.get(message_id=message_id)


def active_completions(proxy: str) -> float:
    text = httpx.get(
        f"{proxy}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    ).text
    found = re.findall(r'^webui_active_completions\{stream="true"\} (\S+)$', text, re.M)
    return float(found[0]) if found else 0.0


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("stall", "upstream_timeout"),
        ("badjson", "upstream_invalid_response"),
        ("deep", "upstream_invalid_response"),
        ("nodone", "upstream_stream_cut"),
        ("cut", "upstream_stream_cut"),
        ("huge", "upstream_too_long"),
        ("endless", "upstream_too_long"),
    ],
)
def test_a_mid_stream_fault_ends_cleanly_saves_what_came_and_frees_the_slot(
    proxy: str, user: User, fault: str, code: str
) -> None:
    body = {
        "model": "mock",
        "chatId": f"fault-{fault}",
        "responseChatItemId": f"reply-{fault}",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
        "mock_fault": fault,
        "mock_cut_after": 3,
    }

    status, events = stream(proxy, user, body)
    after_status, after = stream(
        proxy,
        user,
        {"model": "mock", "stream": True, "messages": [{"role": "user", "content": "again"}]},
    )

    assert status == 200
    assert events[-1] == "[DONE]"
    assert events[-2]["error"]["code"] == code
    assert not any("error" in e for e in events[:-2] if isinstance(e, dict))
    reply = saved_reply(f"reply-{fault}")
    if fault != "nodone":  # nodone sends every token, then ends without [DONE]
        assert reply.text.startswith("tok0 tok1 tok2 ")
        assert "x" * 100 not in reply.text  # the 10 MB chunk was not kept
    assert reply.usage["incomplete"] is True
    assert reply.usage["error"] == code
    generation = Generation.objects.get(response_message_id=f"reply-{fault}")
    assert generation.status == "incomplete"
    # The one upstream connection was given back: the next completion got it.
    assert after_status == 200
    assert after[-1] == "[DONE]"
    assert not any("error" in e for e in after if isinstance(e, dict))
    deadline = time.monotonic() + 10
    while active_completions(proxy) != 0:
        assert time.monotonic() < deadline, "a completion turn was never let go"
        time.sleep(0.1)
