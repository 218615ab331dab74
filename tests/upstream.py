"""Stand-in upstream model servers for tests and benchmarks: real HTTP and SSE on loopback.

``StandIn("openai")`` is an OpenAI-compatible server (``/v1/models``,
``/v1/chat/completions``); ``StandIn("ollama")`` is Ollama-shaped (``/api/tags``,
``/api/pull`` streaming NDJSON progress, and Ollama's OpenAI-compatible
``/v1/chat/completions``). Each request tells it how to behave through extra body fields
(which our proxy passes through, as it does any field it does not know):

- ``mock_chunks`` (default 5) tokens ``tok0 tok1 …``, ``mock_delay`` seconds between chunks,
  ``mock_end_delay`` seconds between ``[DONE]`` and the body's end (a separate write);
  ``mock_content`` answers that text instead, in ``mock_chunks`` pieces;
- ``mock_fault``: ``401``, ``429`` (with ``Retry-After: 7``), ``500``, ``503``, ``400``,
  ``hang`` (never answers), ``hang_after_headers`` (headers, then nothing), ``cut`` (closes
  the connection after ``mock_cut_after`` chunks), ``nodone`` (ends cleanly without
  ``[DONE]``), ``hang_after_done`` (``[DONE]``, then comment lines, never the body's end),
  ``badjson`` (a chunk that is not JSON), ``garbled`` (a line that is not SSE), ``notjson``
  (a non-streaming answer that is not JSON); and after ``mock_cut_after`` chunks: ``stall``
  (nothing more, the connection held open), ``huge`` (one chunk of 10 MB of text), ``deep``
  (a chunk nested 200 levels deep), ``endless`` (tokens for ever, never ``[DONE]``).

- ``mock_tool`` ``{"name", "arguments", "always"?}`` (non-streaming): the answer calls that tool
  with those arguments, unless the last message is a ``tool`` result, which the answer then
  echoes (``Tool said: <content>``); with ``always`` every answer calls the tool.

``requests`` keeps every completion request body and ``peers`` the client port it came from;
``disconnects`` counts streams whose client went away. ``models_delay`` slows the model list
(a slow connection). Run it on its own with ``python -m tests.upstream --port 9000`` (the
benchmark does).
"""

import argparse
import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

OPENAI_MODELS = ["mock", "mock-large"]
OLLAMA_MODELS = ["llama-mock:1b"]


class StandIn:
    def __init__(self, kind: str = "openai", *, models_delay: float = 0.0) -> None:
        self.kind = kind
        self.models_delay = models_delay
        self.requests: list[dict[str, Any]] = []
        self.peers: list[int] = []  # the client's port of each completion request
        self.disconnects = 0
        self.finished = 0  # streams written to the end
        self.pulls: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    # --- app ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_post("/api/pull", self.pull)
        return app

    @property
    def model_names(self) -> list[str]:
        return OLLAMA_MODELS if self.kind == "ollama" else OPENAI_MODELS

    async def models(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.models_delay)
        data = [
            {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "stand-in"}
            for m in self.model_names
        ]
        return web.json_response({"object": "list", "data": data})

    async def tags(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.models_delay)
        models = [
            {"name": m, "model": m, "modified_at": "2024-05-01T10:00:00Z", "size": 1}
            for m in self.model_names
        ]
        return web.json_response({"models": models})

    async def pull(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        name = body.get("name") or body.get("model")
        self.pulls.append(name)
        if name == "missing-model":
            return web.json_response(
                {"error": "pull model manifest: file does not exist"}, status=500
            )
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        lines = [{"status": "pulling manifest"}]
        lines += [
            {"status": "downloading", "digest": "sha256:abc", "total": 100, "completed": c}
            for c in (25, 50, 100)
        ]
        lines += [{"status": "verifying sha256 digest"}, {"status": "success"}]
        for line in lines:
            await response.write(json.dumps(line).encode() + b"\n")
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peers.append(peer[1] if peer else 0)
        fault = str(body.get("mock_fault", ""))
        chunks = int(body.get("mock_chunks", 5))
        delay = float(body.get("mock_delay", 0))
        end_delay = float(body.get("mock_end_delay", 0))
        if fault in ("400", "401", "500", "503"):
            return web.json_response(
                {"error": {"message": f"stand-in fault {fault}", "type": "test"}},
                status=int(fault),
            )
        if fault == "429":
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "7"}
            )
        if fault == "hang":
            await asyncio.sleep(3600)
        tokens = [f"tok{i} " for i in range(chunks)]
        if isinstance(body.get("mock_content"), str):
            text, size = body["mock_content"], -(-len(body["mock_content"]) // max(chunks, 1))
            tokens = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        prompt_tokens = 3 * len(body.get("messages", []))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": chunks,
            "total_tokens": prompt_tokens + chunks,
        }
        tool = body.get("mock_tool")
        if isinstance(tool, dict) and not body.get("stream"):
            return web.json_response(self._tool_answer(body, tool, usage))
        if not body.get("stream"):
            if fault == "notjson":
                return web.Response(text="<html>oops</html>", content_type="text/html")
            await asyncio.sleep(delay * chunks)
            return web.json_response(
                {
                    "id": "upstream-id",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(tokens)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if fault == "hang_after_headers":
            await asyncio.sleep(3600)
        cut_after = int(body.get("mock_cut_after", 2))
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        base = {"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": "x"}
        try:
            await response.write(
                self._event(
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": ""},
                                "finish_reason": None,
                            }
                        ],
                    }
                )
            )
            for i, token in enumerate(tokens):
                if fault == "cut" and i == cut_after:
                    request.transport.close()  # type: ignore[union-attr]
                    return response
                if fault == "badjson" and i == cut_after:
                    await response.write(b"data: {not json\n\n")
                    await response.write_eof()
                    return response
                if fault == "garbled" and i == cut_after:
                    await response.write(b"\x00\x01 garbage line\n\n")
                    await response.write_eof()
                    return response
                if fault in ("stall", "endless") and i == cut_after:
                    await self._stall_or_babble(response, base, fault)
                if fault == "huge" and i == cut_after:
                    huge = {"index": 0, "delta": {"content": "x" * (10 * 1024 * 1024)}}
                    await response.write(self._event({**base, "choices": [huge]}))
                if fault == "deep" and i == cut_after:
                    deep: Any = {}
                    for _ in range(200):
                        deep = {"x": deep}
                    choice = {"index": 0, "delta": {"content": "deep "}, "extra": deep}
                    await response.write(self._event({**base, "choices": [choice]}))
                if delay:
                    await asyncio.sleep(delay)
                await response.write(
                    self._event(
                        {
                            **base,
                            "choices": [
                                {"index": 0, "delta": {"content": token}, "finish_reason": None}
                            ],
                        }
                    )
                )
            await response.write(
                self._event(
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                )
            )
            if include_usage:
                await response.write(self._event({**base, "choices": [], "usage": usage}))
            if fault != "nodone":
                await response.write(b"data: [DONE]\n\n")
            while fault == "hang_after_done":  # until the client drops the connection
                await asyncio.sleep(0.1)
                await response.write(b": still here\n\n")
            if end_delay:
                await asyncio.sleep(end_delay)
            await response.write_eof()
            self.finished += 1
        except (ConnectionResetError, asyncio.CancelledError):
            self.disconnects += 1
            raise
        return response

    async def _stall_or_babble(
        self, response: web.StreamResponse, base: dict[str, Any], fault: str
    ) -> None:
        """Hold the stream open for ever: silent (``stall``), or sending tokens (``endless``)."""
        while True:
            if fault == "stall":
                await asyncio.sleep(3600)
            await asyncio.sleep(0.01)
            choice = {"index": 0, "delta": {"content": "more "}, "finish_reason": None}
            await response.write(self._event({**base, "choices": [choice]}))

    @staticmethod
    def _tool_answer(body: dict[str, Any], tool: dict[str, Any], usage: dict) -> dict[str, Any]:
        last = (body.get("messages") or [{}])[-1]
        if last.get("role") == "tool" and not tool.get("always"):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": f"Tool said: {last.get('content')}",
            }
            finish = "stop"
        else:
            calls = sum(m.get("role") == "tool" for m in body.get("messages") or [])
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{calls}",
                        "type": "function",
                        "function": {
                            "name": tool["name"],
                            "arguments": json.dumps(tool.get("arguments") or {}),
                        },
                    }
                ],
            }
            finish = "tool_calls"
        return {
            "id": "upstream-id",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }

    @staticmethod
    def _event(data: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    # --- running ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        root = f"http://127.0.0.1:{self.port}"
        return root if self.kind == "ollama" else f"{root}/v1"

    def start(self, port: int = 0) -> "StandIn":
        """Serve on a loopback port from a thread of its own; returns once it listens."""
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", port)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
            self._runner = runner
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        threading.Thread(target=serve, daemon=True, name=f"stand-in-{self.kind}").start()
        if not ready.wait(10):
            raise RuntimeError("the stand-in upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--kind", default="openai", choices=["openai", "ollama"])
    args = parser.parse_args()
    app = StandIn(args.kind).app()
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
