"""The package itself: stands alone, generated sync code up to date, options, lifecycle."""

import asyncio
import io
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from webui_client import AsyncChatClient, ChatClient, WebUIClient
from webui_client._common import Options, backoff

from tests.sdk.conftest import Both
from tests.sdk.proxy import FlakyProxy

SDK = Path(__file__).resolve().parents[2] / "sdk"
SERVER_MODULES = {
    "django",
    "rest_framework",
    "channels",
    "webui_backend",
    "users",
    "chats",
    "llm",
    "knowledge",
    "retrieval",
    "realtime",
    "functions",
}


def test_sync_clients_are_generated_from_the_async_ones() -> None:
    check = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(SDK / "tools" / "unasync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_it_imports_nothing_of_the_server_and_needs_only_httpx() -> None:
    code = (
        "import sys; import webui_client; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(SDK)!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    project = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]

    assert "webui_client" in loaded
    assert "httpx" in loaded
    assert not SERVER_MODULES & set(loaded)
    assert [d.split(">")[0] for d in project["dependencies"]] == ["httpx"]
    assert (SDK / "webui_client" / "py.typed").exists()


def test_options_from_arguments_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBUI_API_KEY", "sk-from-env")
    monkeypatch.setenv("WEBUI_BASE_URL", "http://example.test:9/")

    from_env = WebUIClient()
    given = WebUIClient(api_key="sk-given", base_url="http://other.test", timeout=5, max_retries=0)
    monkeypatch.delenv("WEBUI_API_KEY")
    monkeypatch.delenv("WEBUI_BASE_URL")
    defaults = WebUIClient()

    assert from_env.options.api_key == "sk-from-env"
    assert from_env.options.base_url == "http://example.test:9"
    assert given.options == Options("sk-given", "http://other.test", 5, 0, 1.0, False)
    assert defaults.options == Options(None, "http://127.0.0.1:8080", 60.0, 3, 1.0, False)
    assert "sk-given" not in repr(given.options)
    with pytest.raises(ValueError, match="max_retries"):
        WebUIClient(max_retries=-1)
    for client in (from_env, given, defaults):
        client.close()


def test_backoff_doubles_with_jitter() -> None:
    options = Options(None, "http://x", 1, 5, 0.2, False)
    for attempt in range(4):
        waits = [backoff(options, attempt) for _ in range(50)]
        assert all(0.1 * 2**attempt <= w <= 0.2 * 2**attempt for w in waits)
        assert len(set(waits)) > 1


def test_context_managers_close_the_pool() -> None:
    with ChatClient(api_key="sk-x") as chat:
        pool = chat._http
    mine = httpx.Client()
    with ChatClient(api_key="sk-x", http_client=mine):
        pass

    async def use_async() -> httpx.AsyncClient:
        async with AsyncChatClient(api_key="sk-x") as client:
            return client._http

    assert pool.is_closed
    assert not mine.is_closed  # brought along: its owner closes it
    assert asyncio.run(use_async()).is_closed
    mine.close()


def test_an_upload_that_cannot_rewind_is_not_retried(
    both: Both, proxy: FlakyProxy, ann_key: str
) -> None:
    class Pipe(io.RawIOBase):
        """A file object that can be read once and cannot seek."""

        def __init__(self) -> None:
            self.data = io.BytesIO(b"streamed once\n")

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            chunk = self.data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    knowledge = both.knowledge(api_key=ann_key, base_url=proxy.url)
    proxy.script("/api/files/", "503")

    response = both.run(knowledge.upload_file(Pipe(), filename="pipe.txt"))

    assert response.status_code == 503
    assert proxy.count("/api/files/") == 1


def test_bring_your_own_http_client(both: Both, sdk_server: str, ann_key: str) -> None:
    transport_calls: list[str] = []

    def hook(request: httpx.Request) -> None:
        transport_calls.append(request.url.path)

    async def ahook(request: httpx.Request) -> None:
        hook(request)

    own = (
        httpx.AsyncClient(event_hooks={"request": [ahook]})
        if both.is_async
        else httpx.Client(event_hooks={"request": [hook]})
    )
    chat = both.chat(api_key=ann_key, base_url=sdk_server, http_client=own)

    assert both.run(chat.list_chats()).status_code == 200
    assert transport_calls == ["/api/chats/"]
    both.run(own.aclose() if both.is_async else own.close())
