"""Django's PostgreSQL backend, with timestamps read by psycopg's C loader.

Django registers a loader of its own for ``timestamptz`` (to give every value the
connection's time zone). It extends psycopg's pure-Python loader, so with the C
implementation installed (``psycopg[binary]``) every timestamp is still parsed by a regular
expression in Python: about half of the CPU a 60-chat list page spends reading its rows. When
Django's time zone for the connection is UTC (``USE_TZ``, no per-database ``TIME_ZONE``: our
settings), the session runs in UTC too (Django sets it on every new connection), and
psycopg's own loader gives the very same values, aware and in ``datetime.timezone.utc``, so
that one does the reading instead.
"""

import datetime
from functools import lru_cache
from typing import Any

from django.db.backends.postgresql import base
from psycopg import adapt, adapters
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader

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


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self.timezone is datetime.UTC and self.timezone_name == "UTC" and "context" in params:
            params["context"] = _with_fast_timestamps(params["context"])
        return params
