from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import redis.asyncio

from realtime.pubsub import (
    InProcessPubSub,
    PubSub,
    RedisPubSub,
    SubscriberDropped,
    Subscription,
    pubsub_for,
)
from server.settings import Settings

PubSubFactory = Callable[..., PubSub]


@pytest.fixture(params=["in-process", "redis"])
def make_pubsub(request: pytest.FixtureRequest) -> PubSubFactory:
    if request.param == "in-process":
        return InProcessPubSub
    url: str = request.getfixturevalue("redis_url")
    return lambda **options: RedisPubSub(url, **options)


@asynccontextmanager
async def started(pubsub: PubSub) -> AsyncIterator[PubSub]:
    await pubsub.start()
    try:
        yield pubsub
    finally:
        await pubsub.aclose()


@pytest.fixture
async def pubsub(make_pubsub: PubSubFactory) -> AsyncIterator[PubSub]:
    async with started(make_pubsub()) as instance:
        yield instance


def topic() -> str:
    # Tests share one Redis (and may run beside other runs): each uses topics of its own.
    return f"test:{uuid.uuid4().hex}"


async def receive(subscription: Subscription, within: float = 2.0) -> dict[str, object]:
    async with asyncio.timeout(within):
        return await anext(subscription)


async def test_a_subscriber_receives_what_is_published(pubsub: PubSub) -> None:
    name = topic()
    async with pubsub.subscribe(name) as messages:
        await pubsub.publish(name, {"n": 1, "text": "héllo"})
        await pubsub.publish(name, b'{"n": 2}')
        assert await receive(messages) == {"n": 1, "text": "héllo"}
        assert await receive(messages) == {"n": 2}


async def test_every_subscriber_receives_each_message(pubsub: PubSub) -> None:
    name = topic()
    async with pubsub.subscribe(name) as first, pubsub.subscribe(name) as second:
        await pubsub.publish(name, {"n": 1})
        assert await receive(first) == await receive(second) == {"n": 1}


async def test_after_unsubscribing_nothing_more_is_received(pubsub: PubSub) -> None:
    name = topic()
    async with pubsub.subscribe(name) as witness:
        async with pubsub.subscribe(name) as messages:
            await pubsub.publish(name, {"n": 1})
            assert await receive(messages) == {"n": 1}
        await pubsub.publish(name, {"n": 2})
        # Once the witness has it, {"n": 2} has been fanned out in this process.
        assert [await receive(witness), await receive(witness)] == [{"n": 1}, {"n": 2}]
        async with pubsub.subscribe(name) as messages:
            await pubsub.publish(name, {"n": 3})
            assert await receive(messages) == {"n": 3}


async def test_topics_are_isolated(pubsub: PubSub) -> None:
    a, b = topic(), topic()
    async with pubsub.subscribe(a) as on_a, pubsub.subscribe(b) as on_b:
        await pubsub.publish(a, {"to": "a"})
        await pubsub.publish(b, {"to": "b"})
        assert await receive(on_b) == {"to": "b"}
        assert await receive(on_a) == {"to": "a"}


async def test_a_slow_subscriber_is_dropped_without_holding_up_the_others(
    make_pubsub: PubSubFactory,
) -> None:
    name = topic()
    async with (
        started(make_pubsub(queue_size=4)) as pubsub,
        pubsub.subscribe(name) as slow,
        pubsub.subscribe(name) as fast,
    ):

        async def read_all() -> list[object]:
            return [(await receive(fast))["n"] for _ in range(20)]

        reader = asyncio.create_task(read_all())
        async with asyncio.timeout(1):
            for n in range(20):
                await pubsub.publish(name, {"n": n})
                await asyncio.sleep(0)  # the fast reader keeps up, one message at a time
        assert await reader == list(range(20))
        with pytest.raises(SubscriberDropped):
            await receive(slow)


async def test_two_redis_pubsubs_reach_each_other(redis_url: str) -> None:
    name = topic()
    async with (
        started(RedisPubSub(redis_url)) as a,
        started(RedisPubSub(redis_url)) as b,
        a.subscribe(name) as on_a,
        b.subscribe(name) as on_b,
    ):
        await a.publish(name, {"from": "a"})
        await b.publish(name, {"from": "b"})
        assert [await receive(on_b), await receive(on_b)] == [{"from": "a"}, {"from": "b"}]
        assert [await receive(on_a), await receive(on_a)] == [{"from": "a"}, {"from": "b"}]


async def test_redis_pubsub_reconnects_after_losing_its_connection(redis_url: str) -> None:
    name, client_name = topic(), f"test-{uuid.uuid4().hex[:12]}"
    admin = redis.asyncio.Redis.from_url(redis_url)
    try:
        async with (
            started(RedisPubSub(redis_url, client_name=client_name, backoff=(0.05, 0.2))) as pubsub,
            pubsub.subscribe(name) as messages,
        ):
            await _kill_subscriber_connection(admin, client_name)
            # Messages published while it reconnects are lost: publish until one gets through.
            async with asyncio.timeout(5):
                while True:
                    await pubsub.publish(name, {"after": "reconnect"})
                    try:
                        assert await receive(messages, within=0.2) == {"after": "reconnect"}
                        break
                    except TimeoutError:
                        continue
    finally:
        await admin.aclose()


async def _kill_subscriber_connection(admin: redis.asyncio.Redis, client_name: str) -> None:
    clients = await admin.client_list(_type="pubsub")
    ids = [client["id"] for client in clients if client["name"] == client_name]
    assert len(ids) == 1
    assert await admin.client_kill_filter(_id=ids[0]) == 1


async def test_a_thousand_subscribers_are_cheap() -> None:
    pubsub, name = InProcessPubSub(), topic()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        async with AsyncExitStack() as stack:
            subscribers = [
                await stack.enter_async_context(pubsub.subscribe(name)) for _ in range(1000)
            ]
            per_subscriber = (tracemalloc.get_traced_memory()[0] - before) / 1000
            await pubsub.publish(name, {"n": 1})
            received = [await receive(subscriber) for subscriber in subscribers]
    finally:
        tracemalloc.stop()
    assert received == [{"n": 1}] * 1000
    assert per_subscriber < 1024, f"{per_subscriber:.0f} bytes per subscriber"


def test_the_settings_choose_the_implementation(tmp_path: object) -> None:
    def settings(**environ: str) -> Settings:
        return Settings.from_environ({"DATA_DIR": str(tmp_path), **environ}, env_file=None)

    assert isinstance(pubsub_for(settings().redis_url), InProcessPubSub)
    assert isinstance(
        pubsub_for(settings(REDIS_URL="redis://127.0.0.1:6379/0").redis_url), RedisPubSub
    )
