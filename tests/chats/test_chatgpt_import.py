"""ChatGPT's data export (conversations.json) imported through POST /api/chats/import and
manage.py import_chats. The fixture follows the published format of that file: a list of
conversations, each a ``mapping`` of nodes with ``parent``/``children``, ``current_node``."""

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from chats.models import Chat
from users.models import User

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent / "fixtures" / "chatgpt_conversations.json"
EXPORT = json.loads(FIXTURE.read_text())
N = "aaa1c2d3-0000-4000-8000-00000000000"  # node ids of the first conversation, by last digit


def import_it(client: APIClient, body: Any) -> Any:
    return client.post("/api/chats/import", body, format="json")


def test_conversations_with_every_branch(
    client_of: Callable[[User], APIClient], owner: User
) -> None:
    client = client_of(owner)
    response = import_it(client, EXPORT)
    assert response.status_code == 200, response.content
    listed = {c["title"]: c for c in response.json()}
    assert set(listed) == {"Rivers of Europe", "Short one"}
    chat = client.get(f"/api/chats/{listed['Rivers of Europe']['id']}").json()
    assert chat["id"] == "6a4e2f1b-1c2d-4e5f-8a9b-0c1d2e3f4a5b"  # the conversation's id
    assert chat["created_at"] == 1717171717
    history = chat["chat"]["history"]
    tree = {
        mid: (m["parent_id"], m["role"], m["content"]) for mid, m in history["messages"].items()
    }
    assert tree == {
        f"{N}3": (None, "user", "Which river flows through Paris?"),
        f"{N}4": (f"{N}3", "assistant", "The Seine."),
        f"{N}5": (f"{N}3", "assistant", "Paris lies on the Seine."),  # the regeneration
        f"{N}6": (None, "user", "Which river is in this picture of Rome?"),  # the edit
        f"{N}9": (f"{N}6", "assistant", "That is the Tiber."),  # under the tool steps left out
    }
    assert history["current_id"] == f"{N}9"
    assert [m["id"] for m in chat["chat"]["messages"]] == [f"{N}6", f"{N}9"]
    assert history["messages"][f"{N}4"]["model"] == "gpt-4o"
    assert history["messages"][f"{N}5"]["model"] == "gpt-4o-mini"
    assert history["messages"][f"{N}3"]["timestamp"] == 1717171720
    assert chat["chat"]["models"] == ["gpt-4o", "gpt-4o-mini"]
    # Switching to the other branch works as for any chat.
    switched = client.post(
        f"/api/chats/{chat['id']}/current", {"message_id": f"{N}5"}, format="json"
    )
    assert switched.status_code == 200
    assert [m["content"] for m in switched.json()["chat"]["messages"]] == [
        "Which river flows through Paris?",
        "Paris lies on the Seine.",
    ]
    short = client.get(f"/api/chats/{listed['Short one']['id']}").json()
    assert short["archived"] is True
    assert [m["content"] for m in short["chat"]["messages"]] == ["Hello", "Hi! How can I help?"]


def test_not_a_chatgpt_export(client_of: Callable[[User], APIClient], owner: User) -> None:
    client = client_of(owner)
    for body in ([{"title": "x"}], [1, 2], {"mapping": {}}):
        response = import_it(client, body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "invalid_import"
    broken = json.loads(FIXTURE.read_text())
    broken[0]["mapping"][f"{N}4"]["parent"] = f"{N}4"  # a cycle hides it from every root
    broken[0]["mapping"][f"{N}3"]["children"] = [f"{N}5"]
    response = import_it(client, broken)
    assert response.status_code == 200  # the node no root reaches is left out, the rest kept
    assert Chat.objects.filter(user=owner).count() == 2


def test_manage_py_import_chats(tmp_path: Path, owner: User) -> None:
    out = io.StringIO()
    call_command("import_chats", str(FIXTURE), "--user", owner.email, stdout=out)
    assert Chat.objects.filter(user=owner).count() == 2
    assert "2 chats imported" in out.getvalue()
    assert "image" in out.getvalue()  # what was left out is said
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(CommandError, match="not JSON"):
        call_command("import_chats", str(bad), "--user", owner.email, stdout=io.StringIO())
    with pytest.raises(CommandError, match="No account"):
        call_command("import_chats", str(FIXTURE), "--user", "x@example.com")
