"""A slow, idempotent job for the worker-shutdown tests. Only the workers these tests start
load it (``celery worker -I tests.deploy.tasks``)."""

import time

from celery import shared_task
from django.core.cache import cache


@shared_task(acks_late=True)
def slow_job_task(token: str, seconds: float) -> None:
    """Count a start, take ``seconds``, count a finish (counters in the shared cache)."""
    cache.add(f"job:{token}:starts", 0, timeout=600)
    cache.incr(f"job:{token}:starts")
    time.sleep(seconds)
    cache.add(f"job:{token}:finishes", 0, timeout=600)
    cache.incr(f"job:{token}:finishes")
