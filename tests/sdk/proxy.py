"""A flaky HTTP/1.1 proxy on loopback, between the SDK and a real server.

Each request that arrives is answered by the next behaviour scripted for its path
(``proxy.script("/api/chats/new", "drop", "pass")``), else passed on:

- ``pass``: forwarded to the server, the answer relayed back;
- ``drop``: the connection closed without an answer (the server never sees the request);
- ``forward_then_drop``: forwarded (the server does the work), the answer thrown away and
  the connection closed, as when a network drops an answer on its way back;
- ``503``, ``502``, ``429``: answered with that status by the proxy itself (``429`` with
  ``Retry-After: 1``);
- ``hang``: never answered (until the client hangs up);
- ``cut``: forwarded, the answer relayed until ``cut_events`` server-sent events went
  through, then the connection closed mid-answer;
- ``garble``: forwarded, the first streamed ``data:`` line's JSON corrupted.

``seen`` lists every request that arrived (method, path, headers); ``forwarded`` those the
server received. Each connection carries one request (answers get ``Connection: close``).
"""

import asyncio
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = field(repr=False)


class FlakyProxy:
    def __init__(self, upstream_port: int, *, cut_events: int = 3) -> None:
        self.upstream_port = upstream_port
        self.cut_events = cut_events
        self.port = 0
        self.seen: list[Seen] = []
        self.forwarded: list[Seen] = []
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *behaviours: str) -> None:
        """Answer the next requests to ``path`` (exact, without the query) like this."""
        with self._lock:
            self._scripts[path].extend(behaviours)

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.seen.clear()
            self.forwarded.clear()

    def count(self, path: str, *, method: str = "", forwarded: bool = False) -> int:
        rows = self.forwarded if forwarded else self.seen
        return sum(1 for r in rows if r.path == path and (not method or r.method == method))

    def _next(self, path: str) -> str:
        with self._lock:
            queue = self._scripts.get(path)
            return queue.popleft() if queue else "pass"

    # --- one connection ------------------------------------------------------------------------

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, Seen] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(reader)  # kept framed: forwarded as it came
        else:
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
        # One request per connection, to the server too.
        kept = [
            line
            for line in lines[1:]
            if line and not line.lower().startswith(("connection:", "keep-alive:"))
        ]
        raw = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        return raw + body, Seen(method, target.split("?", 1)[0], headers, body)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        raw = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            raw += size_line
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            raw += await reader.readexactly(size + 2)
            if size == 0:
                return raw

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await self._read_request(reader)
            if request is None:
                return
            raw, seen = request
            self.seen.append(seen)
            behaviour = self._next(seen.path)
            if behaviour == "drop":
                return
            if behaviour == "hang":
                await reader.read()  # until the client gives up
                return
            if behaviour in ("502", "503", "429"):
                extra = "Retry-After: 1\r\n" if behaviour == "429" else ""
                payload = b'{"detail": "The proxy says no.", "code": "proxy_refused"}'
                writer.write(
                    f"HTTP/1.1 {behaviour} Refused\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n{extra}Connection: close\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
                return
            await self._forward(raw, seen, behaviour, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _forward(
        self,
        raw: bytes,
        seen: Seen,
        behaviour: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.forwarded.append(seen)
        client_gone: asyncio.Future[bytes] | None = None
        try:
            up_writer.write(raw)
            await up_writer.drain()
            head = await up_reader.readuntil(b"\r\n\r\n")
            if behaviour == "forward_then_drop":
                while await up_reader.read(65536):  # let the server finish, answer nobody
                    pass
                return
            lines = head.decode("latin-1").split("\r\n")
            kept = [
                line
                for line in lines
                if line and not line.lower().startswith(("connection:", "keep-alive:"))
            ]
            writer.write("\r\n".join([*kept, "Connection: close", "", ""]).encode("latin-1"))
            events = 0
            garbled = False
            client_gone = asyncio.ensure_future(reader.read(1))  # EOF: the client hung up
            while True:
                chunk = asyncio.ensure_future(up_reader.read(65536))
                await asyncio.wait({chunk, client_gone}, return_when=asyncio.FIRST_COMPLETED)
                if not chunk.done():
                    chunk.cancel()
                    break
                data = chunk.result()
                if not data:
                    break
                if behaviour == "garble" and not garbled and b'data: {"' in data:
                    # Same length: the chunked framing around it stays right.
                    data = data.replace(b'data: {"', b"data: {{", 1)
                    garbled = True
                writer.write(data)
                await writer.drain()
                events += data.count(b"data: ")
                if behaviour == "cut" and events >= self.cut_events:
                    return
        finally:
            if client_gone is not None:
                client_gone.cancel()
            up_writer.close()

    # --- running -------------------------------------------------------------------------------

    def start(self) -> "FlakyProxy":
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        threading.Thread(target=serve, daemon=True, name="flaky-proxy").start()
        if not ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
