"""Background work on accounts. Tasks call services; services name tasks by their Celery name
(``USER_DELETE_TASK``), never import this module."""

from celery import shared_task
from django.db import OperationalError

from users.services import USER_DELETE_TASK, user_data_purge


@shared_task(
    name=USER_DELETE_TASK,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def user_delete_task(user_id: str) -> None:
    """Delete a disabled account and everything it owns. Safe to run twice."""
    user_data_purge(user_id=user_id)
