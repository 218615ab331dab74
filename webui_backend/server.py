"""daphne with a graceful shutdown: ``python -m webui_backend.server [daphne's options] APP``.

Same options as the ``daphne`` command. daphne itself stops at once on SIGTERM (its reactor
cancels every application instance). Here SIGTERM and SIGINT instead (1) stop listening, so a
load balancer's next connection goes elsewhere, (2) drain the application
(``webui_backend.lifecycle.drain``: sockets closed with a reconnect hint, running requests and
streams given ``SHUTDOWN_TIMEOUT`` seconds), then (3) stop. A second signal stops at once.

Without ``--access-log`` the access lines come from the request middleware (with the route
and request id, in the configured LOG_FORMAT) instead of daphne's own.

``--migrate`` (ours, before daphne's options) applies the migrations in this process before
serving: ``python3 dev.py serve`` starts one interpreter instead of two (``manage.py migrate``,
then the server), which is most of the time from launch to healthy.
"""

import asyncio
import logging
import os
import signal
import sys
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server
from twisted.internet import reactor

logger = logging.getLogger("webui_backend.server")


def _no_twisted_access_log(request: Any) -> None:
    return None


class _WebRequest(WebRequest):
    """daphne's request, without Twisted's own parse of a POST's body into ``request.args``,
    which daphne never reads (Twisted's ``parsePOSTFormSubmission``). That parse ran on the
    event loop: the Content-Type through the email package on every POST (~60 µs), and every
    multipart upload whole (a 10 MiB file: 184 ms with the loop held, 111 MiB at its peak),
    and it answered a body it could not parse with a bare 400 before the application saw it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)


class GracefulServer(Server):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["signal_handlers"] = False
        access = kwargs.get("action_logger")
        if getattr(getattr(access, "stream", None), "name", None) == os.devnull:
            # No access log asked for (GracefulCommandLine): none formatted at all, rather
            # than one line per request written to /dev/null (3-4 % of a request's CPU).
            access.stream.close()
            kwargs["action_logger"] = None
        self._ready = kwargs.pop("ready_callable", None)
        kwargs["ready_callable"] = self._install_signal_handlers
        super().__init__(*args, **kwargs)
        self.ports: list[Any] = []
        self.stopping = False

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        # Twisted's HTTP factory formats a combined-log line per request into Twisted's own
        # log, which nothing here reads (2 % of a list page's CPU): the middleware logs requests.
        self.http_factory.log = _no_twisted_access_log
        self.http_factory.buildProtocol = self._build_protocol
        super().listen_success(port)

    def _build_protocol(self, addr: Any) -> Any:
        protocol = type(self.http_factory).buildProtocol(self.http_factory, addr)
        protocol.requestFactory = _WebRequest  # daphne's buildProtocol set its WebRequest
        return protocol

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_event_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        if self._ready is not None:
            self._ready()

    def _on_signal(self, sig: int) -> None:
        if self.stopping:
            logger.warning("second %s: stopping now", signal.Signals(sig).name)
            self.stop()
            return
        self.stopping = True
        logger.info("%s: shutting down gracefully", signal.Signals(sig).name)
        self._shutdown_task = asyncio.ensure_future(self._shutdown())

    async def _shutdown(self) -> None:
        from django.conf import settings

        from webui_backend.lifecycle import drain

        try:
            for port in self.ports:
                port.stopListening()
            await drain(settings.SHUTDOWN_TIMEOUT)
        except Exception:
            logger.exception("graceful shutdown failed; stopping now")
        finally:
            reactor.callLater(0, self.stop)


# daphne drops websocket messages over 1 MiB by default; the application answers frames over
# REALTIME_MAX_FRAME_BYTES (2 MiB) with an error itself, so the protocol's hard cap sits above.
WEBSOCKET_LIMITS = ["--websocket-max-message-size=16777216", "--websocket-max-frame-size=16777216"]


class GracefulCommandLine(CommandLineInterface):
    server_class = GracefulServer

    def run(self, args: list[str]) -> None:
        given = " ".join(args)
        if "--access-log" not in given:
            args = [*args, "--access-log", os.devnull]
        if "--websocket-max" not in given:
            args = [*WEBSOCKET_LIMITS, *args]
        super().run(args)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui_backend.settings")
    args = sys.argv[1:]
    if "--migrate" in args:
        args.remove("--migrate")
        migrate()
    GracefulCommandLine().run(args)


def migrate() -> None:
    """``manage.py migrate --no-input``, here (Django's set-up is then done once)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False)


if __name__ == "__main__":
    main()
