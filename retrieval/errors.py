from rest_framework import status

from webui_backend.errors import AppError


class EmbeddingUnavailable(AppError):
    """The embedder is down, timed out or answered garbage. Transient: callers may retry."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The embedding server is unavailable."
    default_code = "embedding_unavailable"


class IndexingFailed(AppError):
    """A file cannot be indexed, whatever the retries (e.g. it has no text at all)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The file could not be indexed."
    default_code = "indexing_failed"


class WebSearchNotConfigured(AppError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Web search is not configured: set SEARXNG_QUERY_URL."
    default_code = "web_search_not_configured"


class WebSearchUnavailable(AppError):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The web search provider is unavailable."
    default_code = "web_search_unavailable"


class FetchRefused(AppError):
    """An outbound fetch that the SSRF guard refused (scheme, address, size or redirects)."""

    default_detail = "This address may not be fetched."
    default_code = "fetch_refused"


class FetchFailed(AppError):
    """An outbound fetch that was allowed but did not succeed (down, too slow, too big)."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The address could not be fetched."
    default_code = "fetch_failed"
