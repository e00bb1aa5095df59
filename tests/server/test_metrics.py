"""`/metrics` from the outside: a served app over the sandbox, scraped before and after an inbox
read, a webhook and a subscription, each family found with its labels and the counts they
changed by. Counters are process-wide, so every check is a difference between two scrapes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.version import SWITCHBOARD_VERSION
from realtime.pubsub import InProcessPubSub, SubscriberDropped
from server.app import create_app
from server.webhooks import register_webhooks
from tests.graphql_ws import LEGACY_WS, TRANSPORT_WS, connect, receive_json, start, subscribe
from tests.inbox.conftest import SANDBOX_KEY, WEBHOOK_SECRET, inbox_settings, issue_demo_tokens
from tests.inbox.test_conversations import hold_automatic_storage
from unipile import UnipileClient
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

METRICS_TOKEN = "metrics-test-token-0123456789abcdef"
GMAIL = "acc_gmail_demo_000001"
WHATSAPP = "acc_whatsapp_demo_0001"
INBOX = "query Inbox { conversations(first: 10) { edges { node { id externalId isGroup } } } }"
MESSAGES = "subscription Live { messageReceived { message { id } } }"

Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]


@dataclass(frozen=True)
class Served:
    url: str
    sandbox: str
    tokens: dict[str, str]

    async def scrape(self) -> Samples:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        samples: Samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples

    async def query(self, query: str, operation: str | None = None, user: str = "alice") -> dict:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "operationName": operation},
                headers={"Authorization": f"Bearer {self.tokens[user]}"},
            )
        assert response.status_code == 200, response.text
        result: dict = response.json()
        return result


@pytest.fixture
async def served(database: str, tmp_path: Path) -> AsyncIterator[Served]:
    tokens = await issue_demo_tokens()
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as sandbox:
        extra = {"METRICS_TOKEN": METRICS_TOKEN, "LIVE_CACHE_SECONDS": "60"}
        with running_app(create_app(inbox_settings(database, tmp_path, sandbox, extra))) as url:
            yield Served(url, sandbox, tokens)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(
        v for (n, sample_labels), v in samples.items() if n == name and wanted <= sample_labels
    )


async def until(served: Served, check: Callable[[Samples], bool], seconds: float = 10) -> Samples:
    for _ in range(int(seconds * 10)):
        samples = await served.scrape()
        if check(samples):
            return samples
        await asyncio.sleep(0.1)
    raise AssertionError("the metrics never showed it")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": METRICS_TOKEN}],
)
async def test_metrics_need_the_token(served: Served, headers: Mapping[str, str]) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        response = await client.get("/metrics", headers=dict(headers))
    assert response.status_code == 401
    assert "switchboard_" not in response.text


async def test_build_info_names_the_version(served: Served) -> None:
    samples = await served.scrape()
    build = [labels for (name, labels), v in samples.items() if name == "switchboard_build_info"]
    assert any(("version", SWITCHBOARD_VERSION) in labels for labels in build)


async def test_an_inbox_read_is_counted_with_its_upstream_calls_queries_and_cache(
    served: Served,
) -> None:
    # A page that queues conversations for storage is not kept: hold the queue.
    await hold_automatic_storage()
    before = await served.scrape()
    for _ in range(2):
        result = await served.query(INBOX, "Inbox")
        assert result["data"]["conversations"]["edges"]
    after = await served.scrape()

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("switchboard_graphql_operations_total", operation="Inbox", outcome="ok") == 2
    assert grew("switchboard_graphql_operation_duration_seconds_count", operation="Inbox") == 2
    # A page costs at most three queries, cold (README); both pages together at most six.
    queries = grew("switchboard_graphql_operation_db_queries_sum", operation="Inbox")
    assert 1 <= queries <= 6
    assert grew("switchboard_db_queries_total", operation="Inbox") == queries
    # Each of alice's accounts' lists read once, by its path template and UniPile id.
    for account, endpoint in ((GMAIL, "/emails"), ("acc_linkedin_demo_0001", "/chats")):
        counted = grew(
            "switchboard_unipile_requests_total",
            endpoint=endpoint,
            method="GET",
            status="200",
            account=account,
        )
        assert counted >= 1, (account, endpoint)
    assert grew("switchboard_unipile_request_duration_seconds_count", endpoint="/emails") >= 1
    # The second read came from the live cache.
    assert grew("switchboard_live_cache_events_total", event="miss") >= 1
    assert grew("switchboard_live_cache_events_total", event="hit") >= 1
    # The second read was made of cached reads alone: kept, and given again at the third.
    assert grew("switchboard_kept_answers_total", event="kept") == 1
    again = await served.query(INBOX, "Inbox")
    assert again["data"] == result["data"]
    given_again = total(await served.scrape(), "switchboard_kept_answers_total", event="hit")
    assert given_again - total(after, "switchboard_kept_answers_total", event="hit") == 1
    # No sample names a raw id in its endpoint.
    endpoints = {
        dict(labels)["endpoint"]
        for (name, labels) in after
        if name == "switchboard_unipile_requests_total"
    }
    assert all(endpoint.startswith("/") and "acc_" not in endpoint for endpoint in endpoints)


async def test_operation_names_are_bounded_and_outcomes_are_codes(served: Served) -> None:
    long_name = "q" + "x" * 80
    before = await served.scrape()
    await served.query(f"query {long_name} {{ version }}", long_name)
    await served.query("{ version ")
    async with httpx.AsyncClient(base_url=served.url) as client:
        refused = await client.post(
            "/graphql", json={"query": "query Who { viewer { user { email } } }"}
        )
    assert refused.status_code == 200
    after = await served.scrape()

    def grew(**labels: str) -> float:
        name = "switchboard_graphql_operations_total"
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew(operation="other", outcome="ok") == 1
    assert grew(operation="anonymous", outcome="GRAPHQL_PARSE_FAILED") == 1
    assert grew(operation="anonymous", outcome="UNAUTHENTICATED") == 1
    assert not any(long_name in str(labels) for (_, labels) in after)


async def test_a_webhook_is_counted_received_and_processed_and_ends_cached_pages(
    served: Served,
) -> None:
    async with httpx.AsyncClient() as http:
        client = UnipileClient(http, served.sandbox, SANDBOX_KEY)
        await register_webhooks(client, url=served.url, secret=WEBHOOK_SECRET)
    result = await served.query(INBOX, "Inbox", user="bob")
    chat = next(
        edge["node"]["externalId"]
        for edge in result["data"]["conversations"]["edges"]
        if not edge["node"]["isGroup"]
    )
    before = await served.scrape()
    async with httpx.AsyncClient(base_url=served.sandbox) as sandbox:
        posted = await sandbox.post(
            "/_sandbox/messages", json={"account_id": WHATSAPP, "chat_id": chat, "text": "Hi"}
        )
    assert posted.status_code == 201

    def processed(samples: Samples) -> float:
        name = "switchboard_webhook_processing_total"
        labels = {"event": "message_received", "outcome": "processed"}
        return total(samples, name, **labels) - total(before, name, **labels)

    after = await until(served, lambda samples: processed(samples) == 1)
    received = "switchboard_webhook_receipts_total"
    recorded = {"event": "message_received", "result": "recorded"}
    assert total(after, received, **recorded) - total(before, received, **recorded) == 1
    lag = "switchboard_webhook_processing_lag_seconds_count"
    assert (
        total(after, lag, event="message_received") - total(before, lag, event="message_received")
        == 1
    )
    invalidations = {"event": "invalidation"}
    cache = "switchboard_live_cache_events_total"
    assert total(after, cache, **invalidations) > total(before, cache, **invalidations)
    assert value(after, "switchboard_webhook_receipts_pending") == 0
    assert ("switchboard_store_jobs_pending", frozenset()) in after
    assert value(after, "switchboard_store_jobs_oldest_age_seconds") >= 0


async def test_open_subscriptions_are_counted_while_open(served: Served) -> None:
    gauge = "switchboard_pubsub_subscribers"
    before = value(await served.scrape(), gauge)
    async with subscribe(served.url, served.tokens["bob"], MESSAGES):
        during = await until(served, lambda samples: value(samples, gauge) == before + 1)
        assert value(during, gauge) == before + 1
    await until(served, lambda samples: value(samples, gauge) == before)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websocket_operations_are_counted_once_by_outcome(
    served: Served, protocol: str
) -> None:
    operations = "switchboard_graphql_operations_total"
    before = await served.scrape()
    async with connect(served.url, served.tokens["bob"], protocol) as socket:
        await start(socket, protocol, "1", "query Version { version }", None, "Version")
        assert (await receive_json(socket))["payload"]["data"]["version"]
        assert (await receive_json(socket)) == {"id": "1", "type": "complete"}
        await start(socket, protocol, "2", "subscription Typo { nope }", None, "Typo")
        assert (await receive_json(socket))["type"] == "error"
        # A subscription that never delivers counts as `ok` once it ends, here with the socket.
        await start(socket, protocol, "3", MESSAGES, None, "Live")
        await asyncio.sleep(0.2)
    live_before = total(before, operations, operation="Live")
    after = await until(
        served, lambda samples: total(samples, operations, operation="Live") > live_before
    )

    def grew(**labels: str) -> float:
        return total(after, operations, **labels) - total(before, operations, **labels)

    assert grew(operation="Version", outcome="ok") == 1
    assert grew(operation="Typo", outcome="GRAPHQL_VALIDATION_FAILED") == 1
    assert grew(operation="Live", outcome="ok") == 1


def test_workers_values_add_up_with_a_multiprocess_folder(tmp_path: Path) -> None:
    """Two processes count into `PROMETHEUS_MULTIPROC_DIR`; a third answers for both."""
    environ = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = (
        "from server.observability import metrics; "
        "metrics.GRAPHQL_OPERATIONS.labels('Inbox', 'ok').inc()"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=environ, check=True)
    scrape = (
        "from prometheus_client import generate_latest; "
        "from server.observability import metrics; "
        "print(generate_latest(metrics.registry()).decode())"
    )
    text = subprocess.run(
        [sys.executable, "-c", scrape], env=environ, check=True, capture_output=True, text=True
    ).stdout
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    labels = frozenset({("operation", "Inbox"), ("outcome", "ok")})
    assert samples[("switchboard_graphql_operations_total", labels)] == 2


async def test_failing_upstream_calls_are_counted_with_their_retries(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.sandbox) as sandbox:
        await sandbox.post("/_sandbox/faults", json={"error_rate": 1.0})
    before = await served.scrape()
    result = await served.query(INBOX, "Inbox", user="bob")
    after = await served.scrape()
    codes = {error["extensions"]["code"] for error in result["errors"]}
    assert codes == {"UPSTREAM_UNAVAILABLE"}

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("switchboard_graphql_operations_total", outcome="UPSTREAM_UNAVAILABLE") == 1
    failed = grew("switchboard_unipile_requests_total", status="503", account=WHATSAPP)
    retries = grew("switchboard_unipile_retries_total", endpoint="/chats", account=WHATSAPP)
    assert retries >= 1
    # Every attempt but the first of each call was a retry.
    assert failed == retries + 1


async def test_a_dropped_slow_subscriber_is_counted(served: Served) -> None:
    """A subscriber of this process (the served app's registry is the process's) that reads
    nothing while more than its queue holds arrives."""
    dropped = "switchboard_pubsub_dropped_subscribers_total"
    subscribers = "switchboard_pubsub_subscribers"
    before = await served.scrape()
    pubsub = InProcessPubSub(queue_size=2)
    async with pubsub.subscribe("metrics-test") as subscription:
        for number in range(3):
            await pubsub.publish("metrics-test", {"n": number})
        during = await served.scrape()
        with pytest.raises(SubscriberDropped):
            await anext(subscription)
    after = await served.scrape()
    assert value(during, dropped) - value(before, dropped) == 1
    assert value(during, subscribers) - value(before, subscribers) == 1
    assert value(after, subscribers) == value(before, subscribers)
