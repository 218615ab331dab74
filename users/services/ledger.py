"""The two records other apps write through: the audit log and the usage ledger."""

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from users.models import ApiKey, AuditLog, UsageRecord, User


def audit_record(
    *,
    actor: User,
    action: str,
    target_type: str,
    target_id: str,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Write one admin action to the audit log (in the caller's transaction, if any).

    Callers: role changes, deletions and updates of accounts, site-setting changes, and
    reading another user's chat (``AuditLog.Action.CHAT_READ``, by the chats app). ``detail``
    must never hold secrets (passwords, raw keys).
    """
    return AuditLog.objects.create(
        actor=actor,
        actor_email=actor.email,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        detail=detail or {},
    )


def usage_record(
    *,
    user: User,
    api_key: ApiKey | None,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    """Add one completion's tokens to today's (UTC) row for user, key and model.

    Race-safe without locks: an ``UPDATE ... SET n = n + x`` first; if no row exists, an
    INSERT in a savepoint; if a concurrent request inserted it first (unique constraint),
    the UPDATE again. Every completion is counted exactly once.
    """
    prompt_tokens, completion_tokens = max(0, int(prompt_tokens)), max(0, int(completion_tokens))
    day = timezone.now().date()
    match = {"user": user, "api_key": api_key, "model": model, "day": day}
    increments = {
        "requests": F("requests") + 1,
        "prompt_tokens": F("prompt_tokens") + prompt_tokens,
        "completion_tokens": F("completion_tokens") + completion_tokens,
    }
    if UsageRecord.objects.filter(**match).update(**increments):
        return
    try:
        with transaction.atomic():
            UsageRecord.objects.create(
                **match,
                requests=1,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
    except IntegrityError:
        UsageRecord.objects.filter(**match).update(**increments)
