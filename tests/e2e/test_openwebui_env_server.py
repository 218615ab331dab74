"""A server configured with an Open WebUI .env only (its singular variable names) serves models.

Before, only the plural OPENAI_API_BASE_URLS was read, so such a .env silently gave no models.
"""

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.e2e.conftest import token_for
from tests.upstream import StandIn
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def upstream() -> Iterator[StandIn]:
    server = StandIn("openai").start()
    yield server
    server.stop()


def test_open_webui_env_gives_models_and_a_default_model(
    start_server: Callable[..., str], upstream: StandIn
) -> None:
    url = start_server(
        "daphne",
        OPENAI_API_BASE_URL=upstream.url,
        OPENAI_API_KEY="sk-upstream-secret-1234",
        DEFAULT_MODELS="mock",
        OLLAMA_BASE_URL="http://127.0.0.1:9",
        ENABLE_OLLAMA_API="false",
        MODELS_CACHE_TTL="0",
    )
    user = User.objects.create_user(email="ann@example.com", password="x", name="Ann")
    client = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token_for(user)}"}, timeout=20
    )
    models = client.get("/api/models/").json()
    assert "mock" in [m["id"] for m in models["models"]]
    assert models["errors"] == []  # the Ollama server named there is switched off
    # No model named: Open WebUI's DEFAULT_MODELS picks it.
    response = client.post(
        "/api/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "mock"
    assert response.json()["choices"][0]["message"]["content"].startswith("tok0")
