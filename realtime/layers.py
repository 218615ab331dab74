"""The Redis channel layer, sending to a group in fewer round trips.

channels_redis's ``group_send`` makes two round trips before it knows whether anyone is in
the group (drop the expired members, then read the rest), and two more per Redis host to
deliver (drop each channel's expired messages, then a script that queues the message where
there is room). Every chat write publishes an event, usually to a group nobody is listening
to at that moment, so those round trips are a good part of a write's cost on Redis.

Here the first two go in one pipeline, and a group with no members costs nothing more; the
delivery is one script per host that drops the expired messages and queues the new one, with
the same capacity rule and expiry as channels_redis's. Everything else is channels_redis's,
including the helpers used here (``_group_key``, ``_map_channel_keys_to_connection``: 4.3's);
tests/realtime/test_layer.py checks delivery, capacity and expiry against real Redis.
"""

import logging
import time
from typing import Any

from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer

logger = logging.getLogger(__name__)

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
    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.require_valid_group_name(group)  # raises TypeError for a bad name
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        pipe = connection.pipeline(transaction=False)
        pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
        pipe.zrange(key, 0, -1)
        _, members = await pipe.execute()
        if not members:
            return
        channel_names = [member.decode("utf8") for member in members]
        by_connection, messages, capacities = self._map_channel_keys_to_connection(
            channel_names, message
        )
        for index, channel_keys in by_connection.items():
            args = [messages[k] for k in channel_keys] + [capacities[k] for k in channel_keys]
            over = await self.connection(index).eval(
                _DELIVER_LUA, len(channel_keys), *channel_keys, *args, time.time(), self.expiry
            )
            if over > 0:
                logger.info(
                    "%s of %s channels over capacity in group %s", over, len(channel_names), group
                )
