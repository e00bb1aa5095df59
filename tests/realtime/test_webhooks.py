from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping

import httpx
import pytest

from core.vocabulary import ReceiptState
from db.models import WebhookReceipt
from server.webhooks import AUTH_HEADER, WEBHOOK_PATH
from tests.realtime.conftest import SECRET, HandledLog, eventually, running_receiver

MESSAGE = {
    "event": "message_received",
    "account_id": "acc",
    "chat_id": "c1",
    "message_id": "m1",
    "message": "Bonjour !",
    "webhook_name": "switchboard-messaging",
}
AUTH = {AUTH_HEADER: SECRET}


async def post(
    url: str, body: object, headers: Mapping[str, str] | Mapping[bytes, bytes] = AUTH
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.post(WEBHOOK_PATH, json=body, headers=headers)


async def processed(count: int) -> None:
    async def all_processed() -> bool:
        return await WebhookReceipt.filter(state=ReceiptState.PROCESSED).count() == count

    await eventually(all_processed)


@pytest.fixture
def log() -> HandledLog:
    return HandledLog()


async def test_a_call_without_the_secret_is_refused_and_changes_nothing(
    sqlite_database: str, log: HandledLog
) -> None:
    with running_receiver(sqlite_database, log) as url:
        assert (await post(url, MESSAGE, headers={})).status_code == 401
        assert (await post(url, MESSAGE, headers={AUTH_HEADER: SECRET + "x"})).status_code == 401
        non_ascii = {AUTH_HEADER.encode(): "é".encode()}
        assert (await post(url, MESSAGE, headers=non_ascii)).status_code == 401
    assert await WebhookReceipt.all().count() == 0


async def test_a_malformed_body_gets_400(sqlite_database: str, log: HandledLog) -> None:
    with running_receiver(sqlite_database, log) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            too_deep = b'{"event": ' + b"[" * 5000 + b"]" * 5000 + b"}"
            for body in (b"{not json", b"[1, 2]", b'"text"', b"", too_deep):
                response = await client.post(WEBHOOK_PATH, content=body, headers=AUTH)
                assert response.status_code == 400, body
    assert await WebhookReceipt.all().count() == 0


async def test_an_unknown_event_is_acknowledged_and_ignored(
    sqlite_database: str, log: HandledLog
) -> None:
    with running_receiver(sqlite_database, log) as url:
        for body in ({"event": "new_relation", "account_id": "acc"}, {"what": "ever"}):
            response = await post(url, body)
            assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    assert await WebhookReceipt.all().count() == 0


async def test_a_message_is_recorded_and_processed(sqlite_database: str, log: HandledLog) -> None:
    with running_receiver(sqlite_database, log) as url:
        response = await post(url, MESSAGE)
        assert (response.status_code, response.json()) == (200, {"status": "recorded"})
        await processed(1)
    receipt = await WebhookReceipt.get()
    assert (receipt.event, receipt.event_key) == ("message_received", "message_received:m1")
    assert receipt.payload == MESSAGE
    assert log.ids == [receipt.id]


async def test_sequential_duplicates_are_recorded_and_processed_once(
    database: str, log: HandledLog
) -> None:
    with running_receiver(database, log) as url:
        statuses = [(await post(url, MESSAGE)).json()["status"] for _ in range(3)]
        await processed(1)
    assert statuses == ["recorded", "duplicate", "duplicate"]
    assert len(log.ids) == 1


async def test_concurrent_duplicates_are_recorded_and_processed_once(
    database: str, log: HandledLog
) -> None:
    with running_receiver(database, log) as url:
        responses = await asyncio.gather(*(post(url, MESSAGE) for _ in range(10)))
        await processed(1)
    assert {response.status_code for response in responses} == {200}
    assert Counter(response.json()["status"] for response in responses) == {
        "recorded": 1,
        "duplicate": 9,
    }
    assert len(log.ids) == 1


async def test_two_processes_record_and_process_each_event_once(database: str) -> None:
    log_a, log_b = HandledLog(), HandledLog()
    messages = [{**MESSAGE, "message_id": f"m{n}"} for n in range(20)]
    with (
        running_receiver(database, log_a) as a,
        running_receiver(database, log_b, secondary=True) as b,
    ):
        # Every event is delivered twice, once to each process, all at the same time.
        await asyncio.gather(*(post(url, body) for body in messages for url in (a, b)))
        await processed(20)
    assert await WebhookReceipt.all().count() == 20
    assert sorted(Counter(log_a.ids + log_b.ids).values()) == [1] * 20


async def test_the_receipt_is_recorded_when_its_ack_returns(
    sqlite_database: str, log: HandledLog
) -> None:
    with running_receiver(sqlite_database, log) as url:
        for n in range(5):
            body = {**MESSAGE, "message_id": f"m{n}"}
            response = await post(url, body)
            assert response.json() == {"status": "recorded"}
            assert await WebhookReceipt.filter(event_key=f"message_received:m{n}").exists()
            assert (await post(url, body)).json() == {"status": "duplicate"}
        await processed(5)
    assert len(log.ids) == 5
