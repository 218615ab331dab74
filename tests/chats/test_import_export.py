import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from chats.models import Chat, Message
from tests.chats.helpers import create_chat, msg
from users.models import User

pytestmark = pytest.mark.django_db


def export(client: APIClient) -> dict[str, Any]:
    response = client.get("/api/chats/export")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    return json.loads(b"".join(response.streaming_content))


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without its export time, chats in id order (their order carries nothing)."""
    chats = sorted(document["chats"], key=lambda chat: chat["id"])
    return {**{k: v for k, v in document.items() if k != "exported_at"}, "chats": chats}


@pytest.fixture
def rich_history(client_of: Callable[[User], APIClient], owner: User) -> dict[str, Any]:
    client = client_of(owner)
    tree = create_chat(
        client,
        title="tree",
        tags=["alpha", "Beta"],
        folder_id="folder-1",
        models=["m1"],
        history={
            "messages": {
                "q": {"role": "user", "content": "question"},
                "a1": {"role": "assistant", "content": "one", "parent_id": "q", "model": "m1"},
                "a2": {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "two"}],
                    "parent_id": "q",
                    "usage": {"prompt_tokens": 3, "completion_tokens": 5},
                },
            },
            "current_id": "a1",
        },
    )
    create_chat(client, title="plain", pinned=True, messages=[msg("system", "be nice")])
    create_chat(client, title="old", archived=True)
    return tree


def test_export_import_round_trip_is_lossless(
    client_of: Callable[[User], APIClient],
    owner: User,
    make_user,
    rich_history: dict,  # type: ignore[no-untyped-def]
) -> None:
    original = export(client_of(owner))
    owner.delete()  # as if moving to another server: the ids are free there
    newcomer = client_of(make_user(email="moved@example.com"))

    imported = newcomer.post("/api/chats/import", original, format="json")

    assert imported.status_code == 200, imported.content
    assert len(imported.json()) == 3
    assert comparable(export(newcomer)) == comparable(original)


def test_importing_into_the_same_account_makes_copies(
    client_of: Callable[[User], APIClient], owner: User, rich_history: dict
) -> None:
    client = client_of(owner)
    document = export(client)

    response = client.post("/api/chats/import", document, format="json")

    assert response.status_code == 200
    assert Chat.objects.filter(user=owner).count() == 6
    assert rich_history["id"] not in {c["id"] for c in response.json()}


def bad_document(**chat_changes: Any) -> dict[str, Any]:
    chat = {
        "title": "t",
        "models": [],
        "folder_id": None,
        "pinned": False,
        "archived": False,
        "tags": [],
        "current_id": None,
        "created_at": 1_700_000_000,
        "updated_at": 1_700_000_000,
        "messages": [],
        **chat_changes,
    }
    good = {**chat, "messages": [{"id": "ok", "role": "user", "content": "fine", "timestamp": 1}]}
    return {"format": "webui-backend.chats", "version": 1, "chats": [good, chat]}


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"chats": []}, "invalid_import"),
        ([1, 2, 3], "invalid_import"),
        ({"format": "something-else", "version": 1, "chats": []}, "invalid"),
        ({"format": "webui-backend.chats", "version": 99, "chats": []}, "invalid"),
        (
            bad_document(
                messages=[
                    {"id": "a", "parent_id": "b", "role": "user", "content": "x", "timestamp": 1},
                    {"id": "b", "parent_id": "a", "role": "user", "content": "y", "timestamp": 1},
                ]
            ),
            "invalid_import",
        ),
        (
            bad_document(
                messages=[{"id": "a", "parent_id": "ghost", "role": "user", "content": "x"}]
            ),
            "invalid_import",
        ),
        (bad_document(messages=[{"role": "user", "content": "no id"}]), "invalid"),
        (bad_document(title="t" * 1001), "invalid"),
        (bad_document(current_id="nowhere"), "invalid_import"),
        (bad_document(created_at="yesterday"), "invalid"),
    ],
    ids=[
        "no-format",
        "not-an-object",
        "other-format",
        "other-version",
        "cycle",
        "unknown-parent",
        "message-without-id",
        "long-title",
        "bad-current",
        "bad-timestamp",
    ],
)
def test_bad_imports_are_400_and_write_nothing(
    client_of: Callable[[User], APIClient], owner: User, document: Any, code: str
) -> None:
    response = client_of(owner).post("/api/chats/import", document, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert Chat.objects.count() == 0
    assert Message.objects.count() == 0


def test_oversized_import_is_413(
    client_of: Callable[[User], APIClient], owner: User, settings: Any
) -> None:
    settings.CHAT_IMPORT_MAX_BYTES = 4096
    document = bad_document(title="x" * 900)
    document["chats"] = [document["chats"][0]] * 10

    response = client_of(owner).post("/api/chats/import", document, format="json")

    assert response.status_code == 413
    assert Chat.objects.count() == 0


def test_export_holds_only_my_chats(
    client_of: Callable[[User], APIClient], owner: User, stranger: User
) -> None:
    create_chat(client_of(stranger), title="theirs")
    create_chat(client_of(owner), title="mine")

    assert [c["title"] for c in export(client_of(owner))["chats"]] == ["mine"]
