"""Web search through a SearxNG-shaped server on loopback, and the SSRF guard of every fetch."""

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from retrieval.errors import FetchFailed, FetchRefused
from retrieval.ssrf import guarded_get
from tests.retrieval.servers import PageServer, SearxngServer
from users.models import User

URL = "/api/retrieval/web"


@pytest.fixture
def searxng(settings: Any) -> Iterator[SearxngServer]:
    server = SearxngServer().start()
    settings.SEARXNG_QUERY_URL = f"{server.root}/search"
    settings.WEB_FETCH_TIMEOUT = 1
    yield server
    server.stop()


@pytest.fixture
def pages(settings: Any) -> Iterator[PageServer]:
    server = PageServer().start()
    settings.WEB_FETCH_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the tests' allow-list: loopback
    settings.WEB_FETCH_TIMEOUT = 1
    settings.WEB_FETCH_MAX_BYTES = 64 * 1024
    yield server
    server.stop()


def test_web_search_returns_title_url_snippet(
    owner: User, searxng: SearxngServer, client_of: Callable[[User], APIClient]
) -> None:
    response = client_of(owner).post(URL, {"query": "django retrieval", "count": 3}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["results"][0] == {
        "title": "Result 0 for django retrieval",
        "url": "https://example.org/0",
        "snippet": "Snippet 0 about django retrieval.",
    }
    assert len(response.json()["results"]) == 3
    assert searxng.requests[0]["format"] == "json"


def test_a_provider_behind_a_compressing_proxy_still_answers(
    owner: User, searxng: SearxngServer, client_of: Callable[[User], APIClient]
) -> None:
    searxng.fault = "gzip"

    response = client_of(owner).post(URL, {"query": "django retrieval"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["title"] == "Result 0 for django retrieval"


def test_results_that_are_not_web_addresses_are_dropped(
    owner: User, searxng: SearxngServer, client_of: Callable[[User], APIClient]
) -> None:
    response = client_of(owner).post(URL, {"query": "all", "count": 20}, format="json")
    urls = [r["url"] for r in response.json()["results"]]
    assert len(urls) == 12
    assert all(u.startswith("https://") for u in urls)


def test_not_configured_is_503(
    owner: User, settings: Any, client_of: Callable[[User], APIClient]
) -> None:
    settings.SEARXNG_QUERY_URL = ""
    response = client_of(owner).post(URL, {"query": "x"}, format="json")
    assert (response.status_code, response.json()["code"]) == (503, "web_search_not_configured")
    assert "SEARXNG_QUERY_URL" in response.json()["detail"]


@pytest.mark.parametrize("fault", ["500", "garbage", "hang", "down"])
def test_provider_failing_is_502(
    owner: User, searxng: SearxngServer, client_of: Callable[[User], APIClient], fault: str
) -> None:
    if fault == "down":
        searxng.stop()
    else:
        searxng.fault = fault
    response = client_of(owner).post(URL, {"query": "x"}, format="json")
    assert (response.status_code, response.json()["code"]) == (502, "web_search_unavailable")


def test_provider_redirecting_to_a_private_address_is_refused(
    owner: User, searxng: SearxngServer, client_of: Callable[[User], APIClient]
) -> None:
    searxng.redirect_to = "http://169.254.169.254/latest/meta-data/"
    response = client_of(owner).post(URL, {"query": "x"}, format="json")
    assert response.status_code == 502
    assert "not a public address" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [{"query": ""}, {"query": "x" * 501}, {"query": "x", "count": 0}, {"query": "x", "count": 21}],
)
def test_bad_input_is_400(
    owner: User, searxng: SearxngServer, client_of: Callable[[User], APIClient], body: dict
) -> None:
    assert client_of(owner).post(URL, body, format="json").status_code == 400


# --- the guard --------------------------------------------------------------------------------


def test_allow_listed_loopback_is_fetched(pages: PageServer) -> None:
    fetched = guarded_get(f"{pages.root}/page")
    assert fetched.status == 200
    assert fetched.body == f"hello from 127.0.0.1:{pages.port}".encode()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/",
        "http://localhost:1/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:1/",
        "http://[::ffff:127.0.0.1]:1/",
        "http://0.0.0.0:1/",
        "http://100.64.0.1/",
    ],
)
def test_private_loopback_link_local_and_metadata_are_refused(settings: Any, url: str) -> None:
    settings.WEB_FETCH_ALLOWED_NETWORKS = []
    with pytest.raises(FetchRefused, match="not a public address"):
        guarded_get(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/", "gopher://x/", "//x"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused):
        guarded_get(url)


def test_redirects_are_checked_again(pages: PageServer) -> None:
    ok = guarded_get(f"{pages.root}/redirect?to=/page")
    assert ok.body.startswith(b"hello")
    with pytest.raises(FetchRefused, match="not a public address"):
        guarded_get(f"{pages.root}/redirect?to=http://10.1.2.3/")
    with pytest.raises(FetchRefused, match="http and https"):
        guarded_get(f"{pages.root}/redirect?to=file:///etc/passwd")


def test_redirect_loops_stop(pages: PageServer) -> None:
    with pytest.raises(FetchFailed, match="redirected more than"):
        guarded_get(f"{pages.root}/loop")


def test_size_and_time_limits(pages: PageServer) -> None:
    with pytest.raises(FetchFailed, match="larger than 65536 bytes"):
        guarded_get(f"{pages.root}/big")
    with pytest.raises(FetchFailed, match="too long"):
        guarded_get(f"{pages.root}/slow")


# --- SSRF through the search provider: redirects and DNS rebinding ----------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "loopback",  # another port of the provider's own (trusted) host
    ],
)
def test_provider_redirects_to_loopback_or_metadata_are_refused(
    owner: User,
    searxng: SearxngServer,
    pages: PageServer,
    client_of: Callable[[User], APIClient],
    settings: Any,
    target: str,
) -> None:
    settings.WEB_FETCH_ALLOWED_NETWORKS = []  # SearxNG's own origin is trusted; nothing else
    searxng.redirect_to = f"http://127.0.0.1:{pages.port}/page" if target == "loopback" else target

    response = client_of(owner).post(URL, {"query": "x"}, format="json")

    assert response.status_code == 502
    assert response.json()["code"] == "web_search_unavailable"
    assert "not a public address" in response.json()["detail"]
    assert pages.requests == []


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A resolver stub: ``rebind.test`` answers each lookup with the next address of the
    returned list (the test fills it); every other name resolves as usual."""
    answers: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            address = answers.pop(0)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_dns_rebinding_after_the_check_never_reaches_the_second_address(
    owner: User,
    searxng: SearxngServer,
    client_of: Callable[[User], APIClient],
    settings: Any,
    rebinding: list[str],
) -> None:
    """The provider redirects to ``rebind.test``, which resolves first to an allowed address
    (127.0.0.2, the test's stand-in for a public one) and then to a refused one (127.0.0.1,
    where another server listens on the same port). The connection goes to the address
    that was checked; the next lookup's answer is refused."""
    allowed = SearxngServer(host="127.0.0.2").start()
    refused = SearxngServer(host="127.0.0.1", port=allowed.port).start()
    try:
        settings.WEB_FETCH_ALLOWED_NETWORKS = ["127.0.0.2/32"]
        searxng.redirect_to = f"http://rebind.test:{allowed.port}/search?q=x&format=json"
        rebinding.extend(["127.0.0.2", "127.0.0.1"])

        first = client_of(owner).post(URL, {"query": "x"}, format="json")
        second = client_of(owner).post(URL, {"query": "x"}, format="json")

        assert first.status_code == 200, first.content
        assert first.json()["results"]
        assert len(allowed.requests) == 1
        assert second.status_code == 502
        assert "not a public address" in second.json()["detail"]
        assert refused.requests == []
        assert rebinding == []  # one lookup per hop: no second one an attacker could answer
    finally:
        allowed.stop()
        refused.stop()


def test_url_fetch_redirect_to_another_loopback_port_or_metadata_is_refused(
    pages: PageServer, settings: Any
) -> None:
    settings.WEB_FETCH_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    other = PageServer(host="127.0.0.2").start()
    try:
        with pytest.raises(FetchRefused, match="not a public address"):
            guarded_get(f"{other.root}/redirect?to=http://127.0.0.1:{pages.port}/page")
        with pytest.raises(FetchRefused, match="not a public address"):
            guarded_get(f"{other.root}/redirect?to=http://169.254.169.254/latest/meta-data/")
        assert (
            guarded_get(f"{other.root}/page").body
            == f"hello from {other.host}:{other.port}".encode()
        )
    finally:
        other.stop()
