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

**BEGIN goes out with the first statement.** psycopg opens a transaction by sending ``BEGIN``
on its own before the transaction's first statement: a round trip of its own, in every write
(a request thread blocks, gives up the interpreter and wakes again for it). Here psycopg stays
in autocommit and our cursor puts ``BEGIN;`` in front of the first statement of a transaction
Django has opened, in the same message (the client-side binding cursor Django uses sends the
simple query protocol, which carries several statements; the cursor then stands on the
statement's own result). psycopg's own rule decides when: the connection is in a transaction
of Django's and the server says none is open. ``COMMIT`` and ``ROLLBACK`` are psycopg's, and
psycopg sends nothing for a transaction in which no statement ran. Named (server-side)
cursors, ``executemany``, ``copy`` and ``stream`` send the ``BEGIN`` on its own first, as
psycopg would.

**Reads are bound by the server and prepared.** A statement outside a transaction (a list
page, a chat read, every read of a request that writes nothing) goes out on a server-side
binding cursor instead: its values travel apart from its text, so nothing is quoted in
Python, and once the connection has run the same text ``prepare_threshold`` times
(``DB_PREPARE_THRESHOLD``) psycopg prepares it, so PostgreSQL stops planning it on every
request (planning a chat read took 0.12-0.24 ms, running it 0.03-0.06 ms). Inside a
transaction the client-side binding cursor stays, for its BEGIN.
"""

import datetime
import threading
import time
import weakref
from functools import lru_cache
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg import adapt, adapters, sql
from psycopg.pq import Format, TransactionStatus
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


# psycopg connections inside a transaction of Django's (autocommit off), whose BEGIN our
# cursors send with the next statement when the server has none open.
_transactional: "weakref.WeakSet[psycopg.Connection[Any]]" = weakref.WeakSet()


def _begin_due(connection: "psycopg.Connection[Any]") -> bool:
    return (
        connection in _transactional
        and connection.pgconn.transaction_status == TransactionStatus.IDLE
    )


class _BeginsAloneMixin:
    """``executemany``, ``copy`` and ``stream`` send a due BEGIN on its own first, as psycopg
    would."""

    connection: "psycopg.Connection[Any]"

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        _begin_alone(self.connection)
        return super().executemany(*args, **kwargs)  # type: ignore[misc]

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        _begin_alone(self.connection)
        return super().copy(*args, **kwargs)  # type: ignore[misc]

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        _begin_alone(self.connection)
        return super().stream(*args, **kwargs)  # type: ignore[misc]


class Cursor(_BeginsAloneMixin, base.Cursor):
    """Django's cursor (client-side binding), sending a due BEGIN with the statement."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> "Cursor":
        connection = self.connection
        if not _begin_due(connection):
            return super().execute(query, params, **kwargs)
        begin = connection._get_tx_start_command() + b"; "
        if isinstance(query, bytes):
            query = begin + query
        elif isinstance(query, str):
            query = begin.decode() + query
        else:
            query = sql.SQL(begin.decode()) + query
        super().execute(query, params, **kwargs)
        self.nextset()  # stand on the statement's result, not BEGIN's
        return self


class ServerBindingCursor(_BeginsAloneMixin, base.ServerBindingCursor):
    """Django's server-side binding cursor, for statements outside a transaction: the values
    travel apart from the statement (nothing quoted in Python), and psycopg prepares a
    statement the connection has run a few times (``prepare_threshold``), so PostgreSQL
    plans it once instead of on every request. Used inside a transaction after all (a cursor
    kept open into one), it sends the due BEGIN on its own first."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> "ServerBindingCursor":
        _begin_alone(self.connection)
        return super().execute(query, params, **kwargs)


def _begin_alone(connection: "psycopg.Connection[Any]") -> None:
    if _begin_due(connection):
        with connection.lock:
            connection.wait(connection._exec_command(connection._get_tx_start_command()))


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self.timezone is datetime.UTC and self.timezone_name == "UTC" and "context" in params:
            params["context"] = _with_fast_timestamps(params["context"])
        if params.get("cursor_factory") is base.Cursor:
            params["cursor_factory"] = Cursor
        return params

    def _set_autocommit(self, autocommit: bool) -> None:
        if not issubclass(self.connection.cursor_factory, Cursor):  # server-side binding
            super()._set_autocommit(autocommit)
            return
        with self.wrap_database_errors:
            if not self.connection.autocommit:
                self.connection.autocommit = True
            if autocommit:
                _transactional.discard(self.connection)
            else:
                _transactional.add(self.connection)

    def create_cursor(self, name: str | None = None) -> Any:
        if (
            not name
            and self.connection not in _transactional
            and issubclass(self.connection.cursor_factory, Cursor)
        ):
            # Outside a transaction (most reads): bound by the server, prepared once repeated.
            # Inside one, the client-side binding Cursor, which sends BEGIN with its statement.
            return self._in_our_time_zone(ServerBindingCursor(self.connection))
        if name and self.connection in _transactional:
            _begin_alone(self.connection)
            # Django holds a named cursor past the transaction when psycopg is in autocommit;
            # inside one of Django's transactions it need not be.
            return self._in_our_time_zone(
                base.ServerSideCursor(self.connection, name=name, scrollable=False, withhold=False)
            )
        return super().create_cursor(name)

    def _in_our_time_zone(self, cursor: Any) -> Any:
        """Django's time-zone loader on a cursor made here, where the connection's differs
        (as Django's ``create_cursor`` does)."""
        loader = self.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        if self.timezone != loader.timezone:
            base.register_tzloader(self.timezone, cursor)
        return cursor

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not self.pool:
            return super().get_new_connection(conn_params)
        # Every connection in the pool may be broken (the server restarted): try each once.
        for _ in range(self.pool.max_size + 1):
            connection = super().get_new_connection(conn_params)
            _transactional.discard(connection)  # a new user: autocommit until told otherwise
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
        if self.connection is not None:
            _transactional.discard(self.connection)
            if self.pool:
                with _returned_lock:
                    _returned_at[self.connection] = time.monotonic()
        super()._close()
