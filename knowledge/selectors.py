"""Reads of files and knowledge collections, already scoped to what a user may see."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan
from django.utils import timezone

from knowledge.errors import FileNotFound, KnowledgeNotFound, KnowledgeReadOnly
from knowledge.models import File, Knowledge, KnowledgeFile, ProcessingJob
from users.models import User
from webui_backend.pagination import InvalidCursor, cursor_decode, cursor_encode


def knowledge_readable_by(user: User) -> QuerySet[Knowledge]:
    """Collections the user may read: their own, and those their owners made public."""
    return Knowledge.objects.filter(Q(user=user) | Q(public=True))


def knowledge_ids_readable(
    *, user: User, knowledge_ids: Sequence[object], lenient: bool = False
) -> list[uuid.UUID]:
    """The collections named by ``knowledge_ids`` that the user may read, each once, in order.

    Any other id (malformed, missing, not theirs) raises KnowledgeNotFound: the same answer
    for "not yours" and "no such thing"; ``lenient`` leaves it out instead."""
    wanted: list[uuid.UUID] = []
    for value in knowledge_ids:
        try:
            wanted.append(uuid.UUID(str(value)))
        except (ValueError, TypeError, AttributeError):
            if not lenient:
                raise KnowledgeNotFound() from None
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return []
    found = set(knowledge_readable_by(user).filter(pk__in=wanted).values_list("pk", flat=True))
    if len(found) != len(wanted) and not lenient:
        raise KnowledgeNotFound()
    return [pk for pk in wanted if pk in found]


def files_readable_by(user: User) -> QuerySet[File]:
    """Files the user may read: their own, and the files of collections they may read."""
    public_file_ids = File.objects.filter(knowledge__public=True).values("pk")
    return File.objects.filter(Q(user=user) | Q(pk__in=public_file_ids))


def file_get_for_user(*, file_id: object, user: User) -> File:
    """A file the user may read, or ``FileNotFound`` (missing, malformed id, or not theirs)."""
    return _get(files_readable_by(user), file_id, FileNotFound)


def file_get_owned(*, file_id: object, user: User) -> File:
    """A file of the user's own (for changes), or ``FileNotFound``."""
    return _get(File.objects.filter(user=user), file_id, FileNotFound)


def files_get_owned(*, file_ids: Sequence[object], user: User) -> list[File]:
    """The user's own files of these ids, in the order given (repeats once), or
    ``FileNotFound`` naming the first id that is malformed, missing or someone else's."""
    keys: list[uuid.UUID] = []
    for file_id in file_ids:
        try:
            keys.append(uuid.UUID(str(file_id)))
        except ValueError:
            raise FileNotFound(f"File not found: {str(file_id)[:100]}.") from None
    found = {file.pk: file for file in File.objects.filter(user=user, pk__in=keys)}
    for key in keys:
        if key not in found:
            raise FileNotFound(f"File not found: {key}.")
    return [found[key] for key in dict.fromkeys(keys)]


def file_list_for_user(*, user: User) -> QuerySet[File]:
    """The user's own files, newest first (the ``file_list_order`` index)."""
    return File.objects.filter(user=user).order_by("-created_at", "-id")


def file_latest_job(*, file: File) -> ProcessingJob | None:
    return file.jobs.order_by("-created_at").first()


def knowledge_get_for_user(*, knowledge_id: object, user: User) -> Knowledge:
    """A collection the user may read, or ``KnowledgeNotFound``."""
    return _get(knowledge_readable_by(user), knowledge_id, KnowledgeNotFound)


def knowledge_get_writable(*, knowledge_id: object, user: User) -> Knowledge:
    """A collection the user may change: ``KnowledgeNotFound`` when they cannot even read it,
    ``KnowledgeReadOnly`` (403) when it is someone else's public collection."""
    knowledge = knowledge_get_for_user(knowledge_id=knowledge_id, user=user)
    if knowledge.user_id != user.pk:
        raise KnowledgeReadOnly()
    return knowledge


def knowledge_list_for_user(*, user: User) -> QuerySet[Knowledge]:
    """Collections the user may read, most recently changed first, with their file ids
    prefetched (two queries however many collections)."""
    memberships = KnowledgeFile.objects.only("knowledge_id", "file_id").order_by("added_at", "id")
    return (
        knowledge_readable_by(user)
        .order_by("-updated_at", "-id")
        .prefetch_related(Prefetch("knowledgefile_set", queryset=memberships))
    )


def knowledge_files(*, knowledge: Knowledge) -> QuerySet[File]:
    """The collection's files, in the order they were added."""
    return File.objects.filter(knowledgefile__knowledge=knowledge).order_by(
        "knowledgefile__added_at", "knowledgefile__id"
    )


def _get(queryset: QuerySet, pk: object, error: type[Exception]) -> Any:
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise error() from None
    found = queryset.filter(pk=key).first()
    if found is None:
        raise error()
    return found


def file_cursor_encode(file: File) -> str:
    return cursor_encode([file.created_at.isoformat(), str(file.pk)])


def files_after_cursor(files: QuerySet[File], cursor: str) -> QuerySet[File]:
    """The files that come after ``cursor`` in the list order (keyset pagination)."""
    created_raw, file_id = cursor_decode(cursor, 2)
    try:
        created = datetime.fromisoformat(created_raw)
        if timezone.is_naive(created):
            raise ValueError
        file_uuid = uuid.UUID(file_id)
    except (ValueError, TypeError):
        raise InvalidCursor() from None
    # One row comparison seeks in the file_list_order index (see chats.selectors.after_cursor).
    return files.filter(TupleLessThan(Tuple(F("created_at"), F("id")), (created, file_uuid)))
