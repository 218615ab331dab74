"""Counts for the admin dashboard, each contributed by the app that owns the rows.

The dashboard (``GET /api/admin/stats``) does not import every app's models; each app
registers what it counts in its ``AppConfig.ready()``::

    from webui_backend.dashboard import register_count
    register_count("chats", lambda: Chat.objects.count())

A count function returns an int, or a dict of ints (``users`` gives one per role). One that
raises is reported as ``null`` and logged, so one broken app does not hide the others.
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

CountFn = Callable[[], int | dict[str, int]]

_counts: dict[str, CountFn] = {}


def register_count(name: str, count: CountFn) -> None:
    """Register (or replace, by ``name``) one figure of the dashboard's counts."""
    _counts[name] = count


def counts_collect() -> dict[str, int | dict[str, int] | None]:
    """Every registered figure, by name, in registration order."""
    result: dict[str, int | dict[str, int] | None] = {}
    for name, count in _counts.items():
        try:
            result[name] = count()
        except Exception:
            logger.exception("dashboard count %s failed", name)
            result[name] = None
    return result
