from typing import Any

from rest_framework.test import APIClient


def msg(role: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


def create_chat(client: APIClient, **chat: Any) -> dict[str, Any]:
    response = client.post("/api/chats/new", {"chat": chat}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def contents(chat: dict[str, Any]) -> list[Any]:
    return [m["content"] for m in chat["chat"]["messages"]]
