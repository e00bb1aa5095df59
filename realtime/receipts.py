"""Webhook receipts: each event recorded once, then processed exactly once, by any process.

A receipt is keyed by its event: UniPile's retries and a second process receiving the same
delivery hit the unique `event_key` and record nothing new. Events that carry their own id (a
received message or email) keep their key for good. The others (read receipts, reactions, account
status) have only their content to go by, and the same content can legitimately come again (an
account that fails, recovers and fails again): their key is released once the receipt is done, so
it deduplicates deliveries of one occurrence but not later occurrences.

Processing is at least once, made effectively exactly once: a worker claims a receipt under a
short lease renewed while the handler runs (`db.claims`: a crashed worker's receipts are taken
over within `claim_ttl`), runs the handler, and marks the receipt done only while it still holds
the claim. Handlers must therefore be idempotent: a crash between a handler's writes and the mark
runs it again. What a handler wants published is published only after the mark succeeded, so
subscribers never see an event twice.

No event is lost to its content: the payload is made storable (`db.text.storable`: PostgreSQL
refuses U+0000, UTF-8 has no lone surrogates) before anything reads or records it, and a receipt
whose handler fails is kept, FAILED with its last error, retried with backoff up to the retry
policy's attempts, logged in one line per attempt and counted (`ReceiptProcessor.counters`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Unpack

import orjson
from prometheus_client import Counter
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core.vocabulary import ReceiptState
from db.claims import LeasedQueue, QueueTuning
from db.models import WebhookReceipt
from db.sql import errors_abort_transactions
from db.text import storable, storable_text
from realtime.pubsub import PubSub

log = logging.getLogger(__name__)

ACCOUNT_STATUS = "account_status"
# Events that name themselves: the id field that makes a lasting key.
EVENT_ID_FIELDS = {
    "message_received": "message_id",
    "mail_received": "email_id",
    "mail_sent": "email_id",
}
KEY_LENGTH = 255  # WebhookReceipt.event_key
ACK_PRIORITY_SECONDS = 0.25
"""The longest a claim waits for the acknowledgements under way to end: under a steady stream of
webhooks processing goes on, a receipt at least every quarter of a second."""
ERROR_LENGTH = 2000
"""How much of a failure's description `last_error` keeps."""
# The kinds UniPile sends; any other is counted as `other`, so a label stays bounded.
KNOWN_EVENTS = frozenset(
    {
        ACCOUNT_STATUS,
        *EVENT_ID_FIELDS,
        "message_read",
        "message_reaction",
        "message_edited",
        "message_deleted",
        "message_delivered",
    }
)
RECEIPTS = Counter(
    "switchboard_webhook_receipts_total",
    "Webhook deliveries by event kind, `recorded` (new) or `duplicate` (a redelivery).",
    ["event", "result"],
)


def parse_webhook(body: bytes) -> object:
    """A webhook body's JSON, as sent; raises ValueError when it is not JSON. Pass it through
    `db.text.storable` before anything but an id check reads it.

    orjson refuses lone surrogates (`"\\ud800"`) and bytes that are not UTF-8, which a sender
    may still produce: such a body is read by the standard library instead, the bad bytes as
    U+FFFD, rather than refused, since UniPile's retries would be refused alike.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        try:
            return json.loads(body.decode("utf-8", errors="replace"))
        except (ValueError, RecursionError):
            raise error from None


@dataclass(frozen=True, slots=True)
class EventIdentity:
    kind: str
    """The dispatch key: UniPile's `event`, or `account_status` for its wrapped payload."""
    key: str
    lasting: bool
    """True when the key names the event itself rather than its content."""


def identify(payload: Mapping[str, Any]) -> EventIdentity | None:
    """The kind and deduplication key of a webhook payload; None when it names no event."""
    if isinstance(payload.get("AccountStatus"), Mapping):
        return _by_content(ACCOUNT_STATUS, payload)
    kind = payload.get("event")
    if not isinstance(kind, str) or not kind:
        return None
    event_id = payload.get(EVENT_ID_FIELDS.get(kind, ""))
    key = f"{kind}:{event_id}"
    if isinstance(event_id, str) and event_id and len(key) <= KEY_LENGTH:
        return EventIdentity(kind, key, lasting=True)
    return _by_content(kind, payload)


def _by_content(kind: str, payload: Mapping[str, Any]) -> EventIdentity:
    # Two webhooks for one source deliver the same event under different names.
    content = {name: value for name, value in payload.items() if name != "webhook_name"}
    digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return EventIdentity(kind, f"{kind}:{digest}", lasting=False)


async def record_receipt(identity: EventIdentity, payload: Mapping[str, Any]) -> int | None:
    """Record the event unless it already is; the new receipt's id when this call recorded it,
    None for a duplicate. The payload is stored as `db.text.storable` makes it."""
    [receipt_id] = await record_receipts([(identity, payload)])
    return receipt_id


async def _insert(identity: EventIdentity, payload: Mapping[str, Any]) -> int | None:
    """The INSERT of `record_receipts`, in a savepoint of its own where a failed statement would
    abort the whole transaction (PostgreSQL): a duplicate rolls back only itself."""
    savepoint = in_transaction() if errors_abort_transactions() else nullcontext()
    try:
        async with savepoint:
            receipt = await WebhookReceipt.create(
                event_key=storable_text(identity.key),
                event=storable_text(identity.kind),
                payload=storable(dict(payload)),
            )
    except IntegrityError:
        return None
    return int(receipt.id)


async def record_receipts(
    events: Sequence[tuple[EventIdentity, Mapping[str, Any]]],
) -> list[int | None]:
    """`record_receipt` for each event, in one transaction: one commit, so one flush to disk,
    for all of them."""
    async with in_transaction():
        recorded = [await _insert(identity, payload) for identity, payload in events]
    for (identity, _), receipt_id in zip(events, recorded, strict=True):
        event = identity.kind if identity.kind in KNOWN_EVENTS else "other"
        RECEIPTS.labels(event, "duplicate" if receipt_id is None else "recorded").inc()
    return recorded


_Waiting = tuple[EventIdentity, Mapping[str, Any], "asyncio.Future[int | None]"]


class ReceiptRecorder:
    """Records the receipts of concurrent webhooks together (a group commit): the first waits for
    its commit alone, and those that arrive meanwhile share the next one. Each call returns once
    its receipt is committed, as `record_receipt` does; on SQLite, where commits are serialised
    on one connection and each flushes to disk, this is what lets acknowledgements overlap."""

    def __init__(self) -> None:
        self._waiting: list[_Waiting] = []
        self._committing: asyncio.Task[None] | None = None

    async def record(self, identity: EventIdentity, payload: Mapping[str, Any]) -> int | None:
        done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((identity, payload, done))
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit(), name="receipt-commits")
        return await done

    async def _commit(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    recorded = await record_receipts([(i, payload) for i, payload, _ in batch])
                except Exception as error:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                    continue
                for (_, _, done), receipt_id in zip(batch, recorded, strict=True):
                    if not done.done():
                        done.set_result(receipt_id)
        finally:
            self._committing = None


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    payload: Mapping[str, Any]


Handler = Callable[[WebhookReceipt], Awaitable[Sequence[Publication]]]
"""Applies one receipt (idempotently) and returns what to publish once it is marked done."""


class ReceiptProcessor(LeasedQueue[WebhookReceipt]):
    """Claims pending receipts and runs the handler registered for their kind, oldest first."""

    def __init__(self, pubsub: PubSub, **tuning: Unpack[QueueTuning]) -> None:
        super().__init__(
            WebhookReceipt,
            name="receipt-processor",
            **(QueueTuning(run_timeout=60.0, batch_size=50) | tuning),
        )
        self._pubsub = pubsub
        self._handlers: dict[str, Handler] = {}
        # Receipts this process recorded while nothing was pending, and whether it was so.
        self._recorded: list[int] = []
        self._drained = False
        self._acknowledging = 0
        self._acknowledged = asyncio.Event()
        self._acknowledged.set()

    def on(self, kind: str, handler: Handler) -> None:
        """Handle receipts of `kind` (`message_received`, `mail_received`, `account_status`...)."""
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is already registered")
        self._handlers[kind] = handler

    def handles(self, kind: str) -> bool:
        return kind in self._handlers

    def recorded(self, receipt_id: int) -> None:
        """This process recorded the receipt: process it now. When nothing else was pending it
        is claimed without first looking for candidates, a query less before its subscribers
        hear of it; otherwise it waits its turn, oldest first."""
        if self._drained:
            self._recorded.append(receipt_id)
        self.wake()

    @contextmanager
    def acknowledging(self) -> Iterator[None]:
        """While the block runs a webhook is being acknowledged: no receipt is claimed meanwhile
        (for `ACK_PRIORITY_SECONDS` at most), so that processing, which costs several times an
        acknowledgement, never holds UniPile's 200 up."""
        self._acknowledging += 1
        self._acknowledged.clear()
        try:
            yield
        finally:
            self._acknowledging -= 1
            if not self._acknowledging:
                self._acknowledged.set()

    async def _claim(self, row_id: int) -> tuple[WebhookReceipt | None, str]:
        with suppress(TimeoutError):
            async with asyncio.timeout(ACK_PRIORITY_SECONDS):
                await self._acknowledged.wait()
        return await super()._claim(row_id)

    async def _candidates(self) -> list[int]:
        if self._recorded:
            recorded, self._recorded = self._recorded, []
            self._drained = False
            return recorded
        candidates = await super()._candidates()
        self._drained = not candidates
        return candidates

    def _claimable(self, now: datetime) -> Q:
        return (
            Q(event__in=list(self._handlers))
            & Q(state__in=[ReceiptState.PENDING, ReceiptState.FAILED])
            & Q(attempts__lt=self._retry.max_attempts)
        )

    async def _process(self, receipt: WebhookReceipt, claim: str) -> None:
        try:
            async with asyncio.timeout(self._run_timeout):
                publications = await self._handlers[receipt.event](receipt)
        except Exception as error:
            await self._fail(receipt, claim, error)
            return
        now = datetime.now(UTC)
        if await self._finish(receipt, claim, ReceiptState.PROCESSED, processed_at=now):
            self.counters.succeeded += 1
            await self._publish(publications)
        else:
            self.counters.lost += 1
            log.warning("receipt %s was taken over before it was marked done", receipt.id)

    async def _fail(self, receipt: WebhookReceipt, claim: str, error: Exception) -> None:
        attempts = receipt.attempts + 1
        retry_at = self._retry.retry_at(attempts)
        self.counters.failed += 1
        if retry_at is None:
            self.counters.given_up += 1
        # One line, no traceback: a receipt failing on every retry must not flood the log.
        log.log(
            logging.ERROR if retry_at is None else logging.WARNING,
            "receipt %s (%s) failed, attempt %d of %d%s: %.300r",
            receipt.id,
            receipt.event,
            attempts,
            self._retry.max_attempts,
            "; giving up, it stays FAILED" if retry_at is None else "; retried later",
            error,
        )
        described = storable_text(repr(error))[:ERROR_LENGTH]
        if not await self._finish(
            receipt, claim, ReceiptState.FAILED, last_error=described, next_attempt_at=retry_at
        ):
            self.counters.lost += 1

    async def _finish(
        self, receipt: WebhookReceipt, claim: str, state: ReceiptState, **changes: Any
    ) -> bool:
        """Record the outcome of an attempt, if the claim is still ours."""
        done = state is ReceiptState.PROCESSED or receipt.attempts + 1 >= self._retry.max_attempts
        if done and not _keeps_key(receipt):
            changes["event_key"] = f"{receipt.event_key}@{receipt.id}"
        return await self._settle(
            receipt.id, claim, state=state, attempts=receipt.attempts + 1, **changes
        )

    async def _publish(self, publications: Sequence[Publication]) -> None:
        for publication in publications:
            try:
                await self._pubsub.publish(publication.topic, publication.payload)
            except Exception:
                # Pub/sub is at most once: the receipt is done, live subscribers miss this one.
                log.exception("publishing to %s failed", publication.topic)


def _keeps_key(receipt: WebhookReceipt) -> bool:
    identity = identify(receipt.payload)
    return identity is not None and identity.lasting
