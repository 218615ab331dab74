from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """The answer given to a request that carried an ``Idempotency-Key`` header.

    Stored in the same transaction as the write it answers, so a key exists exactly when its
    write happened; a retry with the same key gets the stored answer.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    scope = models.CharField(
        max_length=255, help_text="The route (and object) the key was used on."
    )
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the request body.")
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "scope", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
