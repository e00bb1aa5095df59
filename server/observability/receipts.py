"""Webhook receipts processed under request ids of their own: whatever a receipt's processing
logs, and the UniPile calls it makes, carry one id, next to the receipt's id in its log lines.
Each attempt is counted by outcome, and its lag since the receipt measured."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from core.request_ids import new_request_id, request_id_scope
from db.models import WebhookReceipt
from realtime.receipts import Handler, Publication
from server.observability import metrics

log = logging.getLogger("switchboard.receipts")


def observed(handler: Handler) -> Handler:
    """`handler`, run under a fresh request id, with one line when it ends."""

    async def observed_handler(receipt: WebhookReceipt) -> Sequence[Publication]:
        with request_id_scope(new_request_id()):
            started = time.perf_counter()
            outcome = "failed"
            try:
                publications = await handler(receipt)
                outcome = "processed"
                return publications
            finally:
                metrics.WEBHOOK_PROCESSING.labels(receipt.event, outcome).inc()
                lag = metrics.seconds_since(receipt.received_at, datetime.now(UTC))
                metrics.WEBHOOK_LAG.labels(receipt.event).observe(lag)
                fields = {
                    "receipt_id": receipt.id,
                    "event": receipt.event,
                    "attempt": receipt.attempts + 1,
                    "outcome": outcome,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                }
                log.info(
                    "receipt %s (%s) %s",
                    receipt.id,
                    receipt.event,
                    outcome,
                    extra={"fields": fields},
                )

    return observed_handler
