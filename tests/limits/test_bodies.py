"""Request bodies over their limit: 413 `REQUEST_TOO_LARGE`, the rest never read."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from db.models import WebhookReceipt
from server.app import LimitBodySize
from server.webhooks import AUTH_HEADER, WEBHOOK_PATH
from tests.inbox.conftest import WEBHOOK_SECRET
from tests.limits.conftest import GMAIL, Served

MIB = 1024 * 1024
BODY_LIMIT = MIB  # MAX_BODY_BYTES's default
WEBHOOK_LIMIT = 5 * MIB  # MAX_WEBHOOK_BYTES's default
CHUNK = 64 * 1024


class Chunks:
    """A request body sent in chunks, without `Content-Length`; counts what was taken of it."""

    def __init__(self, total: int, first: bytes = b"") -> None:
        self.total = total
        self.first = first
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.first:
            self.taken += len(self.first)
            yield self.first
        while self.taken < self.total:
            self.taken += CHUNK
            yield b" " * CHUNK


def refused(response: httpx.Response, maximum: int) -> None:
    assert response.status_code == 413, response.text
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "REQUEST_TOO_LARGE", "maximum": maximum}


async def read_body(request: Request) -> JSONResponse:
    return JSONResponse({"read": len(await request.body())})


def limited(limit: int) -> httpx.AsyncClient:
    """An app reading whole bodies, behind the limit as the server's app is."""
    app = Starlette(
        routes=[Route("/{path}", read_body, methods=["POST"])],
        middleware=[Middleware(LimitBodySize, limit=limit, path_limits={"/big": 4 * limit})],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


async def test_the_app_stops_reading_a_chunked_body_at_the_limit() -> None:
    body = Chunks(30 * MIB)
    async with limited(BODY_LIMIT) as client:
        response = await client.post("/graphql", content=body)
    refused(response, BODY_LIMIT)
    # Read up to the chunk that went past the limit, and not one more.
    assert body.taken <= BODY_LIMIT + CHUNK


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    async def body() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    async with limited(BODY_LIMIT) as client:
        response = await client.post(
            "/graphql", content=body(), headers={"Content-Length": str(30 * MIB)}
        )
    refused(response, BODY_LIMIT)


async def test_bodies_up_to_the_limit_and_other_paths_limits() -> None:
    async with limited(BODY_LIMIT) as client:
        at_limit = await client.post("/graphql", content=b"x" * BODY_LIMIT)
        assert at_limit.json() == {"read": BODY_LIMIT}
        chunked = await client.post("/graphql", content=Chunks(BODY_LIMIT))
        assert chunked.json() == {"read": BODY_LIMIT}
        refused(await client.post("/graphql", content=Chunks(BODY_LIMIT + 1)), BODY_LIMIT)
        bigger = await client.post("/big", content=Chunks(3 * BODY_LIMIT))
        assert bigger.json() == {"read": 3 * BODY_LIMIT}
        refused(await client.post("/big", content=Chunks(5 * BODY_LIMIT)), 4 * BODY_LIMIT)


async def test_an_unauthenticated_30_mb_graphql_body_is_refused(served: Served) -> None:
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        with_length = await client.post("/graphql", content=b" " * (30 * MIB), headers=headers)
        refused(with_length, BODY_LIMIT)
        body = Chunks(30 * MIB, first=b'{"query": "{ __typename }"')
        # The server runs in this process: what it allocates is traced here too.
        tracemalloc.start()
        try:
            chunked = await client.post("/graphql", content=body, headers=headers)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        refused(chunked, BODY_LIMIT)
    # The whole body was sent (the server discards what comes after its answer), but at no time
    # was much more than the limit of it held: reading it all would hold 30 MiB, twice over.
    assert body.taken >= 30 * MIB
    assert peak < 4 * MIB, peak
    # The server is still there for the next request.
    assert (await served.query("{ __typename }", user=None))["data"] == {"__typename": "Query"}


async def test_a_graphql_body_just_under_the_limit_is_served(served: Served) -> None:
    query = "{ viewer { user { email } } }"
    padding = " " * (BODY_LIMIT - 100)
    body = orjson.dumps({"query": query + padding})
    assert len(body) < BODY_LIMIT
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        response = await client.post(
            "/graphql",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {served.tokens['alice']}",
            },
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["user"]["email"].startswith("alice@")


def large_email(size: int) -> dict[str, Any]:
    """A `mail_received` webhook as UniPile sends it for a long HTML email with attachments:
    the body in full, the attachments as metadata."""
    attachments = [
        {
            "id": f"att_{n:04d}",
            "name": f"scan-{n:04d}.pdf",
            "extension": "pdf",
            "size": 2_400_000,
            "mime": "application/pdf",
            "cid": None,
        }
        for n in range(40)
    ]
    email: dict[str, Any] = {
        "event": "mail_received",
        "webhook_name": "switchboard-email",
        "email_id": "em_large_0001",
        "account_id": GMAIL,
        "message_id": "<large-0001@mail.example.com>",
        "thread_id": "th_large_0001",
        "date": "2026-11-19T10:00:00.000Z",
        "subject": "Quarterly report",
        "from_attendee": {"identifier": "someone@example.com", "display_name": "Someone"},
        "to_attendees": [{"identifier": "alice@northwind.fr", "display_name": "Alice"}],
        "attachments": attachments,
        "body": "",
        "body_plain": "",
    }
    filler = size - len(orjson.dumps(email))
    email["body"] = "<p>" + "x" * (filler * 2 // 3) + "</p>"
    email["body_plain"] = "x" * (filler // 3)
    return email


@pytest.mark.parametrize("size", [1 * MIB, 2 * MIB])
async def test_a_webhook_of_realistic_size_is_recorded(served: Served, size: int) -> None:
    body = orjson.dumps(large_email(size))
    assert size <= len(body) < size + 100
    assert len(body) > BODY_LIMIT  # over the limit of other requests
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        response = await client.post(
            WEBHOOK_PATH,
            content=body,
            headers={AUTH_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "recorded"}
    assert await WebhookReceipt.filter(event_key="mail_received:em_large_0001").exists()


async def test_a_webhook_over_its_limit_is_refused_and_not_recorded(served: Served) -> None:
    body = orjson.dumps(large_email(WEBHOOK_LIMIT + MIB))
    headers = {AUTH_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        refused(await client.post(WEBHOOK_PATH, content=body, headers=headers), WEBHOOK_LIMIT)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), CHUNK):
                yield body[start : start + CHUNK]

        refused(await client.post(WEBHOOK_PATH, content=chunks(), headers=headers), WEBHOOK_LIMIT)
    assert await WebhookReceipt.all().count() == 0


async def test_an_error_quotes_a_long_id_by_its_start_only(served: Served) -> None:
    """A client that sends nearly a mebibyte of id gets an error of a few dozen characters."""
    long_id = "Q" * (BODY_LIMIT - 1000)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": "query($id: ID!) { conversation(id: $id) { id } }",
                "variables": {"id": long_id},
            },
            headers={"Authorization": f"Bearer {served.tokens['alice']}"},
        )
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert len(response.content) < 1000
    assert (
        error["message"].startswith("'QQQQ") and f"({len(long_id)} characters)" in error["message"]
    )
