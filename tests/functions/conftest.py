import os
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from functions import sandbox
from functions.errors import SandboxUnavailable

SEED_SOURCE = "def my_function(param: str) -> str:\n    return param.upper()"


def create_function(client: APIClient, name: str, content: str, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/functions/create", {"name": name, "type": "function", "content": content, **extra}
    )
    assert response.status_code == 200, response.content
    return response.json()


def run_function(client: APIClient, function_id: str, args: dict | None = None) -> Any:
    return client.post(f"/api/functions/{function_id}/test", {"args": args or {}})


@pytest.fixture
def sandbox_ready(settings: Any) -> None:
    """The real sandbox, with short limits so hostile code costs the suite little time.

    Outside CI a host without the sandbox skips these tests; in CI (CI=true, where .ci/run
    installs bubblewrap) they fail instead, so the sandbox is always exercised for real.
    """
    settings.FUNCTIONS_RUN_TIMEOUT = 3
    settings.FUNCTIONS_RUN_CPU_SECONDS = 1
    try:
        sandbox.availability()
    except SandboxUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must exercise the real sandbox: {exc.detail}")
        pytest.skip(str(exc.detail))


@pytest.fixture
def admin_client(client_of: Callable, admin_user: Any) -> APIClient:
    client = client_of(admin_user)
    client.default_format = "json"
    return client


@pytest.fixture
def json_client(client_of: Callable) -> Callable[[Any], APIClient]:
    def make(user: Any) -> APIClient:
        client = client_of(user)
        client.default_format = "json"
        return client

    return make
