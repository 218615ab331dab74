"""Every write to files, knowledge collections and processing jobs."""

import logging
import uuid
from collections.abc import Iterable, Sequence

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from knowledge.errors import EmptyFile, NoActiveJob
from knowledge.extraction import SNIFF_BYTES, content_type_detect, filename_sanitize
from knowledge.models import File, Knowledge, KnowledgeFile, ProcessingJob
from knowledge.processing import (
    job_dispatch,
    job_end,
    job_event,
    knowledge_progress_after_commit,
    progress_gathered,
)
from knowledge.selectors import file_latest_job
from users.models import User

logger = logging.getLogger(__name__)


def _storage_name(file_id: uuid.UUID) -> str:
    # Server-chosen, fanned out over 256 folders; the client's filename never appears in it.
    return f"files/{file_id.hex[:2]}/{file_id.hex}"


def file_upload(
    *, user: User, uploaded: UploadedFile, raw_name: str, sha256: str
) -> tuple[File, bool]:
    """Store an uploaded file for ``user``; returns (file, created).

    The same bytes uploaded again by the same user give back the existing file (also when two
    uploads race: the loser's insert fails on the (user, sha256) constraint and its stored
    bytes are removed). Raises ``EmptyFile`` (400) and ``UnsupportedFileType`` (415).
    """
    if not uploaded.size:
        raise EmptyFile()
    filename = filename_sanitize(raw_name)
    uploaded.seek(0)
    head = uploaded.read(SNIFF_BYTES)
    uploaded.seek(0)
    source = (
        uploaded.temporary_file_path() if hasattr(uploaded, "temporary_file_path") else uploaded
    )
    content_type = content_type_detect(filename=filename, head=head, source=source)
    uploaded.seek(0)
    existing = File.objects.filter(user=user, sha256=sha256).first()
    if existing is not None:
        return existing, False
    file_id = uuid.uuid4()
    stored_name = default_storage.save(_storage_name(file_id), uploaded)
    try:
        with transaction.atomic():
            file = File.objects.create(
                id=file_id,
                user=user,
                filename=filename,
                content_type=content_type,
                size=uploaded.size,
                sha256=sha256,
                storage_name=stored_name,
                # The name as sent, for the record (JSON in PostgreSQL cannot hold NUL).
                meta={"name": raw_name.replace("\x00", "")[:1000]} if raw_name != filename else {},
            )
    except IntegrityError:
        default_storage.delete(stored_name)
        existing = File.objects.filter(user=user, sha256=sha256).first()
        if existing is None:
            raise
        return existing, False
    return file, True


def file_delete(*, file: File) -> None:
    """Delete a file: its row (memberships and jobs cascade), its chunks and its stored bytes."""
    files_delete(files=[file])


def files_delete(*, files: Sequence[File]) -> None:
    """``file_delete`` for many files at once: a fixed number of queries, however many.

    A job still running on one loses its lease and stops. The bytes go after the commit, so a
    rolled-back delete never leaves a row without bytes.
    """
    from retrieval.indexing import file_chunks_delete

    names, ids = [f.storage_name for f in files], [f.pk for f in files]
    if not ids:
        return

    def delete_bytes() -> None:
        for name in names:
            default_storage.delete(name)

    with transaction.atomic():
        File.objects.filter(pk__in=ids).delete()
        file_chunks_delete(file_ids=ids)
        transaction.on_commit(delete_bytes)


def file_bytes_unclaimed_delete(*, storage_names: Sequence[str]) -> None:
    """Delete stored bytes that no file row names: an upload whose row was rolled back with
    an outer transaction (an ``Idempotency-Key`` race, a failure after the save)."""
    claimed = set(
        File.objects.filter(storage_name__in=storage_names).values_list("storage_name", flat=True)
    )
    for name in storage_names:
        if name not in claimed:
            default_storage.delete(name)


def files_purge_for_user(user_id: str) -> None:
    """User-deletion cleanup: remove the stored bytes and chunks of every file of the user.

    The rows go with the user (cascade). Idempotent: missing bytes are no error.
    """
    from retrieval.indexing import file_chunks_delete

    files = list(File.objects.filter(user_id=user_id).values_list("pk", "storage_name"))
    for _, name in files:
        default_storage.delete(name)
    file_chunks_delete(file_ids=[pk for pk, _ in files])


# --- Processing jobs ------------------------------------------------------------------------


def processing_job_queue(
    *, file: File, knowledge: Knowledge | None = None, force: bool = True
) -> ProcessingJob:
    """Queue a processing job for ``file`` and start it after the commit.

    A file has at most one active job: while one is queued or running it is returned instead
    of a second. Without ``force``, a file already indexed is left as it is (its chunks serve
    every collection it is in) and its latest job is returned.
    """
    with transaction.atomic():
        File.objects.select_for_update().filter(pk=file.pk).exists()  # one queuer at a time
        latest = file_latest_job(file=file)
        if latest is not None and latest.state in ProcessingJob.ACTIVE:
            return latest
        if not force and latest is not None and latest.state == ProcessingJob.State.INDEXED:
            return latest
        job = ProcessingJob.objects.create(file=file, knowledge=knowledge)
        File.objects.filter(pk=file.pk).update(
            status=job.state, error="", updated_at=timezone.now()
        )
        file.status, file.error = job.state, ""
        job_event(job, user_id=file.user_id)
        knowledge_progress_after_commit(file_id=file.pk, user_id=file.user_id)
        job_id = str(job.pk)
        transaction.on_commit(lambda: job_dispatch(job_id))
    return job


def processing_job_cancel(*, file: File) -> ProcessingJob:
    """Cancel the file's active job. Its run sees it between batches and stops; the file's
    earlier chunks (if any) stay as they were. Raises ``NoActiveJob`` (409) when none runs."""
    with transaction.atomic():
        job = (
            file.jobs.select_for_update()
            .filter(state__in=ProcessingJob.ACTIVE)
            .order_by("-created_at")
            .first()
        )
        if job is None:
            raise NoActiveJob()
        job.file = file
        job_end(job, ProcessingJob.State.CANCELLED)
    return job


def files_reprocess_all() -> int:
    """Queue a processing job for every file that has chunks or is in a collection (after an
    admin changes the embedding model). Files with an active job keep it. Returns the count."""
    from retrieval.models import Chunk

    ids = set(Chunk.objects.values_list("file_id", flat=True).distinct())
    ids |= set(KnowledgeFile.objects.values_list("file_id", flat=True).distinct())
    count = 0
    for file in File.objects.filter(pk__in=ids).iterator():
        processing_job_queue(file=file)
        count += 1
    return count


# --- Knowledge collections ------------------------------------------------------------------


def knowledge_create(
    *,
    user: User,
    name: str,
    description: str = "",
    public: bool = False,
    knowledge_id: uuid.UUID | None = None,
) -> Knowledge:
    """A new collection; ``knowledge_id`` keeps the id it had on another server (an import)."""
    return Knowledge.objects.create(
        id=knowledge_id or uuid.uuid4(),
        user=user,
        name=name,
        description=description,
        public=public,
    )


def knowledge_update(
    *,
    knowledge: Knowledge,
    name: str | None = None,
    description: str | None = None,
    public: bool | None = None,
) -> Knowledge:
    """Change the given fields of a collection (the owner's call; the view checks)."""
    fields = ["updated_at"]
    for field, value in (("name", name), ("description", description), ("public", public)):
        if value is not None:
            setattr(knowledge, field, value)
            fields.append(field)
    knowledge.updated_at = timezone.now()
    knowledge.save(update_fields=fields)
    return knowledge


def knowledge_delete(*, knowledge: Knowledge, delete_files: bool = False) -> None:
    """Delete a collection. Its files stay (their chunks simply leave its search scope,
    which is its memberships) unless ``delete_files``: then its files go too, from every
    collection, with their chunks and bytes."""
    with transaction.atomic():
        files = list(knowledge.files.all()) if delete_files else []
        knowledge.delete()
        files_delete(files=files)


def knowledge_file_add(*, knowledge: Knowledge, file: File) -> bool:
    """Add ``file`` to the collection and make sure it gets indexed. Idempotent: adding it
    again changes nothing. A file already indexed (or being indexed) is not processed again.
    Returns whether the membership is new."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                KnowledgeFile.objects.create(knowledge=knowledge, file=file)
            created = True
        except IntegrityError:
            created = False
        if created:
            knowledge.updated_at = timezone.now()  # the answer shows the collection as it is
            Knowledge.objects.filter(pk=knowledge.pk).update(updated_at=knowledge.updated_at)
            knowledge_progress_after_commit(file_id=file.pk, user_id=file.user_id)
        processing_job_queue(file=file, knowledge=knowledge, force=False)
    return created


def knowledge_files_add(*, knowledge: Knowledge, files: Sequence[File]) -> int:
    """``knowledge_file_add`` for many files in one transaction (all or none), with one
    progress event for the collection. Files already in it are left as they are; files not yet
    indexed get a job each (they start after the commit, and each ends on its own: one that
    fails does not hold up the others). Returns how many memberships are new."""
    with transaction.atomic(), progress_gathered():
        return sum(knowledge_file_add(knowledge=knowledge, file=file) for file in files)


def file_process(*, file: File, knowledge: Knowledge | None = None) -> ProcessingJob:
    """Queue a fresh processing job for ``file`` (the active one if there is one), after
    adding it to ``knowledge`` if given. One transaction: the job starts after the commit."""
    with transaction.atomic():
        if knowledge is not None:
            knowledge_file_add(knowledge=knowledge, file=file)
        return processing_job_queue(file=file, knowledge=knowledge)


def knowledge_file_remove(*, knowledge: Knowledge, file: File) -> bool:
    """Take ``file`` out of the collection (the file and its chunks stay). Returns whether it
    was in it."""
    with transaction.atomic():
        removed, _ = KnowledgeFile.objects.filter(knowledge=knowledge, file=file).delete()
        if removed:
            knowledge.updated_at = timezone.now()  # the answer shows the collection as it is
            Knowledge.objects.filter(pk=knowledge.pk).update(updated_at=knowledge.updated_at)
    return bool(removed)


def knowledge_reindex(*, knowledge: Knowledge) -> list[ProcessingJob]:
    """Queue a fresh processing job for every file of the collection (active ones are kept)."""
    files: Iterable[File] = knowledge.files.all()
    with transaction.atomic(), progress_gathered():
        return [processing_job_queue(file=file, knowledge=knowledge) for file in files]
