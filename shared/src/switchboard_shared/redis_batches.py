"""Taking and acking a batch of a kombu Redis queue's messages in one round trip each.

kombu reads a message with `basic_get` in three round trips: an RPOP per priority level until
one answers, then a transaction recording it as unacked (the hash that its visibility timeout
restores from, and the index sorted by time), and a third transaction to ack it. For the batch
consumer (ADR 0022) that was most of the gateway's cost per event.

`RedisBatchQueue.take` runs one script that pops up to `limit` messages, in kombu's priority
order, and writes each one's unacked entry exactly as kombu's `QoS.append` does, in the same
atomic step: unlike RPOP followed by a separate write, no crash can fall between the two.
`ack` removes a whole batch's entries in one transaction. kombu's own in-memory QoS records
are kept as `basic_get` and `Message.ack` keep them, so its prefetch count and its restore of
unacked messages work unchanged. A message the script cannot read is pushed back, and the
caller falls back to kombu's `basic_get` for it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kombu.message import Message
from kombu.serialization import prepare_accept_content
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

# KEYS: unacked hash, unacked index, then the queue's lists in kombu's priority order.
# ARGV: how many to take, the time to index them at.
TAKE = """
local unacked, index = KEYS[1], KEYS[2]
local limit, now = tonumber(ARGV[1]), ARGV[2]
local taken = {}
for i = 3, #KEYS do
  while #taken < limit do
    local raw = redis.call('RPOP', KEYS[i])
    if not raw then break end
    local ok, message = pcall(cjson.decode, raw)
    local properties = ok and type(message) == 'table' and message['properties']
    local delivery = type(properties) == 'table' and properties['delivery_info']
    local tag = type(properties) == 'table' and properties['delivery_tag']
    if type(delivery) ~= 'table' or type(tag) ~= 'string' then
      redis.call('RPUSH', KEYS[i], raw)
      return taken
    end
    redis.call('ZADD', index, now, tag)
    redis.call('HSET', unacked, tag, '[' .. raw .. ',' .. cjson.encode(delivery['exchange'])
      .. ',' .. cjson.encode(delivery['routing_key']) .. ']')
    taken[#taken + 1] = raw
  end
end
return taken
"""


class RedisBatchQueue:
    def __init__(self, channel: Any, queue: str, accept: Sequence[str]) -> None:
        self.channel = channel
        self.client = channel._create_client()
        self.accept = prepare_accept_content(list(accept))
        lists = [channel._q_for_pri(queue, pri) for pri in channel.priority_steps]
        self.keys = [channel.unacked_key, channel.unacked_index_key, *lists]
        self._take = self.client.register_script(TAKE)

    @staticmethod
    def supports(channel: Any, queue: str) -> bool:
        """kombu's Redis channel, with no key prefix and no queue expiry (which `_get` keeps
        refreshing): what the script reproduces."""
        return (
            isinstance(channel, kombu_redis.Channel)
            and not channel.global_keyprefix
            and queue not in (channel._expires or {})
        )

    def take(self, limit: int) -> list[Message]:
        """Up to `limit` messages, oldest first, each recorded as unacked."""
        if limit <= 0:
            return []
        raws = self._take(keys=self.keys, args=[limit, time.time()])
        messages = []
        for raw in raws:
            message = self.channel.Message(loads(bytes_to_str(raw)), channel=self.channel)
            message.accept = self.accept
            # What `basic_get` records in memory; the script wrote what it records in Redis.
            virtual.QoS.append(self.channel.qos, message, message.delivery_tag)
            messages.append(message)
        return messages

    def ack(self, messages: Sequence[Message]) -> None:
        """Ack them all: one transaction removes their unacked entries."""
        if not messages:
            return
        tags = [message.delivery_tag for message in messages]
        with self.client.pipeline() as pipe:
            pipe.zrem(self.channel.unacked_index_key, *tags)
            pipe.hdel(self.channel.unacked_key, *tags)
            pipe.execute()
        for message in messages:  # what `Message.ack` does after the Redis QoS's removal
            virtual.QoS.ack(self.channel.qos, message.delivery_tag)
            message._state = "ACK"
