"""Running one processing job: claim it, extract the text, index it, record every state.

queued → extracting → embedding → indexed, or failed (error kept) or cancelled. A run holds
the job through a ``lease`` (a fresh UUID per run): every write of the run is conditional on
it, so a run whose job was cancelled, reaped or deleted finds its writes matching nothing and
stops. A heartbeat thread touches ``heartbeat_at`` while the run works; the reaper
(``processing_jobs_reap``) re-queues jobs whose heartbeat went stale (a dead worker) and fails
them after FILE_JOB_MAX_ATTEMPTS starts. Indexing replaces a file's chunks in one transaction
(retrieval's promise), so running a job twice, or killing it halfway, never duplicates chunks.

On the embedded default (eager Celery) jobs run on a small thread pool after the request's
transaction commits, so an upload or an add answers at once; with a broker they go to Celery.
"""

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import OperationalError, close_old_connections, connections, transaction
from django.db.models import Q
from django.utils import timezone

from knowledge.errors import ExtractionFailed
from knowledge.extraction import text_extract
from knowledge.models import File, ProcessingJob
from realtime.events import publish, user_room
from retrieval.embedders import model_key_current
from retrieval.errors import EmbeddingUnavailable, IndexingFailed
from retrieval.indexing import IndexingCancelled, Page, file_index
from webui_backend.celery import app as celery_app

logger = logging.getLogger(__name__)

State = ProcessingJob.State
RUNNING = (State.EXTRACTING, State.EMBEDDING)
PROGRESS_PUBLISH_INTERVAL = 0.5  # seconds between two progress events of one job
FILE_PROCESS_TASK = "knowledge.tasks.file_process_task"  # the Celery task that runs job_run


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors worth retrying later: the embedder is down, the database blinked."""
    return (EmbeddingUnavailable, OperationalError)


def pages_index(
    *,
    file: File,
    pages: Sequence[Page],
    progress: Callable[[int, int], None],
    cancelled: Callable[[], bool],
) -> int:
    """The one place that hands text to retrieval: chunk, embed and store the file's chunks.

    If an admin changes the embedding model while this runs, the chunks just made are of the
    old model (searches would leave the file out as pending, and the re-index the change
    queued found this job active): the file is indexed again, with the new one.
    """
    while True:
        model = model_key_current()
        count = file_index(
            file=file,
            pages=pages,
            progress=progress,
            cancelled=cancelled,
        )
        if model_key_current() == model:
            return count
        logger.info("the embedding model changed while file %s was indexed: again", file.pk)


# --- Events and state -----------------------------------------------------------------------


def job_event(job: ProcessingJob, *, user_id: object) -> None:
    """Publish the job's state to its owner's room (after the current transaction commits)."""
    publish(
        user_room(user_id),
        "file:status",
        {
            "file_id": str(job.file_id),
            "job_id": str(job.pk),
            "knowledge_id": str(job.knowledge_id) if job.knowledge_id else None,
            "state": str(job.state),
            "chunks_done": job.chunks_done,
            "chunks_total": job.chunks_total,
            "error": job.error,
        },
    )


def _file_status(job: ProcessingJob, state: str, error: str = "") -> None:
    File.objects.filter(pk=job.file_id).update(status=state, error=error, updated_at=timezone.now())
    knowledge_progress_after_commit(file_id=job.file_id, user_id=job.file.user_id)


# A file's status as the collection's progress counts it.
PROGRESS_BUCKETS = {
    State.QUEUED: "queued",
    State.EXTRACTING: "indexing",
    State.EMBEDDING: "indexing",
    State.INDEXED: "indexed",
    State.FAILED: "failed",
    State.CANCELLED: "cancelled",
}


def progress_of(statuses: Sequence[str]) -> dict[str, int]:
    """{total, queued, indexing, indexed, failed, cancelled} of files with these statuses (a
    file never processed counts in ``total`` only)."""
    counts = dict.fromkeys(("queued", "indexing", "indexed", "failed", "cancelled"), 0)
    for status in statuses:
        bucket = PROGRESS_BUCKETS.get(status)  # type: ignore[call-overload]
        if bucket is not None:
            counts[bucket] += 1
    return {"total": len(statuses), **counts}


def knowledge_progress_publish(*, file_ids: Sequence[object], user_id: object) -> None:
    """Send each collection holding one of the files its progress summary
    (``knowledge:progress``), counted now from committed rows (called after the commit).

    Counting and sending happen under one lock per process, so this process's events leave in
    the order they were counted: files done never go down from one event to the next, and the
    last event a collection gets tells its true state, whatever order concurrent jobs committed
    in. (Jobs on several worker processes each send snapshots; the latest counts win.)"""
    from knowledge.models import KnowledgeFile

    with _progress_lock:
        rows = KnowledgeFile.objects.filter(
            knowledge__in=KnowledgeFile.objects.filter(file_id__in=file_ids).values("knowledge_id")
        ).values_list("knowledge_id", "file__status")
        by_knowledge: dict[object, list[str]] = {}
        for knowledge_id, status in rows:
            by_knowledge.setdefault(knowledge_id, []).append(status)
        for knowledge_id, statuses in by_knowledge.items():
            publish(
                user_room(user_id),
                "knowledge:progress",
                {"knowledge_id": str(knowledge_id), **progress_of(statuses)},
            )


_progress_lock = threading.Lock()


_gathering = threading.local()


def knowledge_progress_after_commit(*, file_id: object, user_id: object) -> None:
    """Publish the progress of the file's collections once the transaction commits (inside
    ``progress_gathered()``: once for all the files it gathers)."""
    gathered = getattr(_gathering, "files", None)
    if gathered is not None:
        gathered.setdefault(user_id, set()).add(file_id)
        return
    _publish_after_commit([file_id], user_id)


def _publish_after_commit(file_ids: Sequence[object], user_id: object) -> None:
    def send() -> None:
        try:
            knowledge_progress_publish(file_ids=file_ids, user_id=user_id)
        except Exception:  # the state change it reports has happened; never undo it
            logger.exception("could not publish the progress of files %s", file_ids)

    transaction.on_commit(send)


@contextlib.contextmanager
def progress_gathered() -> Iterator[None]:
    """One progress event per collection for every file changed inside (a batch add)."""
    if getattr(_gathering, "files", None) is not None:
        yield
        return
    _gathering.files = {}
    try:
        yield
        gathered = _gathering.files
    finally:
        _gathering.files = None
    for user_id, file_ids in gathered.items():
        _publish_after_commit(sorted(file_ids, key=str), user_id)


def job_end(job: ProcessingJob, state: str, error: str = "", *, rows: Any = None) -> bool:
    """End ``job`` in ``state`` (failed or cancelled): its lease dropped (a run still holding
    it stops at its next write), the file's status and the owner's event following. With
    ``rows``, only if they still match (the job is as it was read); returns whether it ended."""
    now = timezone.now()
    values = {"state": state, "error": error, "lease": None, "finished_at": now, "updated_at": now}
    if rows is None:
        rows = ProcessingJob.objects.filter(pk=job.pk)
    if not rows.update(**values):
        return False
    for field, value in values.items():
        setattr(job, field, value)
    _file_status(job, state, error)
    job_event(job, user_id=job.file.user_id)
    return True


def gave_up(attempts: int) -> str:
    return (
        f"Processing stopped {attempts} times without finishing "
        "(the worker died or timed out); giving up."
    )


class _LeaseLost(Exception):
    """The job was cancelled, reaped or deleted while this run held it."""


class _Run:
    """One run of one job, holding its lease."""

    def __init__(self, job: ProcessingJob, lease: uuid.UUID) -> None:
        self.job = job
        self.lease = lease
        self.user_id = job.file.user_id
        self.last_publish = 0.0

    def _rows(self) -> Any:
        return ProcessingJob.objects.filter(pk=self.job.pk, lease=self.lease, state__in=RUNNING)

    def move(self, state: str, *, error: str = "", finished: bool = False, **fields: Any) -> None:
        """Change the job's state (and the file's status) if this run still holds it."""
        now = timezone.now()
        values = {"state": state, "error": error, "updated_at": now, "heartbeat_at": now, **fields}
        if finished:
            values.update(finished_at=now, lease=None)
        with transaction.atomic():
            if not self._rows().update(**values):
                raise _LeaseLost()
            _file_status(self.job, state, error)
            for name, value in values.items():
                setattr(self.job, name, value)
            job_event(self.job, user_id=self.user_id)

    def progress(self, done: int, total: int) -> None:
        """retrieval's progress callback: record it, publish it now and then; never raises."""
        now = timezone.now()
        self._rows().update(chunks_done=done, chunks_total=total, heartbeat_at=now, updated_at=now)
        self.job.chunks_done, self.job.chunks_total = done, total
        if time.monotonic() - self.last_publish >= PROGRESS_PUBLISH_INTERVAL or done >= total:
            self.last_publish = time.monotonic()
            job_event(self.job, user_id=self.user_id)

    def cancelled(self) -> bool:
        """retrieval's cancel poll: true once the job is no longer this run's to finish."""
        return not self._rows().exists()


class _Heartbeat(threading.Thread):
    """Touches the job's heartbeat every FILE_JOB_HEARTBEAT_SECONDS while a run works."""

    def __init__(self, job_id: uuid.UUID, lease: uuid.UUID) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id, self.lease = job_id, lease
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.wait(settings.FILE_JOB_HEARTBEAT_SECONDS):
                try:
                    ProcessingJob.objects.filter(pk=self.job_id, lease=self.lease).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:
                    logger.exception("heartbeat of job %s failed", self.job_id)
        finally:
            connections.close_all()  # this thread's own connections only

    def __enter__(self) -> "_Heartbeat":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.join()


# --- Claiming and running -------------------------------------------------------------------


def _claim(job_id: str, lease: uuid.UUID) -> ProcessingJob | None:
    """Take the job for this run, or None when there is nothing to do.

    Nothing to do: the job is gone or finished (a duplicate delivery), or another run holds it
    with a fresh heartbeat. A job started more than FILE_JOB_MAX_ATTEMPTS times fails here.
    """
    stale_before = timezone.now() - timedelta(seconds=settings.FILE_JOB_STALE_SECONDS)
    with transaction.atomic():
        job = (
            ProcessingJob.objects.select_for_update()
            .select_related("file")
            .filter(pk=job_id, state__in=ProcessingJob.ACTIVE)
            .first()
        )
        if job is None:
            return None
        if job.state in RUNNING and job.heartbeat_at and job.heartbeat_at > stale_before:
            return None
        now = timezone.now()
        job.attempts += 1
        if job.attempts > settings.FILE_JOB_MAX_ATTEMPTS:
            job.save(update_fields=["attempts"])
            job_end(job, State.FAILED, gave_up(job.attempts - 1))
            return None
        job.state, job.lease, job.error = State.EXTRACTING, lease, ""
        job.heartbeat_at = job.updated_at = now
        job.chunks_done = job.chunks_total = 0
        job.save()
        _file_status(job, job.state)
        job_event(job, user_id=job.file.user_id)
    return job


def job_run(job_id: str) -> None:
    """Run one processing job to its end. Safe to run twice and concurrently.

    Transient errors (embedder unavailable, database operational errors) put the job back in
    ``queued`` and are re-raised for the caller to retry with backoff; every other error ends
    the job ``failed`` with a sentence the user can read.
    """
    lease = uuid.uuid4()
    job = _claim(job_id, lease)
    if job is None:
        return
    run = _Run(job, lease)
    transient = transient_errors()
    try:
        with _Heartbeat(job.pk, lease):
            with default_storage.open(job.file.storage_name, "rb") as stored:
                data = stored.read()
            pages = text_extract(data=data, content_type=job.file.content_type)
            run.move(State.EMBEDDING)
            count = pages_index(
                file=job.file, pages=pages, progress=run.progress, cancelled=run.cancelled
            )
            run.move(State.INDEXED, finished=True, chunks_done=count, chunks_total=count)
    except (_LeaseLost, IndexingCancelled):
        logger.info("job %s stopped: cancelled, reaped or deleted", job_id)
    except (ExtractionFailed, IndexingFailed) as exc:
        _end_quietly(run, State.FAILED, str(exc.detail))  # type: ignore[attr-defined]
    except transient:
        _release(run)
        raise
    except FileNotFoundError:
        _end_quietly(run, State.FAILED, "The file's stored bytes are missing; upload it again.")
    except Exception:
        logger.exception("processing job %s failed", job_id)
        _end_quietly(run, State.FAILED, "Processing failed because of an internal error.")


def _end_quietly(run: _Run, state: str, error: str) -> None:
    with contextlib.suppress(_LeaseLost):
        run.move(state, error=error, finished=True)


def _release(run: _Run) -> None:
    """Hand the job back to the queue for a retry; the attempt does not count as a start."""
    from django.db.models import F

    waiting = "Waiting to retry: the embedding service or the database is unavailable."
    try:
        with transaction.atomic():
            now = timezone.now()
            if run._rows().update(
                state=State.QUEUED,
                lease=None,
                heartbeat_at=None,
                updated_at=now,
                attempts=F("attempts") - 1,
                error=waiting,
            ):
                run.job.state, run.job.error = State.QUEUED, waiting
                _file_status(run.job, State.QUEUED, waiting)
                job_event(run.job, user_id=run.user_id)
    except OperationalError:
        logger.exception("could not release job %s; the reaper will", run.job.pk)


def job_fail(job_id: str, error: str) -> None:
    """End a queued job as failed (its retries are used up)."""
    with transaction.atomic():
        job = ProcessingJob.objects.select_related("file").filter(pk=job_id).first()
        if job is None or job.state not in ProcessingJob.ACTIVE:
            return
        job_end(job, State.FAILED, error)


def retry_delay(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: 2, 4, 8, ... up to a minute."""
    return float(min(2 ** (retries + 1), 60))


# --- Dispatch -------------------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.FILE_PROCESSING_THREADS, thread_name_prefix="processing"
            )
            # Jobs this process's predecessor left behind have no thread to finish them.
            _pool.submit(_in_thread, processing_jobs_reap)
        return _pool


def processing_threads_drain() -> None:
    """Embedded default: wait for the jobs this process's threads have taken or been given.

    A command that queues jobs (manage.py import_openwebui) calls this before it exits, as the
    interpreter's shutdown would cut the threads off mid-job."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True)


def _in_thread(work: Callable[[], object]) -> None:
    close_old_connections()
    try:
        work()
    except Exception:
        logger.exception("background processing work failed")
    finally:
        connections.close_all()  # this thread's own connections only


def _run_with_retries(job_id: str) -> None:
    """The embedded default's equivalent of the Celery task's retry policy."""
    transient = transient_errors()
    for retries in range(settings.FILE_JOB_RETRIES + 1):
        try:
            job_run(job_id)
            return
        except transient as exc:
            if retries >= settings.FILE_JOB_RETRIES:
                job_fail(job_id, f"Gave up after {retries + 1} tries: {exc}")
                return
            time.sleep(retry_delay(retries))


def job_dispatch(job_id: str) -> None:
    """Start a queued job: a Celery task with a broker, a background thread when eager."""
    if celery_app.conf.task_always_eager:
        _thread_pool().submit(_in_thread, lambda: _run_with_retries(job_id))
        return
    # By name: tasks call this module, never the reverse (knowledge.tasks imports processing).
    celery_app.send_task(FILE_PROCESS_TASK, args=[job_id])


# --- The reaper -----------------------------------------------------------------------------


def processing_jobs_reap() -> dict[str, int]:
    """Re-queue jobs whose run died; fail those started FILE_JOB_MAX_ATTEMPTS times.

    A running job is dead when its heartbeat is older than FILE_JOB_STALE_SECONDS. A queued
    job whose message may be lost (a flushed broker, a restarted embedded server) is sent again
    after ten times that. Each change is a conditional update, so a run that comes back to
    life, or a second reaper, cannot undo it. Returns how many were re-queued and failed.
    """
    now = timezone.now()
    stale = timedelta(seconds=settings.FILE_JOB_STALE_SECONDS)
    candidates = ProcessingJob.objects.filter(
        Q(state__in=RUNNING, heartbeat_at__lt=now - stale)
        | Q(state__in=RUNNING, heartbeat_at__isnull=True, updated_at__lt=now - stale)
        | Q(state=State.QUEUED, updated_at__lt=now - 10 * stale)
    ).select_related("file")[:500]
    requeued = failed = 0
    for job in candidates:
        same = ProcessingJob.objects.filter(
            pk=job.pk, state=job.state, lease=job.lease, heartbeat_at=job.heartbeat_at
        )
        with transaction.atomic():
            if job.attempts >= settings.FILE_JOB_MAX_ATTEMPTS and job.state in RUNNING:
                failed += job_end(job, State.FAILED, gave_up(job.attempts), rows=same)
                continue
            if not same.update(state=State.QUEUED, lease=None, heartbeat_at=None, updated_at=now):
                continue
            job.state = State.QUEUED
            requeued += 1
            _file_status(job, job.state)
            job_id = str(job.pk)
            transaction.on_commit(lambda job_id=job_id: job_dispatch(job_id))
            job_event(job, user_id=job.file.user_id)
    if requeued or failed:
        logger.info("reaper: %d jobs re-queued, %d failed", requeued, failed)
    return {"requeued": requeued, "failed": failed}
