"""Completions and streams through the SDK: a real daphne, the stand-in upstream, and the
flaky proxy to cut a stream mid-answer."""

import asyncio
import time
import uuid
from typing import Any

import pytest
from webui_client import (
    APIConnectionError,
    APIError,
    ChatCompletionChunk,
    Completion,
    StreamParseError,
)

from chats.models import Message
from llm.models import Generation
from tests.sdk.conftest import Both
from tests.sdk.proxy import FlakyProxy
from tests.upstream import StandIn

pytestmark = pytest.mark.django_db(transaction=True)

COMPLETIONS = "/api/v1/chat/completions"


def tokens(count: int) -> str:
    return "".join(f"tok{i} " for i in range(count))


def wait_for(check: Any, both: Both, what: str) -> None:
    """Poll ``check()`` (letting an async client's loop run meanwhile) for up to 20 seconds."""
    deadline = time.monotonic() + 20
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if both.is_async:
            both.run(asyncio.sleep(0.05))
        else:
            time.sleep(0.05)


def test_complete_with_a_server_side_chat(both: Both, sdk_server: str, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    chat_id = str(uuid.uuid4())

    first = both.run(chat.complete("Hello", model="mock", chat_id=chat_id, mock_chunks=3))
    second = both.run(
        chat.complete(
            [{"role": "user", "content": "Again"}],
            model="mock",
            chat_id=chat_id,
            detail=True,
            custom_uid="u-1",
            response_message_id="reply-2",
        )
    )

    assert isinstance(first, Completion)
    assert first.text == tokens(3)
    assert first.chat_id == chat_id
    assert first.usage is not None
    assert first.usage["completion_tokens"] == 3
    assert second.response_message_id == "reply-2"
    assert second.response_data is not None
    assert second.response_data[0]["moduleName"] == "AI Chat"
    saved = list(Message.objects.filter(chat_id=chat_id).values_list("role", "text"))
    assert saved == [
        ("user", "Hello"),
        ("assistant", tokens(3)),
        ("user", "Again"),
        ("assistant", tokens(5)),
    ]
    assert Generation.objects.get(response_message_id="reply-2").custom_uid == "u-1"


def test_stream_gives_chunks_usage_and_done(both: Both, sdk_server: str, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)

    stream = both.run(chat.stream("Hi", model="mock", mock_chunks=4))
    chunks = both.iterate(stream)

    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.text for c in chunks) == tokens(4) == stream.text
    assert stream.done
    assert stream.finish_reason == "stop"
    assert stream.usage is not None
    assert stream.usage["completion_tokens"] == 4
    assert chunks[-1].choices == []  # the usage chunk comes last
    assert chunks[-1].usage == stream.usage
    assert stream.response.is_closed


def test_raw_streamed_response_is_fastgpts(both: Both, sdk_server: str, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)

    response = both.run(
        chat.create_chat_completion(
            [{"role": "user", "content": "hi"}], stream=True, detail=True, model="mock"
        )
    )
    body = both.run(response.aread() if both.is_async else response.read()).decode()
    both.run(response.aclose() if both.is_async else response.close())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "event: responseData" in body
    assert body.rstrip().endswith("data: [DONE]")


def test_leaving_a_stream_early_closes_it(
    both: Both, sdk_server: str, ann_key: str, upstream: StandIn
) -> None:
    """Without a chat, the server cancels the upstream once the client is gone: the upstream
    hears the disconnect only because the SDK closed the response."""
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    before = upstream.disconnects

    stream = both.run(chat.stream("long", model="mock", mock_chunks=200, mock_delay=0.05))
    chunks = both.iterate(stream, limit=2)

    assert len(chunks) == 2
    wait_for(lambda: stream.response.is_closed, both, "the response to close")
    wait_for(lambda: upstream.disconnects > before, both, "the upstream to hear the disconnect")
    assert not stream.done


def test_stream_error_chunk_raises_api_error(both: Both, sdk_server: str, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)

    stream = both.run(chat.stream("x", model="mock", mock_fault="cut", mock_cut_after=2))
    with pytest.raises(APIError) as caught:
        both.iterate(stream)

    assert caught.value.code is not None
    assert stream.text == tokens(2)
    assert stream.response.is_closed


def test_malformed_chunk_is_a_stream_parse_error(
    both: Both, proxy: FlakyProxy, ann_key: str
) -> None:
    chat = both.chat(api_key=ann_key, base_url=proxy.url)
    proxy.script(COMPLETIONS, "garble")

    stream = both.run(chat.stream("x", model="mock"))
    with pytest.raises(StreamParseError):
        both.iterate(stream)
    assert stream.response.is_closed


def read_noting_resume(both: Both, stream: Any) -> list[tuple[str, bool]]:
    """Each chunk's text, and whether the stream had resumed when it came."""

    async def collect() -> list[tuple[str, bool]]:
        return [(chunk.text, stream.resumed) async for chunk in stream]

    if both.is_async:
        return both.run(collect())
    return [(chunk.text, stream.resumed) for chunk in stream]


def test_stream_resumes_after_the_connection_is_cut(
    both: Both, proxy: FlakyProxy, ann_key: str, upstream: StandIn
) -> None:
    chat = both.chat(api_key=ann_key, base_url=proxy.url)
    chat_id = str(uuid.uuid4())
    asked = len(upstream.requests)
    proxy.script(COMPLETIONS, "cut")  # after three events the connection is closed

    stream = both.run(
        chat.stream(
            "tell me", model="mock", chat_id=chat_id, resume=True, mock_chunks=40, mock_delay=0.03
        )
    )
    parts = read_noting_resume(both, stream)

    before = "".join(text for text, resumed in parts if not resumed)
    after = "".join(text for text, resumed in parts if resumed)
    saved = Message.objects.get(chat_id=chat_id, role="assistant")
    assert stream.resumed
    assert before  # some text came before the cut ...
    assert after  # ... and the rest after it
    assert before + after == stream.text == tokens(40) == saved.text
    assert stream.message_id == saved.message_id
    assert stream.usage is not None
    assert stream.usage["completion_tokens"] == 40
    assert stream.done
    assert proxy.count(COMPLETIONS, forwarded=True) == 1  # the completion was sent once
    assert len(upstream.requests) == asked + 1
    assert proxy.count(f"/api/chats/{chat_id}/events") >= 1
    assert Message.objects.filter(chat_id=chat_id, role="user").count() == 1


def test_without_resume_a_cut_stream_raises(both: Both, proxy: FlakyProxy, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=proxy.url)
    chat_id = str(uuid.uuid4())
    proxy.script(COMPLETIONS, "cut")

    stream = both.run(
        chat.stream("tell me", model="mock", chat_id=chat_id, mock_chunks=20, mock_delay=0.02)
    )
    with pytest.raises(APIConnectionError):
        both.iterate(stream)

    # The server finished the answer anyway; the SDK did not send the question again.
    wait_for(
        lambda: Message.objects.filter(chat_id=chat_id, role="assistant").exists(),
        both,
        "the reply to be saved",
    )
    assert proxy.count(COMPLETIONS) == 1
    assert Message.objects.filter(chat_id=chat_id, role="user").count() == 1


def test_resume_needs_a_chat_id(both: Both, sdk_server: str, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    with pytest.raises(ValueError, match="chat_id"):
        both.run(chat.stream("x", model="mock", resume=True))


def test_deleting_the_question_while_it_is_answered(
    both: Both, sdk_server: str, ann_key: str
) -> None:
    """The reply has nowhere to go: the turn ends failed (``message_deleted``), nothing is
    saved under a message that no longer exists, and the tokens are still counted."""
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    chat_id = str(uuid.uuid4())

    stream = both.run(
        chat.stream("slow", model="mock", chat_id=chat_id, mock_chunks=30, mock_delay=0.03)
    )
    first = both.iterate(stream, limit=2)
    question = Message.objects.get(chat_id=chat_id, role="user")
    deleted = both.run(chat.delete_message(chat_id, question.message_id))
    both.run(stream.aclose() if both.is_async else stream.close())

    assert first
    assert deleted.status_code == 204
    wait_for(
        lambda: Generation.objects.get(chat_id=chat_id).status != Generation.Status.STREAMING,
        both,
        "the turn to end",
    )
    generation = Generation.objects.get(chat_id=chat_id)
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "message_deleted"
    assert generation.completion_tokens == 30
    assert not Message.objects.filter(chat_id=chat_id).exists()


def test_resume_reconnects_when_the_events_drop_too(
    both: Both, proxy: FlakyProxy, ann_key: str
) -> None:
    chat = both.chat(api_key=ann_key, base_url=proxy.url)
    chat_id = str(uuid.uuid4())
    events = f"/api/chats/{chat_id}/events"
    proxy.script(COMPLETIONS, "cut")
    proxy.script(events, "cut")  # the first follow-up is cut as well, after three events

    stream = both.run(
        chat.stream(
            "again", model="mock", chat_id=chat_id, resume=True, mock_chunks=30, mock_delay=0.02
        )
    )
    texts = [chunk.text for chunk in both.iterate(stream)]

    saved = Message.objects.get(chat_id=chat_id, role="assistant")
    assert "".join(texts) == stream.text == tokens(30) == saved.text
    assert proxy.count(events) == 2
    first, second = (s.headers.get("last-event-id") for s in proxy.seen if s.path == events)
    assert first == stream.response.headers["X-Chat-Event-Seq"]  # just before this turn
    assert int(first) >= 1  # the question's own event came first
    assert int(second) > int(first)  # from where the first one broke off
