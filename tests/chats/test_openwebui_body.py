"""Open WebUI's own frontend body for ``POST /api/chats/new`` creates a chat here.

The fixture is the body Open WebUI 0.12.4's frontend sends for a first turn (Chat.svelte's
``initChatHandler``: ``chat.id`` empty, ``params``, ``history`` with ``parentId``/``childrenIds``/
``currentId``, the same messages again as a list, ``tags``, a millisecond ``timestamp``; the
messages carry ``user``, ``user_id``, ``models``, ``done``, ``modelName``, ``modelIdx``). The
real Open WebUI answered it with 200 (tests/tools/build_openwebui_fixture.py sends it too).
"""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from users.models import User

pytestmark = pytest.mark.django_db

BODY = json.loads((Path(__file__).parent / "fixtures" / "openwebui_chats_new.json").read_text())
USER_ID = "5c0f0cf1-6e43-4c5e-9d0a-0c8ab6a1b001"
REPLY_ID = "9a4b3f2e-1d7c-4b8a-a6f5-2e1c0d9b8a02"


def test_open_webui_frontend_body_creates_the_chat(
    client_of: Callable[[User], APIClient], owner: User
) -> None:
    client = client_of(owner)
    response = client.post("/api/chats/new", BODY, format="json")
    assert response.status_code == 200, response.content
    chat = response.json()
    assert chat["id"]  # the server's id, not the empty one sent
    assert chat["title"] == "New Chat"
    body = chat["chat"]
    assert body["models"] == ["gpt-4o-mini"]
    assert body["history"]["current_id"] == REPLY_ID
    assert [m["id"] for m in body["messages"]] == [USER_ID, REPLY_ID]
    question, reply = body["messages"]
    assert question["content"] == "What is the capital of France?"
    assert question["parent_id"] is None
    assert question["timestamp"] == 1764921600
    assert reply["parent_id"] == USER_ID
    assert reply["model"] == "gpt-4o-mini"
    assert body["history"]["messages"][USER_ID]["children_ids"] == [REPLY_ID]
    # The chat is stored: it lists and reads back the same.
    listed = client.get("/api/chats/").json()
    assert [c["id"] for c in listed] == [chat["id"]]
    assert client.get(f"/api/chats/{chat['id']}").json()["chat"] == body


def test_the_next_turn_saved_as_open_webui_does(
    client_of: Callable[[User], APIClient], owner: User
) -> None:
    """Open WebUI then saves the whole chat body back with the answer filled in."""
    client = client_of(owner)
    chat = client.post("/api/chats/new", BODY, format="json").json()
    body: dict[str, Any] = copy.deepcopy(BODY["chat"])
    reply = body["history"]["messages"][REPLY_ID]
    reply.update(
        content="Paris.",
        done=True,
        usage={"prompt_tokens": 9, "completion_tokens": 2},
        statusHistory=[],
        info={"total_duration": 1},
        sources=[{"source": {"name": "atlas.txt"}, "document": ["Paris"], "metadata": [{}]}],
    )
    body["messages"][1] = reply
    response = client.post(f"/api/chats/{chat['id']}", {"chat": body}, format="json")
    assert response.status_code == 200, response.content
    saved = response.json()["chat"]["messages"][1]
    assert saved["content"] == "Paris."
    assert saved["usage"] == {"prompt_tokens": 9, "completion_tokens": 2}
    assert saved["sources"][0]["source"] == {"name": "atlas.txt"}


def test_open_webui_folder_beside_the_chat(
    client_of: Callable[[User], APIClient], owner: User
) -> None:
    client = client_of(owner)
    response = client.post("/api/chats/new", {**BODY, "folder_id": "f-1"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["folder_id"] == "f-1"


def test_stored_fields_are_still_validated(
    client_of: Callable[[User], APIClient], owner: User
) -> None:
    """Leniency covers the fields we do not keep, never bad values of those we do."""
    client = client_of(owner)
    bad = copy.deepcopy(BODY)
    bad["chat"]["history"]["messages"][USER_ID]["role"] = "wizard"
    response = client.post("/api/chats/new", bad, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    bad = copy.deepcopy(BODY)
    bad["chat"]["history"]["messages"][REPLY_ID]["parentId"] = "nowhere"
    response = client.post("/api/chats/new", bad, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_history"
    # A misspelt field of ours on the chat itself is still refused.
    response = client.post("/api/chats/new", {"chat": {"titel": "x"}}, format="json")
    assert response.status_code == 400
    assert "titel" in json.dumps(response.json()["fields"])


def test_open_webui_saves_only_the_messages_that_changed(
    client_of: Callable[[User], APIClient], owner: User
) -> None:
    """Open WebUI's frontend also saves a chat with just its new messages under ``history``
    (``{currentId, messages: {new id: {parentId: a stored message, ...}}}``)."""
    client = client_of(owner)
    chat = client.post("/api/chats/new", BODY, format="json").json()
    new = {
        "id": "c0ffee00-0000-4000-8000-000000000003",
        "parentId": REPLY_ID,
        "childrenIds": [],
        "role": "user",
        "content": "And of Italy?",
        "timestamp": 1764921700,
        "models": ["gpt-4o-mini"],
    }
    body = {"history": {"currentId": new["id"], "messages": {new["id"]: new}}}
    response = client.post(f"/api/chats/{chat['id']}", {"chat": body}, format="json")
    assert response.status_code == 200, response.content
    saved = response.json()["chat"]
    assert [m["id"] for m in saved["messages"]] == [USER_ID, REPLY_ID, new["id"]]
    assert saved["history"]["current_id"] == new["id"]
    # A message hanging from nothing known is still refused.
    orphan = {**new, "id": "c0ffee00-0000-4000-8000-000000000004", "parentId": "nowhere"}
    body = {"history": {"currentId": orphan["id"], "messages": {orphan["id"]: orphan}}}
    response = client.post(f"/api/chats/{chat['id']}", {"chat": body}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_history"
    body = {"history": {"currentId": "unknown-id", "messages": {}}}
    response = client.post(f"/api/chats/{chat['id']}", {"chat": body}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_history"
