"""Background work on accounts."""

from celery import shared_task
from django.db import OperationalError


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, acks_late=True)
def user_delete_task(user_id: str) -> None:
    """Delete a disabled account and everything it owns. Safe to run twice."""
    from users.services import user_data_purge  # services import this module

    user_data_purge(user_id=user_id)
