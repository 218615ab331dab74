"""Celery tasks of document processing: thin wrappers around knowledge.processing."""

from celery import Task, shared_task
from django.conf import settings

from knowledge import processing


@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def file_process_task(self: Task, job_id: str) -> None:
    """Run one processing job. Takes the job's id and re-reads it; safe to run twice.

    ``acks_late``: a worker killed mid-job leaves the message unacknowledged, and the reaper
    re-queues the job once its heartbeat is stale; either way the job's lease makes a second
    run of a finished job a no-op. Only transient errors are retried, with backoff.
    """
    try:
        processing.job_run(job_id)
    except processing.transient_errors() as exc:
        retries = self.request.retries
        if retries >= settings.FILE_JOB_RETRIES:
            processing.job_fail(job_id, f"Gave up after {retries + 1} tries: {exc}")
            return
        raise self.retry(exc=exc, countdown=processing.retry_delay(retries)) from None


@shared_task(ignore_result=True)
def processing_jobs_reap_task() -> dict[str, int]:
    """Periodic (Celery beat): re-queue processing jobs whose worker died, fail repeat offenders."""
    return processing.processing_jobs_reap()
