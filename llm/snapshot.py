"""The enabled connections and the custom model ids, as every completion reads them.

Both change rarely (an admin's or a model owner's action) but are read before every
completion's first token: two ORM queries, about 1.5 ms on SQLite. Each process keeps a
snapshot of them stamped with a generation kept in the shared cache, and reads the database
again only when the generation has moved (one cache read per completion), or after
``MAX_AGE`` seconds whatever it says.

Saving or deleting a Connection or a CustomModel, by any path (the services, the Django
admin), moves the generation at once and again when the transaction commits (signals wired in
``llm.apps``): the next completion in any process sees the change. A snapshot read from the
database just before a commit is stamped with the generation it was read under, so it is
stale from the commit on. An unreachable cache means no snapshot: the database answers.

API keys of the connections stay in the process; nothing of them goes to the cache.
"""

import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction

from llm.models import CustomModel
from llm.upstream import Upstream, upstreams_all

logger = logging.getLogger(__name__)

GENERATION_KEY = "llm:config:generation"
MAX_AGE = 60.0  # bounds how long a change made behind the models' back (a raw UPDATE) lasts


@dataclass(frozen=True)
class Snapshot:
    generation: str
    taken: float
    upstreams: list[Upstream]
    custom_model_ids: frozenset[str]


_snapshot: Snapshot | None = None


def _generation() -> str | None:
    """The current generation (made if there is none yet); None if the cache is down."""
    try:
        generation = cache.get(GENERATION_KEY)
        if generation is None:
            cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
            generation = cache.get(GENERATION_KEY)
        return generation
    except Exception as exc:
        logger.warning("llm config: cache unreachable (%s); reading the database", exc)
        return None


def config_snapshot() -> Snapshot:
    """The connections and custom model ids in force (a database read only when changed)."""
    global _snapshot
    generation = _generation()
    current = _snapshot
    if (
        current is not None
        and generation is not None
        and current.generation == generation
        and time.monotonic() - current.taken < MAX_AGE
    ):
        return current
    fresh = Snapshot(
        generation=generation or "",
        taken=time.monotonic(),
        upstreams=upstreams_all(),
        custom_model_ids=frozenset(CustomModel.objects.values_list("model_id", flat=True)),
    )
    if generation is not None:
        _snapshot = fresh
    return fresh


def config_changed(**_: Any) -> None:
    """Make every process read the connections and custom models again (signal receiver)."""

    def bump() -> None:
        with contextlib.suppress(Exception):
            cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)

    bump()
    transaction.on_commit(bump)
