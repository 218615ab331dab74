"""Web search behind one small provider interface; SearxNG's JSON API is the first provider."""

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from retrieval.errors import (
    FetchFailed,
    FetchRefused,
    WebSearchNotConfigured,
    WebSearchUnavailable,
)
from retrieval.ssrf import guarded_get, origin_of
from webui_backend import jsondepth

MAX_COUNT = 20


@dataclass(frozen=True)
class WebResult:
    title: str
    url: str
    snippet: str


class WebSearchProvider(Protocol):
    name: str

    def search(self, *, query: str, count: int) -> list[WebResult]: ...


class SearxNG:
    """``GET <SEARXNG_QUERY_URL>?q=…&format=json`` (the instance must allow the json format).

    The instance's own origin is trusted (the operator configured it, and it usually lives on
    a private network); whatever it redirects to is checked like any other address."""

    name = "searxng"

    def __init__(self, url: str) -> None:
        self.url = url

    def search(self, *, query: str, count: int) -> list[WebResult]:
        try:
            fetched = guarded_get(
                self.url,
                params={"q": query, "format": "json", "pageno": "1"},
                headers={"Accept": "application/json"},
                trusted_origins=[origin_of(self.url)],
            )
        except (FetchFailed, FetchRefused) as exc:
            raise WebSearchUnavailable(f"The web search provider failed: {exc.detail}") from None
        if fetched.status != 200:
            raise WebSearchUnavailable(f"The web search provider answered HTTP {fetched.status}.")
        try:
            items = jsondepth.loads(fetched.body)["results"]
            if not isinstance(items, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise WebSearchUnavailable(
                "The web search provider answered something that is not search results."
            ) from None
        results: list[WebResult] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            url = item.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                continue
            title = item.get("title") if isinstance(item.get("title"), str) else url
            snippet = item.get("content") if isinstance(item.get("content"), str) else ""
            results.append(WebResult(title=title[:500], url=url[:2000], snippet=snippet[:2000]))
            if len(results) >= count:
                break
        return results


def web_provider_current() -> WebSearchProvider:
    if not settings.SEARXNG_QUERY_URL:
        raise WebSearchNotConfigured()
    return SearxNG(settings.SEARXNG_QUERY_URL)


def web_search(*, query: str, count: int) -> list[WebResult]:
    """Up to ``count`` results of the configured provider. Raises WebSearchNotConfigured (503)
    or WebSearchUnavailable (502)."""
    return web_provider_current().search(query=query, count=max(1, min(count, MAX_COUNT)))
