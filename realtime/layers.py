"""The Redis channel layer, sending to a group in fewer round trips.

channels_redis's ``group_send`` makes two round trips before it knows whether anyone is in
the group (drop the expired members, then read the rest), and two more per Redis host to
deliver (drop each channel's expired messages, then a script that queues the message where
there is room). Every chat write publishes an event, usually to a group nobody is listening
to at that moment, so those round trips are a good part of a write's cost on Redis.

Here the first two go in one script, and a group with no members costs nothing more; the
delivery is one script per host that drops the expired messages and queues the new one, with
the same capacity rule and expiry as channels_redis's.

A request thread publishing an event (realtime/events.py) used to reach the async
``group_send`` through ``async_to_sync``: a hop to the event loop and back, and redis-py's
asyncio client, for what is usually one round trip to an empty group. ``group_send_blocking``
sends the same two scripts on a blocking client from the calling thread. (A py-spy profile
put ~9 % of an append's active samples on PostgreSQL + Redis in the old path; the saving
measured by bench/ab.py was ~2.5 % of the server's CPU per append, inside the noise.)

Everything else is channels_redis's, including the helpers used here (``_group_key``,
``_map_channel_keys_to_connection``: 4.3's); tests/realtime/test_layer.py checks delivery,
capacity and expiry against real Redis, on both paths.
"""

import logging
import threading
import time
from typing import Any

import redis
from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer

logger = logging.getLogger(__name__)

# KEYS: the group's key. ARGV: the time before which memberships have expired. Drops those and
# returns the members left.
_MEMBERS_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, tonumber(ARGV[1]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

# KEYS: the channels' message keys. ARGV: each key's message, then each key's capacity, then
# the time now and the expiry (seconds). Returns how many channels were over capacity.
_DELIVER_LUA = """
local n = #KEYS
local now = tonumber(ARGV[2 * n + 1])
local expiry = tonumber(ARGV[2 * n + 2])
local over_capacity = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, math.floor(now) - expiry)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], ARGV[2 * n + 1], ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


class RedisChannelLayer(BaseRedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._blocking_lock = threading.Lock()
        self._blocking_clients: dict[int, redis.Redis] = {}

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.require_valid_group_name(group)  # raises TypeError for a bad name
        connection = self.connection(self.consistent_hash(group))
        members = await connection.eval(_MEMBERS_LUA, 1, *self._members_args(group))
        if not members:
            return
        by_connection, messages, capacities = self._deliveries(members, message)
        for index, channel_keys in by_connection.items():
            args = self._deliver_args(channel_keys, messages, capacities)
            over = await self.connection(index).eval(_DELIVER_LUA, len(channel_keys), *args)
            self._log_over_capacity(over, len(members), group)

    def group_send_blocking(self, group: str, message: dict[str, Any]) -> None:
        """``group_send`` for a caller in a thread with no event loop (a request's thread): the
        same scripts, on a blocking client of the same Redis."""
        self.require_valid_group_name(group)
        client = self._blocking_client(self.consistent_hash(group))
        members = client.eval(_MEMBERS_LUA, 1, *self._members_args(group))
        if not members:
            return
        by_connection, messages, capacities = self._deliveries(members, message)
        for index, channel_keys in by_connection.items():
            args = self._deliver_args(channel_keys, messages, capacities)
            over = self._blocking_client(index).eval(_DELIVER_LUA, len(channel_keys), *args)
            self._log_over_capacity(over, len(members), group)

    def can_send_blocking(self) -> bool:
        """Blocking clients are made of plain hosts (``REDIS_URL``); sentinels stay async."""
        return not any("sentinels" in host for host in self.hosts)

    def _members_args(self, group: str) -> list[Any]:
        return [self._group_key(group), int(time.time()) - self.group_expiry]

    def _deliveries(
        self, members: list[bytes], message: dict[str, Any]
    ) -> tuple[dict[int, list[str]], dict[str, bytes], dict[str, int]]:
        channel_names = [member.decode("utf8") for member in members]
        return self._map_channel_keys_to_connection(channel_names, message)

    def _deliver_args(
        self, channel_keys: list[str], messages: dict[str, bytes], capacities: dict[str, int]
    ) -> list[Any]:
        return [
            *channel_keys,
            *(messages[key] for key in channel_keys),
            *(capacities[key] for key in channel_keys),
            time.time(),
            self.expiry,
        ]

    def _blocking_client(self, index: int) -> redis.Redis:
        client = self._blocking_clients.get(index)
        if client is None:
            with self._blocking_lock:
                client = self._blocking_clients.get(index)
                if client is None:
                    host = dict(self.hosts[index])
                    address = host.pop("address", None)
                    client = (
                        redis.Redis.from_url(address, **host) if address else redis.Redis(**host)
                    )
                    self._blocking_clients[index] = client
        return client

    @staticmethod
    def _log_over_capacity(over: int, members: int, group: str) -> None:
        if over > 0:
            logger.info("%s of %s channels over capacity in group %s", over, members, group)
