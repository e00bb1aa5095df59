"""UniPile's hosted-auth callback at `POST /unipile/hosted-auth`: the account a user connected (or
reconnected) on UniPile's page is attached to them, and its status announced.

UniPile sends no credential to a `notify_url`: the sealed reference in the body's `name` is what
proves the call answers a link this server issued (see `accounts.hosted_auth`). Every refusal is
JSON with a 4xx status, except a 502 when UniPile could not be asked about the account, so that
UniPile retries. The body is capped at `MAX_WEBHOOK_BYTES`, like the webhooks' (`server.app`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from accounts.hosted_auth import (
    CallbackRefused,
    HostedAuth,
    HostedAuthSettings,
    ReferenceSeal,
    Refusal,
)
from db.models import Account
from inbox.live_cache import LiveCache
from realtime.account_status import status_publications
from realtime.live_lists import live_lists_changed
from realtime.pubsub import PubSub
from realtime.receipts import parse_webhook
from server.settings import Settings
from unipile import UnipileClient

log = logging.getLogger(__name__)

HOSTED_AUTH_PATH = "/unipile/hosted-auth"
HTTP_STATUS: Mapping[Refusal, int] = {
    Refusal.MALFORMED: 400,
    Refusal.UNKNOWN_STATUS: 400,
    Refusal.WRONG_STATUS: 400,
    Refusal.FORGED: 403,
    Refusal.UNKNOWN_LINK: 404,
    Refusal.EXPIRED: 410,
    Refusal.USER_DISABLED: 403,
    Refusal.LINK_USED: 409,
    Refusal.WRONG_ACCOUNT: 409,
    Refusal.UNKNOWN_ACCOUNT: 404,
    Refusal.UNSUPPORTED_ACCOUNT: 422,
    Refusal.ACCOUNT_TAKEN: 409,
    Refusal.ACCOUNT_DISCONNECTED: 409,
    Refusal.NOT_PERMITTED: 403,
    Refusal.UPSTREAM: 502,
}


def hosted_auth_from_settings(settings: Settings, client: UnipileClient, dsn: str) -> HostedAuth:
    """Links for accounts reached at `dsn`, calling back `PUBLIC_URL` + `HOSTED_AUTH_PATH`."""
    return HostedAuth(
        client,
        HostedAuthSettings(
            api_url=dsn,
            notify_url=settings.public_url.rstrip("/") + HOSTED_AUTH_PATH,
            ttl=timedelta(minutes=settings.hosted_auth_ttl_minutes),
            success_url=settings.hosted_auth_success_url,
            failure_url=settings.hosted_auth_failure_url,
        ),
        ReferenceSeal(settings.signing_key()),
    )


class HostedAuthCallback:
    def __init__(self, hosted_auth: HostedAuth, pubsub: PubSub, live_cache: LiveCache) -> None:
        self._hosted_auth = hosted_auth
        self._pubsub = pubsub
        self._live_cache = live_cache

    async def receive(self, request: Request) -> JSONResponse:
        try:
            completion = await self._hosted_auth.complete(parse_webhook(await request.body()))
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        except CallbackRefused as refused:
            log.info("refused a hosted-auth callback (%s): %s", refused.refusal, refused)
            return JSONResponse(
                {"error": str(refused), "refusal": refused.refusal.value},
                HTTP_STATUS[refused.refusal],
            )
        if completion.changed:
            await self._announce(completion.account)
        account = completion.account
        return JSONResponse({"status": completion.outcome.value, "account_id": account.unipile_id})

    async def _announce(self, account: Account) -> None:
        """The account's new status to its watchers; its lists, cached while it failed, read
        again (and pre-fetched again for connected users)."""
        publications = status_publications(
            account, account.status, account.last_error, account.status_changed_at
        )
        try:
            publications.append(await live_lists_changed(self._live_cache, account))
        except Exception:  # Redis failing: the cached lists end with their freshness instead
            log.exception("invalidating the live lists of %s failed", account.unipile_id)
        for publication in publications:
            try:
                await self._pubsub.publish(publication.topic, publication.payload)
            except Exception:  # the account is attached: a lost announcement must not undo that
                log.exception("publishing to %s failed", publication.topic)


def hosted_auth_routes(
    hosted_auth: HostedAuth, pubsub: PubSub, live_cache: LiveCache
) -> list[Route]:
    callback = HostedAuthCallback(hosted_auth, pubsub, live_cache)
    return [Route(HOSTED_AUTH_PATH, callback.receive, methods=["POST"])]
