"""Every error class, provoked against the sandbox (or a closed port)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.unipile.unipile_testkit import GMAIL, WHATSAPP, ClientFactory
from unipile import (
    AccountDisconnectedError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    UnipileClient,
    UnipileError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    count_requests,
)
from unipile._errors import error_from_response


async def set_faults(admin: httpx.AsyncClient, **faults: object) -> None:
    response = await admin.post("/_sandbox/faults", json=faults)
    response.raise_for_status()


async def test_bad_api_key(make_client: ClientFactory) -> None:
    with pytest.raises(AuthenticationError) as caught:
        await make_client(api_key="wrong").list_accounts()
    assert not isinstance(caught.value, AccountDisconnectedError)
    assert caught.value.status == 401 and caught.value.type == "errors/missing_credentials"
    assert caught.value.title == "Missing credentials"


async def test_disconnected_account(client: UnipileClient, admin: httpx.AsyncClient) -> None:
    await admin.post(f"/_sandbox/accounts/{WHATSAPP}/status", json={"status": "CREDENTIALS"})
    with pytest.raises(AccountDisconnectedError) as caught:
        await client.list_chats(account_id=WHATSAPP)
    assert caught.value.type == "errors/disconnected_account"
    assert (await client.get_account(WHATSAPP)).sources[0].status == "CREDENTIALS"
    await admin.post(f"/_sandbox/accounts/{WHATSAPP}/status", json={"status": "OK"})
    assert (await client.list_chats(account_id=WHATSAPP, limit=1)).items


async def test_disconnected_by_fault(client: UnipileClient, admin: httpx.AsyncClient) -> None:
    await set_faults(admin, disconnected_accounts=[GMAIL])
    with pytest.raises(AccountDisconnectedError):
        await client.list_emails(account_id=GMAIL)
    with pytest.raises(AccountDisconnectedError):
        await client.send_email(account_id=GMAIL, body="x", to=["a@b.c"])


async def test_not_found(client: UnipileClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.get_chat("no-such-chat")
    assert caught.value.status == 404 and caught.value.detail == "Chat not found"
    with pytest.raises(NotFoundError):
        await client.get_email("no-such-email")
    with pytest.raises(NotFoundError):
        await client.delete_webhook("no-such-webhook")


@pytest.mark.parametrize("limit", [0, 251])
async def test_invalid_limit(client: UnipileClient, limit: int) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await client.list_accounts(limit=limit)
    assert caught.value.status == 400 and caught.value.type == "errors/invalid_parameters"


async def test_malformed_dates_and_cursor(http: httpx.AsyncClient, sandbox_url: str) -> None:
    headers = {"X-API-KEY": "test-key"}
    for query in ({"before": "yesterday"}, {"after": "2025-13-01"}, {"cursor": "not*base64"}):
        response = await http.get(f"{sandbox_url}/api/v1/chats", params=query, headers=headers)
        assert response.status_code == 400
        assert response.json()["status"] == 400


async def test_rate_limited_after_retries(
    make_client: ClientFactory, admin: httpx.AsyncClient
) -> None:
    await set_faults(admin, rate_limit_rate=1.0, rate_limit_retry_after_s=0.01)
    client = make_client(max_retries=2)
    with count_requests() as counter, pytest.raises(RateLimitedError) as caught:
        await client.list_accounts()
    assert counter.value == 3
    assert caught.value.status == 429 and caught.value.retry_after == pytest.approx(0.01)


async def test_long_retry_after_is_not_waited(
    make_client: ClientFactory, admin: httpx.AsyncClient
) -> None:
    await set_faults(admin, rate_limit_rate=1.0, rate_limit_retry_after_s=30)
    started = time.monotonic()
    with count_requests() as counter, pytest.raises(RateLimitedError) as caught:
        await make_client(backoff_max=1.0).list_accounts()
    assert caught.value.retry_after == 30 and counter.value == 1
    assert time.monotonic() - started < 5


async def test_server_errors(make_client: ClientFactory, admin: httpx.AsyncClient) -> None:
    await set_faults(admin, error_rate=1.0)
    with count_requests() as counter, pytest.raises(UpstreamUnavailableError) as caught:
        await make_client(max_retries=3).list_accounts()
    assert caught.value.status == 503 and counter.value == 4


async def test_sends_are_not_retried(make_client: ClientFactory, admin: httpx.AsyncClient) -> None:
    await set_faults(admin, error_rate=1.0)
    with count_requests() as counter, pytest.raises(UpstreamUnavailableError):
        await make_client().send_email(account_id=GMAIL, body="x", to=["a@b.c"])
    assert counter.value == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused(make_client: ClientFactory) -> None:
    client = make_client(dsn=f"http://127.0.0.1:{_closed_port()}", max_retries=2)
    with count_requests() as counter, pytest.raises(UpstreamConnectionError) as caught:
        await client.list_accounts()
    assert caught.value.status is None and counter.value == 3


async def test_send_retried_when_nothing_was_sent(make_client: ClientFactory) -> None:
    client = make_client(dsn=f"http://127.0.0.1:{_closed_port()}", max_retries=2)
    with count_requests() as counter, pytest.raises(UpstreamConnectionError):
        await client.send_chat_message("chat", text="hi")
    assert counter.value == 3


async def test_timeout_on_hung_request(
    make_client: ClientFactory, admin: httpx.AsyncClient
) -> None:
    await set_faults(admin, hang_rate=1.0)
    client = make_client(timeout=httpx.Timeout(0.3), max_retries=1)
    started = time.monotonic()
    with count_requests() as counter, pytest.raises(UpstreamTimeoutError):
        await client.list_accounts()
    assert counter.value == 2 and time.monotonic() - started < 3
    # Faults never apply to the admin endpoints, so the sandbox can be repaired.
    await set_faults(admin, hang_rate=0.0)
    assert (await client.list_accounts()).items


def test_every_error_is_a_unipile_error() -> None:
    for status, cls in [
        (400, InvalidRequestError),
        (409, InvalidRequestError),
        (415, InvalidRequestError),
        (422, InvalidRequestError),
        (404, NotFoundError),
        (429, RateLimitedError),
        (500, UpstreamUnavailableError),
        (504, UpstreamTimeoutError),
    ]:
        error = error_from_response(status, {"status": status, "type": "errors/x", "title": "t"})
        assert type(error) is cls and isinstance(error, UnipileError)


def test_non_json_error_body_is_tolerated() -> None:
    error = error_from_response(502, "<html>Bad gateway</html>")
    assert isinstance(error, UpstreamUnavailableError)
    assert error.status == 502 and error.type is None and error.detail is None


def test_reference_error_example() -> None:
    body = {
        "status": 404,
        "type": "errors/resource_not_found",
        "title": "Resource not found.",
        "detail": "Chat not found",
        "instance": "/api/v1/chats/abc",
    }
    error = error_from_response(404, body)
    assert isinstance(error, NotFoundError)
    assert (error.type, error.title, error.detail) == (
        "errors/resource_not_found",
        "Resource not found.",
        "Chat not found",
    )
