"""Work run in racing threads, each with database connections of its own."""

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same instant; return what each
    returned (None where it raised). Every thread gives its connections back before it ends:
    a thread that ends holding a pooled PostgreSQL connection keeps it out of the pool for the
    rest of the run, and enough of them starve the tests after it."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
