"""The ASGI handler (webui_backend/threads.py) runs a sync view's request in one trip to its
thread: what Django does around a request must still happen, once, in that thread."""

import asyncio
import json
import threading
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core import signals

from webui_backend.threads import Admission, ASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def handler(settings: Any) -> ASGIHandler:
    settings.ROOT_URLCONF = "tests.core.asgi_views"
    return ASGIHandler()


async def get(handler: ASGIHandler, path: str, query: str = "") -> tuple[int, dict, dict]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    app = ApplicationCommunicator(handler, scope)
    await app.send_input({"type": "http.request", "body": b""})
    start = await app.receive_output(5)
    body = await app.receive_output(5)
    await app.wait(5)
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body["body"])


async def test_each_request_starts_with_its_threads_query_log_cleared(
    handler: ASGIHandler,
) -> None:
    # Django's request_started receivers (reset_queries, close_old_connections) run in the
    # request's thread: the second request, on the same pooled thread, sees an empty log.
    first = await get(handler, "/queries")
    second = await get(handler, "/queries")
    assert first[0] == second[0] == 200
    assert second[2]["thread"] == first[2]["thread"]
    assert second[2]["logged"] == 0


async def test_other_receivers_of_request_started_are_still_sent_it(
    handler: ASGIHandler,
) -> None:
    seen: list[dict] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    signals.request_started.connect(receiver)
    try:
        await get(handler, "/rendered")
        await get(handler, "/async")
    finally:
        signals.request_started.disconnect(receiver)
    assert len(seen) == 2
    assert all(item["scope"]["type"] == "http" for item in seen)


@pytest.mark.parametrize("status", [200, 404])
async def test_a_drf_response_is_rendered_with_the_middlewares_headers(
    handler: ASGIHandler, status: int
) -> None:
    code, headers, body = await get(handler, "/rendered", f"s={status}")
    assert code == status
    assert body["thread"] != threading.get_ident()  # the view ran off the event loop
    assert headers["content-type"] == "application/json"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-request-id"]


async def test_async_views_and_unknown_paths_still_answer(handler: ASGIHandler) -> None:
    code, _, body = await get(handler, "/async")
    assert code == 200
    assert body["thread"] == threading.get_ident()  # on the event loop
    assert await status_of_unknown_path(handler) == 404


async def status_of_unknown_path(handler: ASGIHandler) -> int:
    app = ApplicationCommunicator(
        handler,
        {
            "type": "http",
            "method": "GET",
            "path": "/nowhere",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"accept", b"application/json")],
        },
    )
    await app.send_input({"type": "http.request", "body": b""})
    start = await app.receive_output(5)
    await app.receive_output(5)
    await app.wait(5)
    return start["status"]


# --- Admission: how many sync requests run at once -------------------------------------------


async def test_requests_beyond_the_slots_wait_their_turn(settings: Any) -> None:
    settings.REQUEST_SLOTS, settings.REQUEST_SLOT_PATIENCE = 2, 5.0
    admission, running, most = Admission(), 0, 0

    async def work() -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1
        return 1

    assert sum(await asyncio.gather(*(admission.run(work()) for _ in range(10)))) == 10
    assert most == 2


async def test_a_slow_request_gives_its_place_up_after_the_patience(settings: Any) -> None:
    settings.REQUEST_SLOTS, settings.REQUEST_SLOT_PATIENCE = 1, 0.05
    admission = Admission()
    slow_may_end = asyncio.Event()

    async def slow() -> str:
        await slow_may_end.wait()
        return "slow"

    async def quick() -> str:
        return "quick"

    slow_task = asyncio.ensure_future(admission.run(slow()))
    await asyncio.sleep(0)
    # The quick one gets in once the slow one has run past its patience, not when it ends.
    assert await asyncio.wait_for(admission.run(quick()), 2) == "quick"
    assert not slow_task.done()
    slow_may_end.set()
    assert await slow_task == "slow"


async def test_a_failed_or_abandoned_request_gives_its_place_back(settings: Any) -> None:
    settings.REQUEST_SLOTS, settings.REQUEST_SLOT_PATIENCE = 1, 5.0
    admission = Admission()

    async def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await admission.run(fails())
    never = asyncio.Event()
    abandoned = asyncio.ensure_future(admission.run(never.wait()))
    await asyncio.sleep(0.01)
    abandoned.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await abandoned

    async def quick() -> str:
        return "in"

    assert await asyncio.wait_for(admission.run(quick()), 1) == "in"
