"""A new chat is answered from what was written (no read back): the answer must be exactly
the chat as stored, whatever the body held."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from users.models import User

pytestmark = pytest.mark.django_db

IMAGE = "data:image/png;base64,AA=="


def tree_body() -> dict:
    """Open WebUI's shape: a tree with two branches under the question, the second current."""
    return {
        "chat": {
            "title": "  Branches  ",
            "models": ["m1", "m2"],
            "history": {
                "currentId": "a2",
                "messages": {
                    "q": {
                        "id": "q",
                        "parentId": None,
                        "childrenIds": ["a1", "a2"],
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/png;base64,AA=="},
                            },
                        ],
                        "timestamp": 1_700_000_000,
                        "models": ["m1"],
                    },
                    "a1": {
                        "id": "a1",
                        "parentId": "q",
                        "childrenIds": [],
                        "role": "assistant",
                        "content": "first answer",
                        "model": "m1",
                        "info": {"usage": {"prompt_tokens": 3, "completion_tokens": 2}},
                        "timestamp": 1_700_000_005,
                    },
                    "a2": {
                        "id": "a2",
                        "parentId": "q",
                        "childrenIds": [],
                        "role": "assistant",
                        "content": "second answer, ünïcödé",
                        "model": "m2",
                        "sources": [{"source": {"name": "doc"}, "document": ["text"]}],
                        "feedback": {"rating": 1, "comment": "good"},
                        "done": True,
                    },
                },
            },
            "params": {},
            "timestamp": 1_700_000_000_000,
        },
        "folder_id": None,
    }


@pytest.mark.parametrize(
    "body",
    [
        tree_body(),
        {"chat": {"title": "list", "messages": [{"role": "user", "content": "hi"}]}},
        {"chat": {}},
        {"chat": {"title": "tagged", "tags": ["Work", "work "], "pinned": True}},
    ],
    ids=["open-webui-tree", "message-list", "empty", "tags-and-flags"],
)
def test_the_answer_to_a_create_is_the_chat_as_stored(
    body: dict, owner: User, client_of: Callable[[User], APIClient]
) -> None:
    api = client_of(owner)

    created = api.post("/api/chats/new", body, format="json")
    stored = api.get(f"/api/chats/{created.json()['id']}")

    assert created.status_code == 200, created.content
    assert created.json() == stored.json()
