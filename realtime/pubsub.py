"""Publish/subscribe for live events: in-process by default, across processes through Redis.

Delivery is at most once. Every subscriber has its own bounded queue, filled without waiting:
a subscriber whose queue is full is dropped at once, so a slow consumer never holds up the
publisher or the other subscribers. A dropped subscriber's iterator raises `SubscriberDropped`
on its next read (even if messages are still queued), because it has missed one and must resync.

Payloads are JSON objects, encoded with orjson. Both implementations hand subscribers the decoded
object, decoded once per message and shared by all subscribers of a process: treat it as read-only.

    async with pubsub.subscribe(topic) as messages:
        async for message in messages:
            ...
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, suppress
from typing import Any, Protocol

import orjson
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.asyncio.client import PubSub as RedisSubscription
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Message = dict[str, Any]
DEFAULT_QUEUE_SIZE = 100
SUBSCRIBERS = Gauge(
    "switchboard_pubsub_subscribers",
    "Open subscribers: one per GraphQL subscription, and one per process that pre-fetches.",
    multiprocess_mode="livesum",
)
DROPPED = Counter(
    "switchboard_pubsub_dropped_subscribers_total",
    "Subscribers dropped for falling a full queue behind.",
)


class SubscriberDropped(Exception):
    """The subscriber fell `queue_size` messages behind and was unsubscribed."""


class PubSub(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def publish(self, topic: str, payload: bytes | Mapping[str, Any]) -> None:
        """Send `payload` (a JSON object, or its encoding) to the topic's current subscribers."""

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        """Receive the topic's messages published from now until the block exits."""


def encode(payload: bytes | Mapping[str, Any]) -> bytes:
    return payload if isinstance(payload, bytes) else orjson.dumps(payload)


def decode(data: bytes) -> Message:
    message = orjson.loads(data)
    if not isinstance(message, dict):
        raise ValueError(f"a pub/sub payload must be a JSON object, got {type(message).__name__}")
    return message


class Subscription:
    """One subscriber: its bounded backlog, an async context manager and an async iterator.

    Kept small (a few hundred bytes) since a server holds one per open GraphQL subscription.
    """

    __slots__ = ("_backlog", "_dropped", "_fanout", "_topic", "_waiter")

    def __init__(self, fanout: Fanout, topic: str) -> None:
        self._fanout, self._topic = fanout, topic
        self._backlog: list[Message] = []
        self._waiter: asyncio.Future[Message] | None = None
        self._dropped = False

    async def __aenter__(self) -> Subscription:
        self._fanout.add(self._topic, self)
        SUBSCRIBERS.inc()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._fanout.remove(self._topic, self)
        SUBSCRIBERS.dec()

    def offer(self, message: Message, limit: int) -> bool:
        """Pass `message` on without waiting; False if `limit` were queued and it was dropped."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(message)
        elif len(self._backlog) < limit:
            self._backlog.append(message)
        else:
            self._dropped = True
            return False
        self._waiter = None
        return True

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        if self._dropped:
            raise SubscriberDropped("the subscriber fell behind and was dropped")
        if self._backlog:
            return self._backlog.pop(0)  # a short list: cheaper to hold than a deque
        self._waiter = asyncio.get_running_loop().create_future()
        return await self._waiter


class Fanout:
    """A process's subscribers by topic, and the delivery of one message to all of them."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._topics: dict[str, set[Subscription]] = {}

    def subscribe(self, topic: str) -> Subscription:
        return Subscription(self, topic)

    def add(self, topic: str, subscription: Subscription) -> None:
        self._topics.setdefault(topic, set()).add(subscription)

    def remove(self, topic: str, subscription: Subscription) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self._topics[topic]

    def deliver(self, topic: str, message: Message) -> None:
        subscribers = self._topics.get(topic, ())
        dropped = [s for s in subscribers if not s.offer(message, self._queue_size)]
        for subscription in dropped:
            DROPPED.inc()
            log.warning("dropped a slow subscriber of %s", topic)
            self.remove(topic, subscription)


class InProcessPubSub:
    """Subscribers in this process only: the embedded, single-process default."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._fanout = Fanout(queue_size)

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def publish(self, topic: str, payload: bytes | Mapping[str, Any]) -> None:
        # Round-tripped through JSON so subscribers see what they would see through Redis.
        self._fanout.deliver(topic, decode(encode(payload)))

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        return self._fanout.subscribe(topic)


class RedisPubSub:
    """Subscribers in every process sharing one Redis.

    Each process holds a single subscribe-mode connection, on a pattern covering every topic, so
    subscribing is local bookkeeping with no round trip and no window for missed messages; the
    price is that every process receives every event, and drops those it has no subscriber for.
    If Redis goes away the connection is re-established with exponential backoff; subscribers
    stay subscribed but miss whatever was published meanwhile (Redis pub/sub keeps nothing).
    """

    CHANNEL_PREFIX = "switchboard:"

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        backoff: tuple[float, float] = (0.1, 10.0),
        client_name: str = "switchboard",
    ) -> None:
        self._url = url
        self._client_name = client_name
        self._fanout = Fanout(queue_size)
        self._backoff_min, self._backoff_max = backoff
        self._redis: Redis | None = None
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and subscribe; raises if Redis cannot be reached now."""
        self._redis = Redis.from_url(
            self._url,
            client_name=self._client_name,
            socket_keepalive=True,
            health_check_interval=10,
        )
        subscription = await self._subscribe(self._redis)
        self._listener = asyncio.create_task(self._listen(subscription), name="redis-pubsub")

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def publish(self, topic: str, payload: bytes | Mapping[str, Any]) -> None:
        await self._started().publish(self.CHANNEL_PREFIX + topic, encode(payload))

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        return self._fanout.subscribe(topic)

    def _started(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisPubSub.start() was not called")
        return self._redis

    async def _subscribe(self, redis: Redis) -> RedisSubscription:
        # The subscription takes a connection of its own from the client's pool.
        subscription = redis.pubsub()
        try:
            await subscription.psubscribe(self.CHANNEL_PREFIX + "*")
            # Waiting for the confirmation means nothing published after start() is missed.
            while await subscription.get_message(timeout=5.0) is None:
                pass
        except BaseException:
            await _close(subscription)
            raise
        return subscription

    async def _listen(self, subscription: RedisSubscription) -> None:
        while True:
            try:
                await self._pump(subscription)
            except (RedisError, OSError) as error:
                log.warning("lost the Redis pub/sub connection (%s); reconnecting", error)
            except Exception:
                # Whatever went wrong, giving up would leave every subscriber silent for good.
                log.exception("the Redis pub/sub listener failed; reconnecting")
            finally:
                await _close(subscription)
            subscription = await self._reconnect()

    async def _pump(self, subscription: RedisSubscription) -> None:
        while True:
            # A timeout, not a blocking read, so that health-check pings keep being sent.
            message = await subscription.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None and message["type"] == "pmessage":
                self._deliver(message["channel"], message["data"])

    def _deliver(self, channel: bytes, data: bytes) -> None:
        topic = channel.decode()[len(self.CHANNEL_PREFIX) :]
        try:
            self._fanout.deliver(topic, decode(data))
        except ValueError as error:
            log.warning("ignored a malformed message on %s: %s", topic, error)

    async def _reconnect(self) -> RedisSubscription:
        delay = self._backoff_min
        while True:
            await asyncio.sleep(delay)
            try:
                return await self._subscribe(self._started())
            except (RedisError, OSError) as error:
                log.warning("Redis pub/sub still unreachable (%s)", error)
                delay = min(delay * 2, self._backoff_max)


async def _close(subscription: RedisSubscription) -> None:
    await subscription.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def pubsub_for(redis_url: str | None) -> PubSub:
    """Redis when a URL is given (`REDIS_URL`), otherwise in-process; call `start()` before use."""
    if redis_url is not None:
        return RedisPubSub(redis_url)
    return InProcessPubSub()
