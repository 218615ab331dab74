"""Django's SQLite backend, with a process's write transactions queued on one lock.

SQLite lets one writer in at a time. Our transactions begin IMMEDIATE (settings), so a second
writer waits in SQLite's busy handler, which does not queue: it sleeps 1, 2, 5, 10 … 100 ms
between tries, so under 32 concurrent writes a waiting writer keeps missing the moment the
lock is free, and a few of them wait seconds (bench/vs_openwebui.py measured a create's p99
at 2.8 s against a p50 of 78 ms). Here a transaction first takes a lock of the process (a
``threading.Lock``: waiting threads are woken as it is released, no sleeping), then BEGIN
IMMEDIATE, and gives it back when the transaction commits or rolls back. Writers of other
processes (a second web process, a management command) still meet SQLite's busy handler, as
before; within one process nobody waits longer than the writers ahead of them.

Only transactions are queued (``transaction.atomic``: every service that writes more than one
row); a lone autocommit statement goes to SQLite as it would.
"""

import threading
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

WRITERS = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_writers = False

    def _start_transaction_under_autocommit(self) -> None:
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        if not WRITERS.acquire(timeout=timeout):
            raise OperationalError("database is locked")
        self._holds_writers = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._writers_release()
            raise

    def _writers_release(self) -> None:
        if self._holds_writers:
            self._holds_writers = False
            WRITERS.release()

    def _commit(self) -> Any:
        result = super()._commit()
        self._writers_release()  # a failed commit is rolled back next, which releases
        return result

    def _rollback(self) -> Any:
        try:
            return super()._rollback()
        finally:
            self._writers_release()

    def _close(self) -> Any:
        try:
            return super()._close()
        finally:
            self._writers_release()
