"""The request limit across two web processes and a Redis restart while requests are being
counted: never more than the limit admitted (private Redis, never the shared one)."""

import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from deploy.launch import Launcher
from tests.deploy.conftest import PrivateRedis
from tests.e2e.test_realtime import token_for
from tests.factories import UserFactory
from users.policy import RateLimitPolicy
from users.services import site_settings_update

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 20


def test_a_redis_restart_under_load_never_admits_more_than_the_limit(
    make_cluster: Callable[..., Launcher],
) -> None:
    redis = PrivateRedis(persistent=True).start()
    try:
        site_settings_update(rate_limit=RateLimitPolicy(limit=LIMIT, window=120))
        cluster = make_cluster(env={"REDIS_URL": redis.url}, web=2, workers=0, beat=False)
        urls = cluster.urls
        user = UserFactory(email="restart-burst@example.com")
        headers = {"Authorization": f"Bearer {token_for(user)}"}
        statuses: list[int] = []
        stop = threading.Event()

        def knock() -> None:
            """One request after another, alternating the processes, until told to stop."""
            n = 0
            with httpx.Client(headers=headers, timeout=30) as client:
                while not stop.is_set():
                    response = client.get(f"{urls[n % 2]}/api/auths/")
                    statuses.append(response.status_code)
                    n += 1
                    time.sleep(0.05)

        knocker = threading.Thread(target=knock)
        knocker.start()
        try:
            while statuses.count(200) < LIMIT // 2:  # half the limit counted before the restart
                time.sleep(0.02)
            redis.stop()
            during = len(statuses)
            while len(statuses) < during + 4:  # requests while Redis is down
                time.sleep(0.02)
            redis.start()
            deadline = time.monotonic() + 60
            while 429 not in statuses:  # back, counting from where it was, up to the limit
                assert time.monotonic() < deadline, Counter(statuses)
                time.sleep(0.05)
        finally:
            stop.set()
            knocker.join(60)
        with httpx.Client(headers=headers, timeout=30) as client:
            burst = [client.get(f"{urls[n % 2]}/api/auths/").status_code for n in range(LIMIT)]
    finally:
        redis.stop()

    seen = Counter(statuses + burst)
    assert seen[200] == LIMIT, seen  # the counts outlived the restart: not one more
    assert set(seen) <= {200, 429, 503}, seen
    assert seen[503] >= 1  # while Redis was down, nothing was admitted uncounted
    assert burst == [429] * LIMIT
