"""The web client in a real headless Chromium against a real daphne and the stand-in upstream.

Each test drives the page as a person would (labels, roles, keyboard), checks what the person
sees and what the server stored, and ends with no console errors. Screenshots of the main
pages go to WEB_SCREENSHOTS_DIR (default .artifacts/screenshots).
"""

import re
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.upstream import StandIn
from tests.web.conftest import api_token, shot, sign_in, sign_up, slow_stream

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
HOSTILE_LINK = "[click me](javascript:window.__pwned=3)"
RAW_LINK = '<a href="javascript:window.__pwned=4">raw</a>'


def expect_visible(locator: Any) -> None:
    locator.first.wait_for(state="visible")


def admin_page(new_page: Callable[..., Any], **size: int) -> Any:
    page = new_page(**size)
    sign_up(page, name="Ann Admin", email="ann@example.com")
    page.get_by_role("button", name="Sign out").wait_for()
    return page


def send(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill(text)
    box.press("Enter")


def auth(site: str, email: str = "ann@example.com") -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(site, email)}"}


def test_sign_up_first_admin_pending_accounts_sign_out_and_in(
    new_page: Callable[..., Any], site: str
) -> None:
    page = admin_page(new_page)
    assert page.get_by_role("link", name="Dashboard").is_visible()  # the first account: admin
    shot(page, "chats-empty")
    cookies = {c["name"]: c for c in page.context.cookies()}
    refresh = cookies["webui_refresh"]
    assert refresh["httpOnly"]
    assert refresh["sameSite"] == "Strict"
    # Nothing script can read holds a token.
    readable = page.evaluate(
        "() => document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)"
    )
    assert "webui_refresh" not in readable
    assert "eyJ" not in readable  # no JWT

    # New accounts wait for approval.
    headers = auth(site)
    httpx.post(f"{site}/api/admin/settings", json={"DEFAULT_USER_ROLE": "pending"}, headers=headers)
    try:
        other = new_page()
        sign_up(other, name="Bob", email="bob@example.com")
        expect_visible(other.get_by_role("heading", name="Awaiting approval"))
        shot(other, "awaiting-approval")
        assert not other.get_by_role("link", name="Dashboard").is_visible()
    finally:
        httpx.post(
            f"{site}/api/admin/settings", json={"DEFAULT_USER_ROLE": "user"}, headers=headers
        )

    # Sign out ends the session: a reload lands on the sign-in form.
    page.get_by_role("button", name="Sign out").click()
    expect_visible(page.get_by_role("heading", name="Sign in"))
    page.reload()
    expect_visible(page.get_by_role("heading", name="Sign in"))
    shot(page, "sign-in")
    sign_in(page, email="ann@example.com")
    expect_visible(page.get_by_role("button", name="+ New chat"))


def test_wrong_password_is_said_plainly(new_page: Callable[..., Any], console: Any) -> None:
    page = admin_page(new_page)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill("not the password at all")
    console.expected.append("status of 401")  # the refused sign-in, logged by Chromium
    with page.expect_response("**/api/web/session/signin") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect_visible(page.get_by_role("alert"))
    assert "password" in page.get_by_role("alert").inner_text().lower()


def test_a_streamed_answer_appears_token_by_token_and_is_saved(
    new_page: Callable[..., Any], site: str, upstream: StandIn
) -> None:
    page = admin_page(new_page)
    slow_stream(page, mock_chunks=8, mock_delay=0.4)
    send(page, "Tell me a **story**")
    reply = page.locator(".message.assistant.streaming .content")
    reply.filter(has_text="tok1").wait_for()
    partial = reply.inner_text()
    assert "tok7" not in partial  # shown while the rest is still coming
    page.get_by_role("button", name="Stop").wait_for()
    shot(page, "chat-streaming")
    expect_visible(page.locator(".message.assistant:not(.streaming)").filter(has_text="tok7"))
    assert page.url.startswith(f"{site}/c/")
    chat_id = page.url.rsplit("/", 1)[1]
    stored = httpx.get(f"{site}/api/chats/{chat_id}", headers=auth(site)).json()
    messages = stored["chat"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "Tell me a **story**"
    assert messages[1]["content"].startswith("tok0 tok1")
    assert messages[1]["model"] == "mock"
    # The chat list shows it, titled by the question.
    expect_visible(page.locator("#chat-list").get_by_text("Tell me a **story**"))
    shot(page, "chat")


def test_stop_cancels_the_stream_and_keeps_what_arrived(
    new_page: Callable[..., Any], site: str
) -> None:
    page = admin_page(new_page)
    slow_stream(page, mock_chunks=50, mock_delay=0.3)
    send(page, "A long answer please")
    page.locator(".message.assistant.streaming").filter(has_text="tok1").wait_for()
    page.get_by_role("button", name="Stop").click()
    expect_visible(page.locator(".message.assistant").filter(has_text="(stopped)"))
    chat_id = page.url.rsplit("/", 1)[1]
    reply = httpx.get(f"{site}/api/chats/{chat_id}", headers=auth(site)).json()["chat"]["messages"][
        -1
    ]
    assert reply["usage"]["stopped"] is True
    assert "tok49" not in reply["content"]


def test_regenerate_and_edit_make_branches_and_switching_works(
    new_page: Callable[..., Any], site: str
) -> None:
    page = admin_page(new_page)
    answers = iter(range(2, 10))
    slow_stream(page, mock_chunks=lambda body: next(answers))  # each answer one token longer
    send(page, "First question")
    assistant = page.locator(".message.assistant:not(.streaming)")
    expect_visible(assistant.filter(has_text="tok1"))
    assert "tok2" not in assistant.inner_text()

    assistant.get_by_role("button", name="Regenerate").click()
    expect_visible(page.locator(".message.assistant:not(.streaming)").filter(has_text="tok2"))
    versions = page.locator(".message.assistant .branch-count")
    assert versions.inner_text() == "2/2"
    page.get_by_role("button", name="Previous version").click()
    expect_visible(page.locator(".message.assistant .branch-count").filter(has_text="1/2"))
    assert "tok2" not in page.locator(".message.assistant").inner_text()
    page.get_by_role("button", name="Next version").click()
    expect_visible(page.locator(".message.assistant .branch-count").filter(has_text="2/2"))

    # Editing the question makes a sibling question with its own answer.
    page.locator(".message.user").get_by_role("button", name="Edit").click()
    page.get_by_role("textbox", name="Edit message").fill("Second question")
    page.get_by_role("button", name="Save and send").click()
    expect_visible(page.locator(".message.user .branch-count").filter(has_text="2/2"))
    expect_visible(page.locator(".message.assistant:not(.streaming)").filter(has_text="tok3"))
    assert page.locator(".message.user .plain").inner_text() == "Second question"
    shot(page, "chat-branches")
    page.locator(".message.user").get_by_role("button", name="Previous version").click()
    expect_visible(page.locator(".message.user .plain").filter(has_text="First question"))
    # Back on the first question's branch, with the answer last chosen there.
    expect_visible(page.locator(".message.assistant .branch-count").filter(has_text="2/2"))

    # The server holds the tree: the switch survives a reload.
    page.reload()
    expect_visible(page.locator(".message.user .plain").filter(has_text="First question"))
    chat_id = page.url.rsplit("/", 1)[1]
    history = httpx.get(f"{site}/api/chats/{chat_id}", headers=auth(site)).json()["chat"]["history"]
    roles = sorted(m["role"] for m in history["messages"].values())
    assert roles == ["assistant", "assistant", "assistant", "user", "user"]


def test_a_late_reload_does_not_undo_a_switch_of_version(
    new_page: Callable[..., Any], site: str
) -> None:
    """A socket event reloads the chat; if that answer arrives after the user has switched
    versions, the switch stays on the page (and on the server)."""
    page = admin_page(new_page)
    answers = iter(range(2, 10))
    slow_stream(page, mock_chunks=lambda body: next(answers))
    send(page, "First question")
    expect_visible(page.locator(".message.assistant:not(.streaming)").filter(has_text="tok1"))
    page.get_by_role("button", name="Regenerate").click()
    expect_visible(page.locator(".message.assistant .branch-count").filter(has_text="2/2"))
    page.wait_for_timeout(500)  # the reloads the answer's own events started are done
    chat_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    headers = auth(site)
    history = httpx.get(f"{site}/api/chats/{chat_id}", headers=headers).json()["chat"]["history"]
    question = next(m for m in history["messages"].values() if m["role"] == "user")

    held: list[tuple[Any, Any]] = []

    def hold_reload(route: Any) -> None:
        if route.request.method != "GET":
            route.continue_()
            return
        held.append((route, route.fetch()))  # answered by the server now, shown later

    page.route(f"{site}/api/chats/{chat_id}", hold_reload)
    # Another client adds a third answer: the page is told, and reloads the chat.
    added = httpx.post(
        f"{site}/api/chats/{chat_id}/messages",
        headers=headers,
        json={"role": "assistant", "content": "from elsewhere", "parent_id": question["id"]},
    )
    assert added.status_code in (200, 201), added.text
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the socket event did not reload the chat"

    page.get_by_role("button", name="Previous version").click()  # from 2/2 (of what it shows)
    expect_visible(page.locator(".message.assistant .branch-count").filter(has_text="1/3"))
    route, answer = held.pop()
    route.fulfill(response=answer)  # the reload's answer: the third version current
    page.wait_for_timeout(500)
    assert page.locator(".message.assistant .branch-count").inner_text() == "1/3"
    assert "tok1" in page.locator(".message.assistant").inner_text()
    stored = httpx.get(f"{site}/api/chats/{chat_id}", headers=headers).json()
    current = stored["chat"]["history"]["messages"][stored["chat"]["history"]["current_id"]]
    assert current["content"].split() == ["tok0", "tok1"]  # the first answer


def test_another_tab_sees_new_messages_live(new_page: Callable[..., Any], site: str) -> None:
    page = admin_page(new_page)
    send(page, "Hello from the first tab")
    expect_visible(page.locator(".message.assistant:not(.streaming)"))
    second = page.context.new_page()
    second.goto(page.url)
    expect_visible(second.locator(".message.user").filter(has_text="Hello from the first tab"))
    send(page, "And a second question")
    expect_visible(second.locator(".message.user").filter(has_text="And a second question"))
    expect_visible(second.locator(".message.assistant").nth(1))


def test_an_api_clients_stream_into_the_chat_shows_live(
    new_page: Callable[..., Any], site: str
) -> None:
    page = admin_page(new_page)
    send(page, "Start here")
    expect_visible(page.locator(".message.assistant:not(.streaming)"))
    chat_id = page.url.rsplit("/", 1)[1]
    body = {
        "model": "mock",
        "chat_id": chat_id,
        "stream": True,
        "messages": [{"role": "user", "content": "From another device"}],
        "mock_chunks": 10,
        "mock_delay": 0.4,
    }
    done = threading.Event()

    def stream() -> None:
        with httpx.stream(
            "POST", f"{site}/api/chat/completions", json=body, headers=auth(site), timeout=60
        ) as response:
            for _ in response.iter_lines():
                pass
        done.set()

    worker = threading.Thread(target=stream)
    worker.start()
    try:
        live = page.locator(".message.assistant.streaming").filter(has_text="tok1")
        expect_visible(live)
        assert not done.is_set()  # seen while the other client was still streaming
        expect_visible(page.locator(".message.user").filter(has_text="From another device"))
        expect_visible(page.locator(".message.assistant:not(.streaming)").filter(has_text="tok9"))
    finally:
        worker.join(timeout=60)


def test_knowledge_upload_processing_ask_and_sources(
    new_page: Callable[..., Any], site: str
) -> None:
    page = admin_page(new_page)
    page.get_by_role("link", name="Knowledge").click()
    page.get_by_label("Name").fill("Project notes")
    page.get_by_role("button", name="Create").click()
    expect_visible(page.get_by_role("heading", name="Project notes"))
    # Two files at once through the picker, one dropped on the drop zone.
    page.locator("#file-picker").set_input_files(
        [
            {
                "name": "falcon.txt",
                "mimeType": "text/plain",
                "buffer": b"The Falcon project's launch code is 7421. It ships on a Tuesday.",
            },
            {
                "name": "bananas.md",
                "mimeType": "text/markdown",
                "buffer": b"# Bananas\n\nBananas are rich in potassium.",
            },
        ]
    )
    drop = page.evaluate_handle(
        """() => {
            const data = new DataTransfer();
            const text = 'Owls sleep during the day and hunt at night.';
            data.items.add(new File([text], 'owls.txt', {type: 'text/plain'}));
            return data;
        }"""
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": drop})
    rows = page.locator("#files tbody tr")
    for name in ("falcon.txt", "bananas.md", "owls.txt"):
        row = rows.filter(has_text=name)
        row.wait_for()
        page.wait_for_function(
            "name => [...document.querySelectorAll('#files tbody tr')].some("
            "r => r.textContent.includes(name) && r.dataset.state === 'indexed')",
            arg=name,
            timeout=120_000,
        )
    shot(page, "knowledge")
    page.get_by_role("button", name="Ask this collection").click()
    # The chat page replaces the knowledge page: until its picker exists there is nothing to read.
    page.wait_for_function(
        "() => document.querySelector('select[name=knowledge]')?.value > ''", timeout=30_000
    )
    send(page, "What is the launch code of the Falcon project?")
    answer = page.locator(".message.assistant:not(.streaming)")
    # The server process may load the embedding model for this first query (a worker indexed).
    answer.wait_for(timeout=120_000)
    sources = answer.locator("details.sources")
    expect_visible(sources)
    sources.locator("summary").click()
    expect_visible(sources.get_by_text("falcon.txt"))
    expect_visible(sources.get_by_text("7421"))
    shot(page, "chat-sources")
    chat_id = page.url.rsplit("/", 1)[1]
    reply = httpx.get(f"{site}/api/chats/{chat_id}", headers=auth(site)).json()["chat"]["messages"][
        -1
    ]
    assert any(s["metadata"]["filename"] == "falcon.txt" for s in reply["sources"])


def test_share_link_opens_signed_out_and_revoking_ends_it(
    new_page: Callable[..., Any], site: str, console: Any
) -> None:
    page = admin_page(new_page)
    send(page, "Something worth sharing")
    expect_visible(page.locator(".message.assistant:not(.streaming)"))
    page.get_by_role("button", name="Share").click()
    page.get_by_label("Only signed-in users can open it").uncheck()
    with page.expect_response(re.compile(r"/api/chats/[^/]+/share$")) as answer:
        page.get_by_role("button", name="Create link").click()
    api_url = answer.value.json()["url"]
    link = page.get_by_label("Link")
    expect_visible(link)
    assert link.input_value() == api_url
    shot(page, "share-dialog")

    reader = new_page()  # another browser context: signed out
    reader.goto(api_url)
    expect_visible(reader.get_by_text("Shared chat · read-only"))
    expect_visible(reader.get_by_text("Something worth sharing"))
    expect_visible(reader.locator(".message.assistant").filter(has_text="tok0"))
    assert reader.get_by_role("textbox", name="Message", exact=True).count() == 0
    shot(reader, "share-page")

    page.get_by_role("button", name="Revoke").click()
    console.expected.append("status of 404")  # the revoked link's answer, logged by Chromium
    reader.reload()
    expect_visible(reader.get_by_role("heading", name="This link does not work"))


def test_dashboard_draws_usage_and_is_for_admins_only(
    new_page: Callable[..., Any], site: str, console: Any
) -> None:
    page = admin_page(new_page)
    send(page, "Use some tokens")
    expect_visible(page.locator(".message.assistant:not(.streaming)"))
    page.get_by_role("link", name="Dashboard").click()
    day = page.locator("figure", has_text="Tokens per day")
    expect_visible(day.locator("svg.chart"))
    bars = day.locator("rect.bar")
    assert bars.count() == 30  # every day of the range, zeros included
    values = [int(v) for v in bars.evaluate_all("els => els.map(e => e.dataset.value)")]
    usage = httpx.get(f"{site}/api/admin/usage?group_by=day", headers=auth(site)).json()
    assert sum(values) == usage["totals"]["total_tokens"] > 0
    per_model = page.locator("figure", has_text="Tokens per model")
    expect_visible(per_model.locator("svg.chart text", has_text="mock"))
    per_user = page.locator("figure", has_text="Tokens per user")
    expect_visible(per_user.locator("svg.chart text", has_text="ann@example.com"))
    expect_visible(page.locator("[data-stat=chats] .stat-value").filter(has_text="1"))
    shot(page, "dashboard")

    # The other sections render from the API too.
    httpx.post(
        f"{site}/api/auths/signup",
        json={
            "name": "Bob Plain",
            "email": "bob@example.com",
            "password": "another long passphrase 42",
        },
    ).raise_for_status()
    page.get_by_role("tab", name="Users").click()
    expect_visible(page.get_by_role("cell", name="bob@example.com"))
    shot(page, "dashboard-users")
    page.get_by_role("combobox", name="Role of ann@example.com").wait_for()
    assert page.get_by_role("combobox", name="Role of ann@example.com").is_disabled()
    # Disable (role pending) and delete another account; the audit log records both.
    httpx.post(
        f"{site}/api/auths/signup",
        json={"name": "Carl", "email": "carl@example.com", "password": "yet another passphrase 9"},
    ).raise_for_status()
    page.get_by_label("Search users").fill("carl")
    carl = page.get_by_role("row").filter(has_text="carl@example.com")
    expect_visible(carl)
    page.wait_for_function("() => document.querySelectorAll('tbody tr').length === 1")
    carl.get_by_role("button", name="Disable").click()
    page.wait_for_function(
        "() => document.querySelector('select[aria-label=\"Role of carl@example.com\"]')"
        ".value === 'pending'"
    )
    console.answers.append(True)
    carl.get_by_role("button", name="Delete").click()
    expect_visible(page.get_by_role("status").filter(has_text="is being deleted"))
    page.get_by_role("tab", name="Audit log").click()
    expect_visible(page.get_by_role("columnheader", name="Action"))
    expect_visible(
        page.get_by_role("cell", name="carl@example.com")
        .or_(page.locator("td", has_text="carl"))
        .first
    )
    page.get_by_role("tab", name="Connections and models").click()
    expect_visible(page.locator(".models code", has_text="mock"))
    shot(page, "dashboard-connections")
    page.get_by_role("tab", name="Settings").click()
    expect_visible(page.get_by_label("People may sign up"))
    page.get_by_role("tab", name="Embedding").click()
    expect_visible(page.get_by_label("Engine"))

    # A non-admin gets no dashboard: no link, and the page says so without asking the API.
    bob = new_page()
    sign_in(bob, email="bob@example.com", password="another long passphrase 42")
    assert not bob.get_by_role("link", name="Dashboard").is_visible()
    asked: list[str] = []
    bob.on("request", lambda request: asked.append(request.url))
    bob.goto("/dashboard")
    expect_visible(bob.get_by_role("heading", name="Admins only"))
    assert not any("/api/admin/" in url for url in asked)
    assert bob.locator("svg.chart").count() == 0
    shot(bob, "dashboard-non-admin")


def test_hostile_content_is_shown_as_text_and_runs_nothing(
    new_page: Callable[..., Any], site: str
) -> None:
    page = admin_page(new_page)
    headers = auth(site)
    chat = httpx.post(
        f"{site}/api/chats/new",
        json={
            "chat": {
                "title": HOSTILE,
                "messages": [
                    {"id": "q1", "role": "user", "content": f"{HOSTILE} {HOSTILE_LINK}"},
                    {
                        "id": "a1",
                        "role": "assistant",
                        "content": f"Answer {HOSTILE}\n\n{HOSTILE_LINK}\n\n{RAW_LINK}",
                        "sources": [{"content": HOSTILE, "metadata": {"filename": HOSTILE}}],
                    },
                ],
            }
        },
        headers=headers,
    ).json()
    # A file whose name is markup, in a collection.
    knowledge = httpx.post(
        f"{site}/api/knowledge/create", json={"name": HOSTILE}, headers=headers
    ).json()
    uploaded = httpx.post(
        f"{site}/api/files/",
        files={"file": (f"{HOSTILE}.txt", b"plain text", "text/plain")},
        headers=headers,
    ).json()
    httpx.post(
        f"{site}/api/knowledge/{knowledge['id']}/file/add",
        json={"file_id": uploaded["id"]},
        headers=headers,
    )

    page.goto(f"/c/{chat['id']}")
    title = page.locator("#chat-title")
    expect_visible(title.filter(has_text="<script>"))
    assert title.inner_text() == HOSTILE
    expect_visible(page.locator("#chat-list").get_by_text(HOSTILE))
    user_text = page.locator(".message.user .plain").inner_text()
    assert HOSTILE in user_text
    answer = page.locator(".message.assistant .content")
    assert "<script>" in answer.inner_text()  # shown, as text
    page.locator("details.sources summary").click()
    expect_visible(page.locator(".source-name").filter(has_text="<script>"))

    # An answer streamed from the model with the same payload.
    slow_stream(page, mock_content=f"Streamed {HOSTILE} {HOSTILE_LINK}", mock_chunks=6)
    send(page, "again")
    expect_visible(page.locator(".message.assistant:not(.streaming)").filter(has_text="Streamed"))

    page.goto(f"/knowledge/{knowledge['id']}")
    # Uploads keep the last part of a path: the name still carries the markup.
    expect_visible(page.locator("#files .filename").filter(has_text="onerror="))
    shot(page, "hostile-knowledge")
    page.goto(f"/c/{chat['id']}")
    expect_visible(page.locator(".message.assistant").first)
    shot(page, "hostile-chat")

    assert page.evaluate("() => window.__pwned") is None
    scripts = page.evaluate("() => [...document.scripts].map(s => s.src)")
    assert all(src.startswith(f"{site}/static/") for src in scripts)
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert page.locator("main img").count() == 0
    assert page.locator("[onerror]").count() == 0


def test_phone_width_and_dark_scheme(new_page: Callable[..., Any]) -> None:
    page = admin_page(new_page, width=375, height=740)
    send(page, "Hello from a phone")
    expect_visible(page.locator(".message.assistant:not(.streaming)"))
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375  # nothing wider than the screen
    assert not page.locator("#sidebar").is_visible()
    page.get_by_role("button", name="Chats", exact=True).click()
    expect_visible(page.locator("#chat-list").get_by_text("Hello from a phone"))
    shot(page, "phone-chat-list", full_page=False)
    page.keyboard.press("Escape")
    page.emulate_media(color_scheme="dark")
    page.goto(page.url)
    expect_visible(page.locator(".message.assistant"))
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 22, 26)"
    shot(page, "phone-chat-dark", full_page=False)


def test_keyboard_reaches_the_composer_and_sends(new_page: Callable[..., Any]) -> None:
    page = admin_page(new_page)
    # A new chat starts in the message box; Shift+Tab walks back through the pickers.
    focused = "() => document.activeElement.name || document.activeElement.textContent"
    page.wait_for_function("() => document.activeElement.name === 'message'")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(focused) == "knowledge"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(focused) == "model"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("Typed only")
    page.keyboard.press("Enter")
    expect_visible(page.locator(".message.user").filter(has_text="Typed only"))
    # Every form control of the chat page has a name a screen reader can say.
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.textContent.trim() && !el.placeholder)
            .map(el => el.outerHTML)"""
    )
    assert unnamed == []


def test_chat_list_pins_searches_archives_tags_scrolls_and_deletes(
    new_page: Callable[..., Any], site: str, console: Any
) -> None:
    page = admin_page(new_page)
    headers = auth(site)
    stamp = 1_700_000_000
    chats = [
        {
            "title": f"Old chat {i:03d}",
            "models": [],
            "folder_id": None,
            "pinned": False,
            "archived": False,
            "tags": [],
            "messages": [
                {
                    "id": "q",
                    "parent_id": None,
                    "role": "user",
                    "content": f"question {i}",
                    "model": "",
                    "usage": None,
                    "timestamp": stamp + i,
                },
            ],
            "current_id": "q",
            "created_at": stamp + i,
            "updated_at": stamp + i,
        }
        for i in range(120)
    ]
    chats[7]["messages"][0]["content"] = "where is the zanzibar report"
    httpx.post(
        f"{site}/api/chats/import",
        json={"format": "webui-backend.chats", "version": 1, "chats": chats},
        headers=headers,
        timeout=60,
    ).raise_for_status()
    page.reload()
    items = page.locator("#chat-list .chat-item")
    items.first.wait_for()
    assert items.count() == 50  # the first page
    items.last.scroll_into_view_if_needed()  # the next pages come by cursor as it scrolls
    page.wait_for_function("() => document.querySelectorAll('#chat-list .chat-item').length > 50")
    items.last.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('#chat-list .chat-item').length == 120")
    titles = items.all_inner_texts()
    assert len(set(titles)) == 120  # no page twice

    # Search by message text.
    page.get_by_label("Search").fill("zanzibar")
    page.wait_for_function("() => document.querySelectorAll('#chat-list .chat-item').length == 1")
    assert items.inner_text() == "Old chat 007"
    items.get_by_role("link").click()
    expect_visible(page.locator("#chat-title").filter(has_text="Old chat 007"))

    # Rename, tag, pin: pinned first in the list.
    console.answers += ["Zanzibar report", "reports, travel"]
    page.get_by_role("button", name="Rename").click()
    expect_visible(page.locator("#chat-title").filter(has_text="Zanzibar report"))
    page.get_by_role("button", name="Tags").click()
    page.get_by_label("Search").fill("")
    expect_visible(page.locator("#chat-list .chat-item .tag").filter(has_text="travel"))
    page.get_by_role("button", name="Pin", exact=True).click()
    expect_visible(page.get_by_role("button", name="Unpin"))
    expect_visible(items.first.filter(has_text="Zanzibar report"))
    page.get_by_label("Tag").select_option("reports")
    page.wait_for_function("() => document.querySelectorAll('#chat-list .chat-item').length == 1")
    page.get_by_label("Tag").select_option("")
    shot(page, "chat-list")

    # Archive: gone from the list, found under Archived.
    page.get_by_role("button", name="Archive", exact=True).click()
    expect_visible(page.get_by_role("button", name="Unarchive"))
    page.wait_for_function(
        "() => ![...document.querySelectorAll('#chat-list .chat-item')]"
        ".some(e => e.textContent.includes('Zanzibar'))"
    )
    page.get_by_label("Archived").check()
    expect_visible(items.filter(has_text="Zanzibar report"))

    # Delete (after a confirm).
    console.answers.append(True)
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{site}/")
    chat_ids = [
        c["title"] for c in httpx.get(f"{site}/api/chats/?archived=true", headers=headers).json()
    ]
    assert "Zanzibar report" not in chat_ids


def test_password_change_and_the_page_headers(new_page: Callable[..., Any], site: str) -> None:
    page = new_page()
    response = page.goto("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    sign_up(page, name="Ann Admin", email="ann@example.com")
    page.get_by_role("link", name="Account").click()
    page.get_by_label("Current password").fill("correct horse battery staple")
    page.get_by_label("New password").fill("a different long passphrase 7")
    refreshes: list[str] = []
    page.on("request", lambda r: r.url.endswith("/session/refresh") and refreshes.append(r.url))
    # The change closes the page's socket (its token predates the new password); the page
    # reconnects on the token the change answered, without trading the cookie again: a reload
    # while such a trade is in flight would keep the spent cookie and sign the page out.
    with page.expect_websocket() as reconnected:
        page.get_by_role("button", name="Change password").click()
    expect_visible(page.get_by_text("Password changed."))
    assert reconnected.value.url.endswith("/ws/")
    assert refreshes == []
    shot(page, "account")
    # The page keeps working on the new cookie, and the new password signs in.
    page.reload()
    expect_visible(page.get_by_role("heading", name="Account"))
    page.get_by_role("button", name="Sign out").click()
    expect_visible(page.get_by_role("heading", name="Sign in"))
    sign_in(page, email="ann@example.com", password="a different long passphrase 7")
