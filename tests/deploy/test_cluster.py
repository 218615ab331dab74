"""The launcher's cluster: two web processes, a worker and beat on PostgreSQL and Redis."""

import asyncio
import json
import time
from collections import Counter

import httpx
import pytest
from channels.db import database_sync_to_async

from deploy.launch import Launcher
from tests.e2e.test_rate_limit_exact import fire
from tests.e2e.test_realtime import Recorder, new_chat, token_for
from tests.factories import UserFactory
from users.models import User
from users.policy import RateLimitPolicy
from users.services import site_settings_update

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_users_sockets_on_both_processes_see_each_others_messages(
    cluster: Launcher,
) -> None:
    first, second = cluster.urls
    user = await database_sync_to_async(UserFactory)(email="two-tabs@example.com")
    chat_id = await new_chat(first, user)
    tabs = [Recorder(), Recorder()]
    for tab, url in zip(tabs, (first, second), strict=True):
        await tab.client.connect(url, auth={"token": token_for(user)}, transports=["websocket"])
    try:
        for tab in tabs:
            await tab.client.call("join_chat", {"chat_id": chat_id}, timeout=5)
        for n, tab in enumerate(tabs):
            message = {"role": "user", "content": f"from tab {n}"}
            await tab.client.call("message", {"chat_id": chat_id, "message": message}, timeout=5)
        seen = [await tab.wait_for("message", 2, timeout=10) for tab in tabs]
    finally:
        for tab in tabs:
            await tab.client.disconnect()

    for events in seen:
        assert [e["message"]["content"] for e in events] == ["from tab 0", "from tab 1"]
    assert [e["seq"] for e in seen[0]] == [e["seq"] for e in seen[1]]


def test_the_rate_limit_is_exact_across_both_processes(cluster: Launcher) -> None:
    UserFactory(role=User.Role.ADMIN, email="cluster-admin@example.com")
    user = UserFactory(email="burst-cluster@example.com")
    site_settings_update(rate_limit=RateLimitPolicy(limit=15, window=60))

    responses = asyncio.run(fire(cluster.urls, token_for(user), 45))

    assert Counter(r.status_code for r in responses) == {200: 15, 429: 30}
    # Both processes answered (a limit per process would have admitted 30): the count is shared.
    assert len({r.url.port for r in responses}) == 2


def test_a_request_id_follows_the_request_into_the_worker(cluster: Launcher) -> None:
    admin = UserFactory(role=User.Role.ADMIN, email="boss-cluster@example.com")
    victim = UserFactory(email="leaving@example.com")
    request_id = f"trace-{time.monotonic_ns()}"

    response = httpx.delete(
        f"{cluster.urls[1]}/api/users/{victim.pk}",
        headers={"Authorization": f"Bearer {token_for(admin)}", "X-Request-ID": request_id},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == request_id
    deadline = time.monotonic() + 20
    while User.objects.filter(pk=victim.pk).exists():
        assert time.monotonic() < deadline, "the worker never removed the account"
        time.sleep(0.1)
    worker_lines = [json.loads(line) for line in cluster.processes["worker-0"].lines if "{" in line]
    traced = [line for line in worker_lines if line.get("request_id") == request_id]
    assert traced, "no worker log line carries the request's id"
    assert all(line.get("task_id") for line in traced)
    web_lines = [json.loads(line) for line in cluster.processes["web-1"].lines if "{" in line]
    access = [line for line in web_lines if line.get("request_id") == request_id]
    assert access[-1]["route"] == "api/users/<str:user_id>"
    assert access[-1]["status"] == 200


def test_an_insane_request_id_is_replaced(cluster: Launcher) -> None:
    response = httpx.get(
        f"{cluster.urls[0]}/api/version", headers={"X-Request-ID": "x" * 300}, timeout=10
    )

    assert response.status_code == 200
    assert len(response.headers["X-Request-ID"]) == 32


def test_metrics_need_the_token_and_label_routes_by_pattern(cluster: Launcher) -> None:
    user = UserFactory(email="metrics-reader@example.com")
    url = cluster.urls[0]
    chat = httpx.post(
        f"{url}/api/chats/new",
        json={"chat": {"title": "m"}},
        headers={"Authorization": f"Bearer {token_for(user)}"},
        timeout=10,
    ).json()
    httpx.get(
        f"{url}/api/chats/{chat['id']}",
        headers={"Authorization": f"Bearer {token_for(user)}"},
        timeout=10,
    )

    refused = httpx.get(f"{url}/metrics", timeout=10)
    page = httpx.get(
        f"{url}/metrics", headers={"Authorization": "Bearer metrics-secret"}, timeout=10
    )

    assert refused.status_code == 401
    assert page.status_code == 200
    text = page.text
    assert 'route="api/chats/<str:chat_id>"' in text
    assert chat["id"] not in text  # never a raw path
    assert "webui_open_sockets " in text
    assert f'webui_celery_queue_length{{queue="{cluster.env["CELERY_QUEUE"]}"}}' in text
    assert 'webui_active_completions{stream="true"}' in text or "webui_active_completions" in text


def test_a_change_made_on_one_process_applies_on_the_other_at_once(cluster: Launcher) -> None:
    """Each process keeps verified users a few seconds (users/auth_cache.py): a role change
    or a deletion made through one process must still apply to the very next request on the
    other, which has the user kept."""
    admin = UserFactory(role=User.Role.ADMIN, email="changer@example.com")
    user = UserFactory(email="changing@example.com")
    first, second = cluster.urls
    as_admin = {"Authorization": f"Bearer {token_for(admin)}"}
    as_user = {"Authorization": f"Bearer {token_for(user)}"}

    def me() -> httpx.Response:
        return httpx.get(f"{second}/api/auths/", headers=as_user, timeout=10)

    before = [me().json()["role"] for _ in range(3)]  # the second process now keeps the user
    promoted = httpx.post(
        f"{first}/api/users/{user.pk}/role", json={"role": "admin"}, headers=as_admin, timeout=10
    )
    after_promotion = me()
    deleted = httpx.delete(f"{first}/api/users/{user.pk}", headers=as_admin, timeout=10)
    after_deletion = me()

    assert before == ["user"] * 3
    assert promoted.status_code == 200, promoted.text
    assert after_promotion.json()["role"] == "admin"
    assert deleted.status_code == 200, deleted.text
    assert after_deletion.status_code == 401
