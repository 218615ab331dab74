"""A chat's events over SSE, with the sockets' sequence numbers and Last-Event-ID."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async

from tests.e2e.conftest import token_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("event: "):
            current["event"] = line[7:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "id" in current:
            events.append(current)
            current = {}
            if len(events) == count:
                return events
    return events


async def test_events_resume_after_last_event_id_then_go_live(server_url: str) -> None:
    user = await database_sync_to_async(UserFactory)()
    auth = {"Authorization": f"Bearer {token_for(user)}"}
    async with httpx.AsyncClient(base_url=server_url, headers=auth, timeout=10) as client:
        chat_id = (await client.post("/api/chats/new", json={"chat": {}})).json()["id"]
        for text in ("one", "two"):
            await client.post(
                f"/api/chats/{chat_id}/messages", json={"role": "user", "content": text}
            )

        async with client.stream(
            "GET", f"/api/chats/{chat_id}/events", headers={"Last-Event-ID": "0"}
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")

            async def write_later() -> None:
                await asyncio.sleep(0.3)
                await client.post(
                    f"/api/chats/{chat_id}/messages", json={"role": "user", "content": "three"}
                )

            writer = asyncio.create_task(write_later())
            events = await asyncio.wait_for(read_events(response, 3), 10)
            await writer

        async with client.stream(
            "GET", f"/api/chats/{chat_id}/events", headers={"Last-Event-ID": "2"}
        ) as again:
            resumed = await asyncio.wait_for(read_events(again, 1), 10)

    assert [e["id"] for e in events] == [1, 2, 3]
    assert [e["data"]["message"]["content"] for e in events] == ["one", "two", "three"]
    assert {e["event"] for e in events} == {"message"}
    assert resumed[0]["id"] == 3


async def test_events_of_another_users_chat_are_404(server_url: str) -> None:
    owner = await database_sync_to_async(UserFactory)()
    stranger = await database_sync_to_async(UserFactory)()
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as client:
        chat_id = (
            await client.post(
                "/api/chats/new",
                json={"chat": {}},
                headers={"Authorization": f"Bearer {token_for(owner)}"},
            )
        ).json()["id"]
        foreign = await client.get(
            f"/api/chats/{chat_id}/events",
            headers={"Authorization": f"Bearer {token_for(stranger)}"},
        )
        anonymous = await client.get(f"/api/chats/{chat_id}/events")
        bad_id = await client.get(
            f"/api/chats/{chat_id}/events",
            headers={"Authorization": f"Bearer {token_for(owner)}", "Last-Event-ID": "abc"},
        )

    assert foreign.status_code == 404
    assert foreign.json()["code"] == "chat_not_found"
    assert anonymous.status_code == 401
    assert bad_id.status_code == 400
    assert bad_id.json()["code"] == "invalid_last_event_id"
