"""Reads of files and knowledge collections, already scoped to what a user may see."""

from django.db.models import Q, QuerySet

from knowledge.models import File, Knowledge
from users.models import User


def knowledge_readable_by(user: User) -> QuerySet[Knowledge]:
    """Collections the user may read: their own, and those their owners made public."""
    return Knowledge.objects.filter(Q(user=user) | Q(public=True))


def knowledge_writable_by(user: User) -> QuerySet[Knowledge]:
    """Collections the user may change: their own only (admins included)."""
    return Knowledge.objects.filter(user=user)


def files_readable_by(user: User) -> QuerySet[File]:
    """Files the user may read: their own, and the files of collections they may read."""
    public_file_ids = File.objects.filter(knowledge__public=True).values("pk")
    return File.objects.filter(Q(user=user) | Q(pk__in=public_file_ids))
