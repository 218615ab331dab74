"""A role change or deletion tells the account's socket room (the realtime app closes them)."""

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from realtime.events import room_group, user_room
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


async def _listen(group: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def _receive(channel: str) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(get_channel_layer().receive(channel), 5)
    except TimeoutError:
        return None


def test_role_change_and_deletion_reach_the_accounts_room(
    admin_user: User, owner: User, as_user: Any, eager_tasks: None
) -> None:
    channel = async_to_sync(_listen)(room_group(user_room(owner.pk)))
    api = as_user(admin_user)

    api.post(f"/api/users/{owner.pk}/role", {"role": "pending"}, format="json")
    updated = async_to_sync(_receive)(channel)
    api.delete(f"/api/users/{owner.pk}")
    deleted = async_to_sync(_receive)(channel)

    assert updated is not None
    assert updated["event"] == "account.updated"
    assert updated["data"] == {"user_id": str(owner.pk), "role": "pending"}
    assert deleted is not None
    assert deleted["event"] == "account.deleted"
    assert deleted["data"] == {"user_id": str(owner.pk)}
