"""What other apps must do when an account is deleted, beyond the database's cascades.

Rows that point at the user (chats, shares, files, knowledge, keys, usage, pgvector rows)
go with it through ``on_delete=CASCADE``. Data outside the database does not: stored file
blobs, vectors in an in-process index. An app that keeps such data registers a cleanup in
its ``AppConfig.ready()``::

    from webui_backend.user_data import register_user_data_cleanup
    register_user_data_cleanup("knowledge.files", files_purge_for_user)  # fn(user_id: str)

``users.tasks.user_delete_task`` runs every cleanup, then deletes the row. A cleanup must be
idempotent (the task may run twice) and must not delete the user itself.
"""

from collections.abc import Callable

UserDataCleanup = Callable[[str], None]

_cleanups: dict[str, UserDataCleanup] = {}


def register_user_data_cleanup(name: str, cleanup: UserDataCleanup) -> None:
    """Register (or replace, by ``name``) a cleanup run before an account is deleted."""
    _cleanups[name] = cleanup


def user_data_cleanups() -> dict[str, UserDataCleanup]:
    return dict(_cleanups)
