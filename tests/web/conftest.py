"""A real headless Chromium (Debian's, driven by Playwright) against a real daphne server
and the stand-in upstream. Without Chromium these tests fail under CI=true (CI installs it)
and are skipped, saying why, elsewhere."""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import start_server  # noqa: F401 - the fixture, shared
from tests.upstream import StandIn

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"


def screenshot_dir() -> Path:
    """Where screenshots go (a CI artifact): WEB_SCREENSHOTS_DIR, else .artifacts/screenshots."""
    folder = Path(os.environ.get("WEB_SCREENSHOTS_DIR") or ROOT / ".artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed ({CHROMIUM}): apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail('Playwright is missing: pip install -e ".[test]"')
    # Playwright's sync API keeps an event loop on this thread, which makes Django refuse the
    # (plain, synchronous) database calls of the test's teardown; allowed for this module only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def upstream() -> Iterator[StandIn]:
    server = StandIn("openai").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(start_server: Callable[..., str], upstream: StandIn) -> str:  # noqa: F811
    url = start_server(
        "daphne",
        OPENAI_API_BASE_URLS=upstream.url,
        MODELS_CACHE_TTL="0",
        AUTH_RATE_PER_IP="1000/minute",
        AUTH_RATE_PER_EMAIL="1000/minute",
        RATE_LIMIT="10000/minute",
        REALTIME_EVENTS_PER_SECOND="200",
        REALTIME_EVENT_BURST="400",
    )
    if os.environ.get("REDIS_URL"):
        start_server.worker()  # file processing runs in Celery with Redis
    return url


class Console:
    """The page's console errors and uncaught exceptions: a test ends with none."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected: list[str] = []  # texts of errors a test provokes on purpose
        self.answers: list[str | bool] = []  # replies to the prompts and confirms a test expects

    def watch(self, page: Any) -> Any:
        def on_console(message: Any) -> None:
            if message.type == "error" and not any(e in message.text for e in self.expected):
                self.errors.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("dialog", self.on_dialog)
        return page

    def on_dialog(self, dialog: Any) -> None:
        if not self.answers:
            self.errors.append(f"unexpected dialog: {dialog.message}")
            dialog.dismiss()
            return
        answer = self.answers.pop(0)
        if answer is False:
            dialog.dismiss()
        elif isinstance(answer, str):
            dialog.accept(answer)
        else:
            dialog.accept()


@pytest.fixture
def console() -> Iterator[Console]:
    watcher = Console()
    yield watcher
    assert watcher.errors == []


@pytest.fixture
def new_page(chromium: Any, site: str, console: Console) -> Iterator[Callable[..., Any]]:
    """A page in a fresh browser context (its own cookies: one user each)."""
    contexts: list[Any] = []

    def make(*, width: int = 1280, height: int = 860, watch: bool = True) -> Any:
        context = chromium.new_context(
            base_url=site, viewport={"width": width, "height": height}, color_scheme="light"
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        return console.watch(page) if watch else page

    yield make
    for context in contexts:
        context.close()


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_up(page: Any, *, name: str, email: str, password: str = PASSWORD) -> None:
    page.goto("/")
    page.get_by_role("button", name="No account yet? Create one").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create account").click()


def sign_in(page: Any, *, email: str, password: str = PASSWORD) -> None:
    page.goto("/auth")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def api_token(site: str, email: str, password: str = PASSWORD) -> str:
    response = httpx.post(
        f"{site}/api/auths/signin", json={"email": email, "password": password}, timeout=30
    )
    response.raise_for_status()
    return response.json()["token"]


def slow_stream(page: Any, **fields: Any) -> None:
    """Make the stand-in answer slowly (its mock_* fields ride along in the page's request)."""
    import json

    def handle(route: Any) -> None:
        body = json.loads(route.request.post_data or "{}")
        body.update(
            {key: value(body) if callable(value) else value for key, value in fields.items()}
        )
        route.continue_(post_data=json.dumps(body))

    page.route("**/api/chat/completions", handle)
