"""The web client in a real Chromium: time to first paint and page weight.

    .venv/bin/python bench/web.py [--runs 5] [--chats 1000] [--messages 200]

Starts the server through bench/harness.py, signs up one user and seeds through the real
``POST /api/chats/import`` ``--chats`` chats of two messages and one chat of ``--messages``
messages (answers with Markdown and a code block), then drives Debian's Chromium
(/usr/bin/chromium, or CHROMIUM_PATH) with Playwright:

- **chat list**: a signed-in page load of ``/`` until the first page of the list (50 of the
  1,000 chats) is painted: the moment its items are in the DOM, plus the next animation frame;
- **long chat**: ``/c/{id}`` until all of its messages (Markdown rendered and sanitised) are
  painted.

Each is loaded ``--runs`` times (warm HTTP cache after the first, as a returning user);
median and best are printed, with the browser's first contentful paint (the page shell) for
comparison. Page weight: each page loaded once in a fresh browser context (cold cache), the
bytes of HTML, JS, CSS and API JSON as sent (WhiteNoise serves the files uncompressed unless
``collectstatic`` ran) and as decoded. DATABASE_URL and REDIS_URL pass through.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PASSWORD, running_server

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
EXPORT = {"format": "webui-backend.chats", "version": 1}
ANSWER = (
    "Here is **how** it works:\n\n1. The router picks a handler.\n2. The handler validates.\n\n"
    "```python\ndef handler(request):\n    return render(request)\n```\n\n"
    "See [the docs](https://example.com/docs) for `more`."
)

WATCH = """
window.__bench = {};
const mark = (name) => {
  if (window.__bench[name + 'Dom']) return;
  window.__bench[name + 'Dom'] = performance.now();
  requestAnimationFrame(() => setTimeout(() => { window.__bench[name] = performance.now(); }));
};
new MutationObserver(() => {
  if (document.querySelector('#chat-list .chat-item')) mark('list');
  const wanted = Number(sessionStorage.getItem('benchMessages') || 0);
  if (wanted && document.querySelectorAll('.thread .message').length >= wanted) mark('thread');
  if (document.querySelector('svg.chart')) mark('chart');
}).observe(document, { subtree: true, childList: true });
"""


def chat(title: str, stamp: int, count: int) -> dict:
    messages = [
        {
            "id": f"m{i}",
            "parent_id": f"m{i - 1}" if i else None,
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"Question {i}: how does this part work?" if i % 2 == 0 else ANSWER,
            "model": "mock",
            "usage": None,
            "timestamp": stamp + i,
        }
        for i in range(count)
    ]
    return {
        "title": title,
        "models": [],
        "folder_id": None,
        "pinned": False,
        "archived": False,
        "tags": [],
        "current_id": messages[-1]["id"],
        "created_at": stamp,
        "updated_at": stamp,
        "messages": messages,
    }


def seed(base: str, chats: int, messages: int) -> tuple[str, str, str]:
    """Returns (email, long chat id, share URL)."""
    email = "bench-web@example.com"
    client = httpx.Client(base_url=base, timeout=120)
    client.post(
        "/api/auths/signup", json={"name": "Bench", "email": email, "password": PASSWORD}
    ).raise_for_status()
    token = client.post("/api/auths/signin", json={"email": email, "password": PASSWORD}).json()[
        "token"
    ]
    client.headers["Authorization"] = f"Bearer {token}"
    stamp = int(time.time()) - chats * 60 - 86_400
    batch = [chat(f"Chat number {i}", stamp + i * 60, 2) for i in range(chats)]
    client.post("/api/chats/import", json={**EXPORT, "chats": batch}).raise_for_status()
    long = chat("The long chat", stamp - 3600, messages)
    client.post("/api/chats/import", json={**EXPORT, "chats": [long]}).raise_for_status()
    found = client.get("/api/chats/", params={"q": "The long chat"}).json()
    long_id = found[0]["id"]
    share = client.post(f"/api/chats/{long_id}/share", json={"require_auth": False}).json()
    return email, long_id, share["url"]


def sign_in(context: object, base: str, email: str) -> None:
    page = context.new_page()  # type: ignore[attr-defined]
    page.goto(f"{base}/auth")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
    page.close()


def timed(context: object, url: str, mark: str, messages: int) -> tuple[float, float]:
    page = context.new_page()  # type: ignore[attr-defined]
    page.add_init_script(f"sessionStorage.setItem('benchMessages', '{messages}');")
    page.goto(url)
    page.wait_for_function(f"() => window.__bench && window.__bench.{mark}", timeout=60_000)
    painted = page.evaluate(f"() => window.__bench.{mark}")
    fcp = page.evaluate(
        "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || 0"
    )
    page.close()
    return painted, fcp


def weight(browser: object, base: str, email: str | None, path: str, ready: str) -> dict:
    context = browser.new_context(base_url=base)  # type: ignore[attr-defined]
    if email:
        sign_in(context, base, email)
    page = context.new_page()
    sizes: dict[str, list[int]] = {}

    def on_response(response: object) -> None:
        url = response.url  # type: ignore[attr-defined]
        kind = response.request.resource_type  # type: ignore[attr-defined]
        if kind == "document":
            key = "HTML"
        elif url.endswith(".js") or kind == "script":
            key = "JS"
        elif url.endswith(".css") or kind == "stylesheet":
            key = "CSS"
        elif "/api/" in url and kind in ("fetch", "xhr"):
            key = "API JSON"
        else:
            return
        try:
            body = response.body()  # type: ignore[attr-defined]
        except Exception:
            return
        sent = int(response.headers.get("content-length") or len(body))  # type: ignore[attr-defined]
        sizes.setdefault(key, [0, 0])
        sizes[key][0] += sent
        sizes[key][1] += len(body)

    page.on("response", on_response)
    page.goto(path)
    page.locator(ready).first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    context.close()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    mode = "PostgreSQL + Redis" if os.environ.get("DATABASE_URL") else "embedded default"
    extra = {
        "RATE_LIMIT": "100000/minute",
        "AUTH_RATE_PER_IP": "1000/minute",
        "AUTH_RATE_PER_EMAIL": "1000/minute",
    }
    with running_server(extra) as server, sync_playwright() as playwright:
        base = server.base_url
        t0 = time.perf_counter()
        email, long_id, share_url = seed(base, args.chats, args.messages)
        print(
            f"mode: {mode}; seeded {args.chats} chats and one of {args.messages} messages "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 860})
        sign_in(context, base, email)
        context.add_init_script(WATCH)
        print(
            f"\n{'page':<34}{'painted: median':>16}{'best':>8}{'FCP median':>12}"
            f"  (ms, {args.runs} runs)"
        )
        for label, url, mark in (
            (f"chat list ({args.chats} chats)", "/", "list"),
            (f"long chat ({args.messages} messages)", f"/c/{long_id}", "thread"),
            ("dashboard (charts)", "/dashboard", "chart"),
        ):
            runs = [timed(context, url, mark, args.messages) for _ in range(args.runs)]
            painted = [r[0] for r in runs]
            fcp = [r[1] for r in runs]
            print(
                f"{label:<34}{statistics.median(painted):>16.0f}{min(painted):>8.0f}"
                f"{statistics.median(fcp):>12.0f}"
            )
        context.close()

        share_path = "/" + share_url.split("://", 1)[1].split("/", 1)[1]
        pages = (
            ("sign-in /auth", None, "/auth", "form"),
            ("chat list /", email, "/", "#chat-list .chat-item"),
            (f"chat /c/ ({args.messages} messages)", email, f"/c/{long_id}", ".thread .message"),
            ("knowledge /knowledge", email, "/knowledge", "main h1"),
            ("dashboard /dashboard", email, "/dashboard", "svg.chart"),
            ("account /account", email, "/account", "main h1"),
            ("share /s/… (signed out)", None, share_path, ".thread .message"),
        )
        print(
            f"\n{'page weight (bytes sent / decoded)':<38}{'HTML':>14}{'JS':>18}{'CSS':>14}"
            f"{'API JSON':>20}"
        )
        for label, who, path, ready in pages:
            sizes = weight(browser, base, who, path, ready)
            cells = [sizes.get(k, [0, 0]) for k in ("HTML", "JS", "CSS", "API JSON")]
            print(
                f"{label:<38}"
                + "".join(
                    f"{f'{sent:,}/{dec:,}':>{w}}"
                    for (sent, dec), w in zip(cells, (14, 18, 14, 20), strict=False)
                )
            )
        browser.close()


if __name__ == "__main__":
    main()
