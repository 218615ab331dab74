from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task
def publish_task(room: str, event: str, data: dict[str, Any]) -> None:
    """Publish from a worker (or later): the same ``events.publish``, run by Celery."""
    from realtime.events import publish

    publish(room, event, data)


@shared_task
def room_events_prune_task() -> int:
    """Forget chat events older than REALTIME_REPLAY_TTL; returns how many. Safe to run twice."""
    from realtime.models import RoomEvent

    cutoff = timezone.now() - timedelta(seconds=settings.REALTIME_REPLAY_TTL)
    deleted, _ = RoomEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
