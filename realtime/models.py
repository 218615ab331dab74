from django.db import models
from django.utils import timezone


class RoomCounter(models.Model):
    """The last sequence number handed out in a replayable room."""

    room = models.CharField(max_length=255, primary_key=True)
    last_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.room} @ {self.last_seq}"


class RoomEvent(models.Model):
    """An event published to a chat room, kept so a reconnecting client can catch up."""

    room = models.CharField(max_length=255)
    seq = models.PositiveBigIntegerField()
    event = models.CharField(max_length=100)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="room_event_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.room}#{self.seq} {self.event}"
