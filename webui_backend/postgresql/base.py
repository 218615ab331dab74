"""Django's PostgreSQL backend, with timestamps read by psycopg's C loader and pooled
connections checked only when they have been idle.

**Timestamps.** Django registers a loader of its own for ``timestamptz`` (to give every
value the connection's time zone). It extends psycopg's pure-Python loader, so with the C
implementation installed (``psycopg[binary]``) every timestamp is still parsed by a regular
expression in Python: about half of the CPU a 60-chat list page spent reading its rows. When
Django's time zone for the connection is UTC (``USE_TZ``, no per-database ``TIME_ZONE``: our
settings), the session runs in UTC too (Django sets it on every new connection), and
psycopg's own loader gives the very same values, aware and in ``datetime.timezone.utc``, so
that one does the reading instead.

**Health checks.** With ``CONN_HEALTH_CHECKS``, Django has the pool run an empty query on
every connection it hands out: a round trip per request, for a connection that answered a
moment ago. So our settings turn that off with a pool, and here a pooled connection is checked
only when it has been idle in the pool for more than
``CHECK_AFTER_IDLE`` seconds (as HikariCP does, for the same reason): a server restart is
caught on every connection that sat through it; a connection returned within the last second
and broken since fails its request (503, ``database_unavailable``) and is dropped by the pool.
"""

import datetime
import threading
import time
import weakref
from functools import lru_cache
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg import adapt, adapters
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader

CHECK_AFTER_IDLE = 1.0  # seconds

TIMESTAMPTZ_OID = adapters.types["timestamptz"].oid
_BEST_TIMESTAMPTZ_LOADER = adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


class UtcTimestamptzLoader(TimestamptzLoader):
    """psycopg's best ``timestamptz`` loader (C when installed) behind the Python class that
    Django's cursors expect (they read its ``timezone``)."""

    timezone = datetime.UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        # psycopg calls ``loader.load`` of a Python loader: let that be the C one's.
        self.load = _BEST_TIMESTAMPTZ_LOADER(oid, context).load  # type: ignore[method-assign]


@lru_cache
def _with_fast_timestamps(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    context = adapt.AdaptersMap(template)
    context.register_loader("timestamptz", UtcTimestamptzLoader)
    return context


_returned_lock = threading.Lock()
# pooled connection -> when it went back to the pool (monotonic); absent: new, or checked out
_returned_at: "weakref.WeakKeyDictionary[psycopg.Connection[Any], float]" = (
    weakref.WeakKeyDictionary()
)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self.timezone is datetime.UTC and self.timezone_name == "UTC" and "context" in params:
            params["context"] = _with_fast_timestamps(params["context"])
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not self.pool:
            return super().get_new_connection(conn_params)
        # Every connection in the pool may be broken (the server restarted): try each once.
        for _ in range(self.pool.max_size + 1):
            connection = super().get_new_connection(conn_params)
            with _returned_lock:
                returned = _returned_at.pop(connection, None)
            if returned is None or time.monotonic() - returned <= CHECK_AFTER_IDLE:
                return connection
            try:
                connection.execute("")  # what psycopg_pool's own check runs
            except psycopg.Error:
                self.pool.putconn(connection)  # broken: the pool closes it, opens another
                continue
            return connection
        return super().get_new_connection(conn_params)  # a fresh one, or the pool's error

    def _close(self) -> None:
        if self.connection is not None and self.pool:
            with _returned_lock:
                _returned_at[self.connection] = time.monotonic()
        super()._close()
