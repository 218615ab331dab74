"""Small real servers on loopback for retrieval's tests: an OpenAI-compatible embeddings server
and a SearxNG-shaped search server. Each can be told to misbehave through ``fault``."""

import asyncio
import hashlib
import math
import re
import threading
from typing import Any

from aiohttp import web

DIM = 64


def bag_of_words(text: str, dim: int = DIM) -> list[float]:
    """A deterministic vector: each word adds to one hashed dimension (normalized)."""
    vector = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0  # noqa: S324
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class LoopbackServer:
    """An aiohttp app served from a thread of its own on 127.0.0.1."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host  # any of 127.0.0.0/8 (a second loopback address for DNS tests)
        self.fault = ""  # what to get wrong next; "" answers properly
        self.requests: list[Any] = []
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = threading.Event()

    def app(self) -> web.Application:
        raise NotImplementedError

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "LoopbackServer":
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            runner = web.AppRunner(
                self.app(), handle_signals=False, access_log=None, shutdown_timeout=0.2
            )
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, self.host, self.port).start())
            self.port = runner.addresses[0][1]
            ready.set()
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:  # handlers told to hang
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(runner.cleanup())
            loop.close()
            self._stopped.set()

        threading.Thread(target=serve, daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the loopback server did not start")
        return self

    def stop(self) -> None:
        """Stop listening (idempotent); returns once the port is closed."""
        if self._loop is not None and not self._stopped.is_set():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._stopped.wait(10)


class EmbeddingsServer(LoopbackServer):
    """``POST /v1/embeddings``. Faults: ``503`` (every time), ``garbage`` (HTML), ``short``
    (one vector too few), ``nan`` (a vector of NaN), ``401``, ``hang``, ``flaky`` (503 once)."""

    dim = DIM

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self.embeddings)
        return app

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        fault = self.fault
        if fault == "flaky":
            self.fault = ""
            fault = "503"
        if fault in ("401", "503"):
            return web.json_response({"error": {"message": "stand-in fault"}}, status=int(fault))
        if fault == "garbage":
            return web.Response(text="<html>gateway</html>", content_type="text/html")
        if fault == "hang":
            await asyncio.sleep(3600)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = [bag_of_words(t, self.dim) for t in texts]
        if fault == "short":
            vectors = vectors[:-1]
        if fault == "nan":
            vectors[0] = [float("nan")] * self.dim
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        return web.json_response({"object": "list", "data": data, "model": body["model"]})


class SearxngServer(LoopbackServer):
    """``GET /search?q=…&format=json`` as SearxNG answers it. Faults: ``500``, ``garbage``,
    ``hang``, ``gzip`` (compresses whenever the client accepts it, as a reverse proxy in
    front of SearxNG does); ``redirect_to`` makes it answer a redirect there instead."""

    redirect_to = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/search", self.search)
        return app

    async def search(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.query))
        if self.redirect_to:
            raise web.HTTPFound(self.redirect_to)
        if self.fault == "500":
            return web.json_response({"error": "engine crashed"}, status=500)
        if self.fault == "garbage":
            return web.Response(text="not json at all", content_type="text/plain")
        if self.fault == "hang":
            await asyncio.sleep(3600)
        query = request.query.get("q", "")
        results = [
            {
                "title": f"Result {i} for {query}",
                "url": f"https://example.org/{i}",
                "content": f"Snippet {i} about {query}.",
                "engine": "stand-in",
            }
            for i in range(12)
        ]
        results.append({"title": "bad", "url": "javascript:alert(1)", "content": "x"})
        response = web.json_response({"query": query, "results": results})
        if self.fault == "gzip":
            response.enable_compression()
        return response


class PageServer(LoopbackServer):
    """Serves ``/page`` (a small page), ``/big`` (bigger than any test limit), ``/slow`` (never
    ends) ``/redirect?to=…`` (a 302 there) and ``/loop`` (a
    redirect to itself), for the SSRF guard's tests."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/page", self.page)
        app.router.add_get("/big", self.big)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/redirect", self.redirect)
        app.router.add_get("/loop", self.loop)
        return app

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=f"hello from {request.host}")

    async def big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"x" * 65536)
        await response.write_eof()
        return response

    async def slow(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"start")
        await asyncio.sleep(3600)
        return response

    async def loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])


class RerankServer(LoopbackServer):
    """``POST /v1/rerank`` as Open WebUI's external reranker contract (and Cohere, Jina) has
    it. A document scores 0.9 when it contains ``favourite``, else 0.1 x the share of the query's
    words it holds. Faults: ``503`` (every time), ``flaky`` (503 once), ``garbage`` (HTML),
    ``bad_index`` (an index past the documents), ``hang``; ``tei`` answers as Hugging Face's
    text-embeddings-inference does (a bare list of ``index``/``score``)."""

    favourite = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/rerank", self.rerank)
        return app

    def score(self, query: str, document: str) -> float:
        if self.favourite and self.favourite in document:
            return 0.9
        words = set(re.findall(r"\w+", query.lower()))
        return 0.1 * len(words & set(re.findall(r"\w+", document.lower()))) / (len(words) or 1)

    async def rerank(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("Authorization")})
        fault = self.fault
        if fault == "flaky":
            self.fault = ""
            fault = "503"
        if fault == "503":
            return web.json_response({"error": "stand-in fault"}, status=503)
        if fault == "garbage":
            return web.Response(text="<html>gateway</html>", content_type="text/html")
        if fault == "hang":
            await asyncio.sleep(3600)
        scored = sorted(
            ((i, self.score(body["query"], d)) for i, d in enumerate(body["documents"])),
            key=lambda r: -r[1],
        )[: body.get("top_n")]
        if fault == "bad_index":
            scored[0] = (len(body["documents"]), scored[0][1])
        if fault == "tei":
            return web.json_response([{"index": i, "score": s} for i, s in scored])
        results = [{"index": i, "relevance_score": s} for i, s in scored]
        return web.json_response({"model": body["model"], "results": results})
