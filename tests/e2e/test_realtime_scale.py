"""Rooms across processes: two real servers and a Celery worker on real Redis."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from realtime.events import chat_room, publish, user_room
from realtime.tasks import publish_task
from tests.e2e.test_realtime import Recorder, new_chat, token_for
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="crossing processes needs Redis (CI runs this with REDIS_URL set)",
    ),
]


async def test_two_processes_and_a_worker_share_rooms(start_server: Callable[..., Any]) -> None:
    first_url, second_url = start_server("daphne"), start_server("daphne")
    start_server.worker()
    user = await database_sync_to_async(UserFactory)(email="scale@example.com")
    chat_id = await new_chat(first_url, user)
    on_first, on_second = Recorder(), Recorder()
    await on_first.client.connect(
        first_url, auth={"token": token_for(user)}, transports=["websocket"]
    )
    await on_second.client.connect(
        second_url, auth={"token": token_for(user)}, transports=["websocket"]
    )
    try:
        await on_first.client.call("join_chat", {"chat_id": chat_id}, timeout=5)
        await on_second.client.call("join_chat", {"chat_id": chat_id}, timeout=5)
        await on_first.wait_for("user_join", 2)  # the second process's join crossed over

        for n in range(5):
            await on_first.client.call(
                "message",
                {"chat_id": chat_id, "message": {"role": "user", "content": f"n{n}"}},
                timeout=5,
            )
        crossed = await on_second.wait_for("message", 5)
        await asyncio.to_thread(
            publish_task.delay, chat_room(chat_id), "notice", {"from": "worker"}
        )
        from_worker = [await r.wait_for("notice", timeout=15) for r in (on_first, on_second)]
        await on_second.client.disconnect()
        (left,) = await on_first.wait_for("user_leave")
    finally:
        for recorder in (on_first, on_second):
            if recorder.client.connected:
                await recorder.client.disconnect()

    assert [m["message"]["content"] for m in crossed] == [f"n{n}" for n in range(5)]
    assert [m["seq"] for m in crossed] == sorted(m["seq"] for m in crossed)
    assert all(events[0]["from"] == "worker" for events in from_worker)
    assert left["user_id"] == str(user.pk)


async def test_a_socket_idle_past_the_layers_blocking_wait_still_hears_its_events(
    start_server: Callable[..., Any],
) -> None:
    """channels_redis waits 5 s for a message per Redis read; redis-py 8 used to time such a
    read out after 5 s, and the socket, still open, heard nothing more."""
    url = start_server("daphne")
    user = await database_sync_to_async(UserFactory)(email="idle@example.com")
    tab = Recorder()
    await tab.client.connect(url, auth={"token": token_for(user)}, transports=["websocket"])
    try:
        await asyncio.sleep(7)
        await sync_to_async(publish)(user_room(user.pk), "probe", {"n": 1})
        seen = await tab.wait_for("probe", 1, timeout=5)
    finally:
        await tab.client.disconnect()

    assert seen == [{"n": 1}]
