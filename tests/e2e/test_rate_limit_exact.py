"""The request limit is exact across processes: two real servers sharing one Redis."""

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.factories import PASSWORD
from users.models import User
from users.policy import RateLimitPolicy
from users.services import site_settings_update

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="needs REDIS_URL: without Redis the limit is per process (the embedded default"
        " runs one process); CI runs this on its PostgreSQL+Redis pass",
    ),
]

LIMIT = 20


async def fire(urls: list[str], token: str, count: int) -> list[httpx.Response]:
    """``count`` requests at once, alternating between the servers."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(client.get(f"{urls[n % len(urls)]}/api/auths/") for n in range(count))
        )


def test_two_processes_admit_exactly_the_limit(
    start_server: Callable[..., str], make_user: Any
) -> None:
    make_user(role=User.Role.ADMIN, email="first-admin@example.com")  # the next sign-up is a user
    urls = [start_server("daphne"), start_server("daphne")]
    signup = httpx.post(
        f"{urls[0]}/api/auths/signup",
        json={"name": "Burst User", "email": "burst@example.com", "password": PASSWORD},
        timeout=30,
    )
    assert signup.status_code == 200, signup.text
    assert signup.json()["user"]["role"] == "user"
    site_settings_update(rate_limit=RateLimitPolicy(limit=LIMIT, window=60))

    responses = asyncio.run(fire(urls, signup.json()["token"], 3 * LIMIT))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: LIMIT, 429: 2 * LIMIT}
    admitted = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in responses if r.is_success)
    assert admitted == list(range(LIMIT))  # each admitted request saw its own, distinct count
    refused = [r for r in responses if r.status_code == 429]
    assert all(r.headers["X-RateLimit-Remaining"] == "0" for r in refused)
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in refused)
    assert {r.json()["code"] for r in refused} == {"rate_limited"}
