"""An external reranker: a search's best fused candidates put in order by a cross-encoder that
runs behind an HTTP API (``RAG_RERANKING_ENGINE=external``), as Open WebUI's external reranker.

The request is the one Open WebUI, Cohere and Jina send::

    POST RAG_EXTERNAL_RERANKER_URL   Authorization: Bearer RAG_EXTERNAL_RERANKER_API_KEY
    {"model": RAG_RERANKING_MODEL, "query": "...", "documents": ["...", ...], "top_n": n}

and the answer is read as they give it, ``{"results": [{"index": i, "relevance_score": s}]}``,
or as Hugging Face's text-embeddings-inference gives it, ``[{"index": i, "score": s}]``.
A document the answer leaves out ranks after those it scores.

Its connections pass the upstream address policy, as the embeddings server's do
(``UPSTREAM_ALLOW_PRIVATE_NETWORKS``). A reranker that cannot be reached, answers an error
after a retry, or answers something else leaves the search as it was (the fused order) and
is logged: an answer from knowledge is better slightly less well ordered than not at all.
"""

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from retrieval.ssrf import UpstreamAddressRefused, guarded_transport
from webui_backend import jsondepth

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 0.2  # one retry, for a connection error, 429 or 5xx


@dataclass(frozen=True)
class Reranker:
    url: str
    api_key: str
    model: str
    timeout: float

    def scores(self, query: str, documents: list[str]) -> list[float] | None:
        """One score per document, in their order (higher is more relevant); None when the
        reranker could not give them (logged)."""
        count = len(documents)
        body = {"model": self.model, "query": query, "documents": documents, "top_n": count}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        started = time.monotonic()
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0))
        with httpx.Client(timeout=timeout, transport=guarded_transport()) as client:
            for attempt in (1, 2):
                scores, problem, again = self._ask(client, body, headers, count)
                if scores is not None:
                    return scores
                if not again or attempt == 2:
                    break
                time.sleep(RETRY_AFTER_S)
        logger.warning(
            "reranker %s gave no scores (%s, %.1f s); the search keeps its own order",
            self.url,
            problem,
            time.monotonic() - started,
        )
        return None

    def _ask(
        self, client: httpx.Client, body: dict[str, Any], headers: dict[str, str], count: int
    ) -> tuple[list[float] | None, str, bool]:
        """One request: (the scores, what went wrong, whether another try may help)."""
        try:
            response = client.post(self.url, json=body, headers=headers)
        except UpstreamAddressRefused as exc:
            return None, str(exc), False
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}", True
        status = response.status_code
        if status != 200:
            return None, f"HTTP {status}", status == 429 or status >= 500
        return _scores(response, count), "an answer that is not rerank results", False


def _scores(response: httpx.Response, count: int) -> list[float] | None:
    try:
        data: Any = jsondepth.loads(response.content)
    except ValueError:  # not JSON, or nested past the bound (JsonTooDeep)
        return None
    results = data.get("results") if isinstance(data, dict) else data
    if not isinstance(results, list):
        return None
    scores = [-math.inf] * count
    for item in results:
        if not isinstance(item, dict):
            return None
        index, score = item.get("index"), item.get("relevance_score", item.get("score"))
        if type(index) is not int or not 0 <= index < count:
            return None
        if type(score) not in (int, float) or not math.isfinite(score):
            return None
        scores[index] = float(score)
    return scores


def reranker_current() -> Reranker | None:
    """The configured reranker, or None (the default: no reranking)."""
    if settings.RAG_RERANKING_ENGINE != "external" or not settings.RAG_EXTERNAL_RERANKER_URL:
        return None
    return Reranker(
        url=settings.RAG_EXTERNAL_RERANKER_URL,
        api_key=settings.RAG_EXTERNAL_RERANKER_API_KEY,
        model=settings.RAG_RERANKING_MODEL,
        timeout=float(settings.RAG_EXTERNAL_RERANKER_TIMEOUT),
    )
