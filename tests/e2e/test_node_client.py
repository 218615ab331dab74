"""The seed's own client, socket.io-client v4 under Node, against the real server."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from channels.db import database_sync_to_async

from tests.e2e.conftest import token_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
CLIENT = Path(__file__).resolve().parents[1] / "node"


def node_ready() -> bool:
    return bool(shutil.which("node")) and (CLIENT / "node_modules" / "socket.io-client").is_dir()


@pytest.mark.skipif(
    not node_ready() and not os.environ.get("CI"),
    reason="needs node and `npm install --prefix tests/node` (CI always runs it)",
)
async def test_socket_io_client_v4_connects_joins_sends_and_receives(server_url: str) -> None:
    user = await database_sync_to_async(UserFactory)(email="node@example.com")
    token = token_for(user)
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as client:
        created = await client.post(
            "/api/chats/new", json={"chat": {}}, headers={"Authorization": f"Bearer {token}"}
        )
    chat_id = created.json()["id"]

    run = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        ["node", str(CLIENT / "client.mjs"), server_url, token, chat_id],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["connected"] is True
    assert seen["joined"]["ok"] is True
    assert seen["ack"]["ok"] is True
    (message,) = seen["messages"]
    assert message["chat_id"] == chat_id
    assert message["message"]["content"] == "Hello from socket.io-client!"
    assert message["message"]["id"] == seen["ack"]["id"]
    assert seen["joins"][0]["user_id"] == str(user.pk)
