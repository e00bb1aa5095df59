"""Connecting accounts through UniPile's hosted auth: the link a user asks for, and UniPile's
callback once they connected (or reconnected) an account on UniPile's page.

The callback carries no credential of its own (UniPile sends `{status, account_id, name}` and
nothing else), so the link's `name` is what authenticates it: a random reference to the
`HostedAuthLink` row that names the user, sealed with an HMAC only this server can make. A
callback whose `name` is not sealed here is forged; one whose link expired (past a short grace)
is refused; a repeat of one already applied changes nothing.

The seal's key is derived from Switchboard's signing key (`Settings.signing_key`), not from the
webhook secret: UniPile itself holds the webhook secret (it sends it back in each webhook's
header), so a key derived from it would let UniPile, or anyone who reads its webhook settings, seal
a name for any link. Only Switchboard holds the signing key. Rotating it logs every user out and
voids the links handed out, which last `HOSTED_AUTH_TTL_MINUTES` anyway. The derivation keeps a
seal from ever being usable as a token signature, or the other way round.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from accounts.lifecycle import (
    AccountTaken,
    Attachment,
    UnsupportedAccount,
    attach,
    may_manage,
    reconnected,
)
from core.identity import Identity
from core.vocabulary import AccountStatus, HostedAuthKind
from db.models import Account, HostedAuthLink, User
from unipile import Account as UnipileAccount
from unipile import NotFoundError, UnipileClient, UnipileError, is_valid_id

CALLBACK_GRACE = timedelta(minutes=5)
"""How long after its expiry a link's callback is still taken: UniPile may call a little after a
user finished on its page just in time."""
MAX_NAME_LENGTH = 256
"""Longer than any `name` this server seals (about 76 characters)."""
_KEY_CONTEXT = b"switchboard hosted-auth reference v1"
_REFERENCE_BYTES = 24  # 32 characters of base64url: HostedAuthLink.reference holds 64


class HostedAuthProvider(StrEnum):
    """The providers a hosted-auth link may offer, as UniPile names them (`GOOGLE` is Gmail,
    `MICROSOFT` Outlook, `IMAP` any other mailbox)."""

    WHATSAPP = "WHATSAPP"
    LINKEDIN = "LINKEDIN"
    GOOGLE = "GOOGLE"
    MICROSOFT = "MICROSOFT"
    IMAP = "IMAP"
    INSTAGRAM = "INSTAGRAM"
    TELEGRAM = "TELEGRAM"
    MESSENGER = "MESSENGER"
    TWITTER = "TWITTER"


STATUS_OF_KIND = {
    HostedAuthKind.CREATE: "CREATION_SUCCESS",
    HostedAuthKind.RECONNECT: "RECONNECTED",
}
"""The callback status each kind of link ends with."""


class Refusal(StrEnum):
    """Why a callback was refused."""

    MALFORMED = "MALFORMED"
    """Not `{status, account_id, name}` with strings, or an `account_id` no id can be."""
    UNKNOWN_STATUS = "UNKNOWN_STATUS"
    WRONG_STATUS = "WRONG_STATUS"
    """A status the link's kind does not end with (`RECONNECTED` for a create link)."""
    FORGED = "FORGED"
    """A `name` this server did not seal."""
    UNKNOWN_LINK = "UNKNOWN_LINK"
    EXPIRED = "EXPIRED"
    USER_DISABLED = "USER_DISABLED"
    LINK_USED = "LINK_USED"
    """A create link already completed with another account."""
    WRONG_ACCOUNT = "WRONG_ACCOUNT"
    """A reconnect link's callback for another account than the one it was for."""
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    """UniPile does not know the `account_id`."""
    UNSUPPORTED_ACCOUNT = "UNSUPPORTED_ACCOUNT"
    ACCOUNT_TAKEN = "ACCOUNT_TAKEN"
    """The account is attached to another workspace."""
    ACCOUNT_DISCONNECTED = "ACCOUNT_DISCONNECTED"
    """A reconnect link's account was disconnected since: only a new connect brings it back."""
    NOT_PERMITTED = "NOT_PERMITTED"
    """A reconnect link's user may no longer manage its account (demoted, or not the owner)."""
    UPSTREAM = "UPSTREAM"
    """UniPile could not be asked about the account; a retried callback may succeed."""


class CallbackRefused(Exception):
    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


class Outcome(StrEnum):
    ATTACHED = "ATTACHED"
    REATTACHED = "REATTACHED"
    RECONNECTED = "RECONNECTED"
    UNCHANGED = "UNCHANGED"


@dataclass(frozen=True, slots=True)
class Completion:
    account: Account
    outcome: Outcome

    @property
    def changed(self) -> bool:
        return self.outcome is not Outcome.UNCHANGED


@dataclass(frozen=True, slots=True)
class IssuedLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class HostedAuthSettings:
    api_url: str
    """The UniPile DSN the connected account is reached at."""
    notify_url: str
    """Where UniPile posts the callback: this server's route, at its public URL."""
    ttl: timedelta
    success_url: str | None = None
    failure_url: str | None = None


@dataclass(frozen=True, slots=True)
class Callback:
    status: str
    account_id: str
    name: str


class ReferenceSeal:
    """Seals a link's reference into the `name` UniPile echoes, and opens it again."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()

    def seal(self, reference: str) -> str:
        return f"{reference}.{self._signature(reference)}"

    def open(self, name: str) -> str | None:
        """The reference `name` seals; None when this server did not seal it."""
        reference, dot, signature = name.rpartition(".")
        # What this server seals is ASCII; anything else (a lone surrogate too) is not its seal.
        if not name.isascii() or not dot or not reference:
            return None
        expected = self._signature(reference)
        return reference if hmac.compare_digest(signature.encode(), expected.encode()) else None

    def _signature(self, reference: str) -> str:
        digest = hmac.new(self._key, reference.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def parse_callback(body: object) -> Callback:
    """UniPile's `{status, account_id, name}`; other keys are ignored."""
    if not isinstance(body, Mapping):
        raise CallbackRefused(Refusal.MALFORMED, "the body must be a JSON object")
    values = {key: body.get(key) for key in ("status", "account_id", "name")}
    missing = [key for key, value in values.items() if not isinstance(value, str) or not value]
    if missing:
        raise CallbackRefused(Refusal.MALFORMED, f"{', '.join(missing)}: a string is required")
    callback = Callback(str(values["status"]), str(values["account_id"]), str(values["name"]))
    if callback.status not in STATUS_OF_KIND.values():
        raise CallbackRefused(
            Refusal.UNKNOWN_STATUS,
            f"status must be one of {', '.join(STATUS_OF_KIND.values())}",
        )
    if not is_valid_id(callback.account_id):
        raise CallbackRefused(Refusal.MALFORMED, "account_id is not a UniPile id")
    return callback


class HostedAuth:
    """Hands out hosted-auth links and applies UniPile's callbacks for them."""

    def __init__(self, client: UnipileClient, settings: HostedAuthSettings, seal: ReferenceSeal):
        self._client = client
        self._settings = settings
        self._seal = seal

    async def link(
        self,
        identity: Identity,
        providers: Sequence[HostedAuthProvider],
        reconnect: Account | None = None,
    ) -> IssuedLink:
        """A link for the viewer to connect an account of one of `providers` (none: any), or to
        reconnect `reconnect`. Raises the client's `UnipileError` when UniPile refuses it."""
        kind = HostedAuthKind.CREATE if reconnect is None else HostedAuthKind.RECONNECT
        offered = list(dict.fromkeys(provider.value for provider in providers))
        expires_at = datetime.now(UTC) + self._settings.ttl
        # Recorded first: UniPile's callback may come back before its answer to this request.
        link = await HostedAuthLink.create(
            reference=secrets.token_urlsafe(_REFERENCE_BYTES),
            workspace_id=identity.workspace_id,
            user_id=identity.user_id,
            kind=kind,
            providers=offered,
            account_id=None if reconnect is None else reconnect.id,
            expires_at=expires_at,
        )
        try:
            url = await self._client.create_hosted_auth_link(
                kind=kind.value,
                expires_on=expires_at,
                api_url=self._settings.api_url,
                providers=offered or None,
                name=self._seal.seal(link.reference),
                notify_url=self._settings.notify_url,
                success_redirect_url=self._settings.success_url,
                failure_redirect_url=self._settings.failure_url,
                reconnect_account=None if reconnect is None else reconnect.unipile_id,
            )
        except UnipileError:
            await link.delete()
            raise
        return IssuedLink(url, expires_at)

    async def complete(self, body: object) -> Completion:
        """Apply UniPile's callback: attach the account it names to the link's user, or mark the
        reconnected account OK. Raises `CallbackRefused`."""
        callback = parse_callback(body)
        link = await self._link_of(callback)
        earlier = await _earlier_completion(link, callback)
        if earlier is not None:
            return earlier
        if datetime.now(UTC) > link.expires_at + CALLBACK_GRACE:
            raise CallbackRefused(Refusal.EXPIRED, "the link has expired")
        user = await User.get(id=link.user_id)
        if not user.is_active:
            raise CallbackRefused(Refusal.USER_DISABLED, "the link's user is disabled")
        upstream = await self._upstream(callback.account_id)
        if link.kind is HostedAuthKind.RECONNECT:
            return await _reconnect(link, user, callback)
        return await _attach(link, user, upstream, callback)

    async def _link_of(self, callback: Callback) -> HostedAuthLink:
        reference = None
        if len(callback.name) <= MAX_NAME_LENGTH:
            reference = self._seal.open(callback.name)
        if reference is None:
            raise CallbackRefused(Refusal.FORGED, "name is not a reference this server issued")
        link = await HostedAuthLink.get_or_none(reference=reference)
        if link is None:
            raise CallbackRefused(Refusal.UNKNOWN_LINK, "no such link")
        if callback.status != STATUS_OF_KIND[link.kind]:
            raise CallbackRefused(
                Refusal.WRONG_STATUS,
                f"a {link.kind.value} link ends with {STATUS_OF_KIND[link.kind]}",
            )
        return link

    async def _upstream(self, account_id: str) -> UnipileAccount:
        try:
            return await self._client.get_account(account_id)
        except NotFoundError:
            raise CallbackRefused(
                Refusal.UNKNOWN_ACCOUNT, "UniPile knows no such account"
            ) from None
        except UnipileError as error:
            raise CallbackRefused(
                Refusal.UPSTREAM, f"UniPile could not be asked about the account: {error}"
            ) from None


async def _earlier_completion(link: HostedAuthLink, callback: Callback) -> Completion | None:
    """`UNCHANGED` when this callback was applied already; refused when the link was used for
    another account, or a reconnect link names another account; None otherwise."""
    account = None if link.account_id is None else await Account.get_or_none(id=link.account_id)
    names_it = account is not None and account.unipile_id == callback.account_id
    if link.completed_at is not None and names_it:
        assert account is not None
        return Completion(account, Outcome.UNCHANGED)
    if link.kind is HostedAuthKind.RECONNECT and not names_it:
        raise CallbackRefused(Refusal.WRONG_ACCOUNT, "the link was for another account")
    if link.completed_at is not None:
        raise CallbackRefused(Refusal.LINK_USED, "the link was used for another account")
    return None


async def _reconnect(link: HostedAuthLink, user: User, callback: Callback) -> Completion:
    """Marks the account OK again, if the link may still do so: a disconnect or a change of role
    after the link was issued is not undone by finishing it."""
    account = await Account.get(id=link.account_id)
    if account.detached_at is not None:
        raise CallbackRefused(
            Refusal.ACCOUNT_DISCONNECTED,
            "the account was disconnected after the link was issued: connect it again",
        )
    if not may_manage(Identity(user.id, user.workspace_id, user.role), account):
        raise CallbackRefused(
            Refusal.NOT_PERMITTED, "the link's user may no longer reconnect this account"
        )
    revived = await reconnected(account)
    await _mark_completed(link, account, callback)
    if revived is None:
        return Completion(account, Outcome.UNCHANGED)
    return Completion(revived, Outcome.RECONNECTED)


async def _attach(
    link: HostedAuthLink, user: User, upstream: UnipileAccount, callback: Callback
) -> Completion:
    try:
        attached = await attach(upstream, user, AccountStatus.OK)
    except AccountTaken as error:
        raise CallbackRefused(Refusal.ACCOUNT_TAKEN, str(error)) from None
    except UnsupportedAccount as error:
        raise CallbackRefused(Refusal.UNSUPPORTED_ACCOUNT, str(error)) from None
    await _mark_completed(link, attached.account, callback)
    outcomes = {
        Attachment.ATTACHED: Outcome.ATTACHED,
        Attachment.REATTACHED: Outcome.REATTACHED,
        Attachment.ALREADY_ATTACHED: Outcome.UNCHANGED,
    }
    return Completion(attached.account, outcomes[attached.attachment])


async def _mark_completed(link: HostedAuthLink, account: Account, callback: Callback) -> None:
    """Completes the link with `account`, unless a concurrent callback completed it first; a
    create link completed with another account meanwhile is refused (the account UniPile
    connected for the user stays theirs)."""
    completed = await HostedAuthLink.filter(id=link.id, completed_at=None).update(
        completed_at=datetime.now(UTC), account_id=account.id
    )
    if completed:
        return
    await link.refresh_from_db()
    await _earlier_completion(link, callback)
