"""A receipt processor in a process of its own, for the crash tests: it claims what is pending and
hangs in its handler (printing `claimed <id>`) until it is killed.

    python -m tests.realtime.claim_worker DATABASE_URL CLAIM_TTL
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from tortoise.context import TortoiseContext

from db.config import tortoise_config
from db.models import WebhookReceipt
from realtime.pubsub import InProcessPubSub
from realtime.receipts import Publication, ReceiptProcessor


async def hang(receipt: WebhookReceipt) -> Sequence[Publication]:
    print(f"claimed {receipt.id}", flush=True)
    await asyncio.sleep(3600)
    return []


async def main(database_url: str, claim_ttl: float) -> None:
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(database_url))
        processor = ReceiptProcessor(InProcessPubSub(), poll_interval=0.1, claim_ttl=claim_ttl)
        processor.on("message_received", hang)
        await processor.start()
        await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
