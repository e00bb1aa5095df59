"""Upserted records link the stored conversations they match, in the background, after the call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from core.ids import int_key
from core.vocabulary import LinkSource, MatchMethod
from db.models import Account, ConversationLink
from tests.crm_mutations.test_rematch import links, stored
from tests.crm_upserts.graphql import upsert_companies, upsert_contacts
from tests.inbox.conftest import Inbox
from unipile.sandbox.demo import GMAIL_ID, OUTLOOK_ID, WHATSAPP_ID


async def eventually_linked(count: int) -> None:
    for _ in range(200):
        if await ConversationLink.all().count() >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} links after 10 s")


async def test_upserted_records_link_the_stored_conversations_they_match(inbox: Inbox) -> None:
    gmail = await Account.get(unipile_id=GMAIL_ID)
    whatsapp = await Account.get(unipile_id=WHATSAPP_ID)
    await stored(gmail, "t-nina", ("Nina.Bulk+x@Example-Bulk.com", "EMAIL_ADDRESS"))
    await stored(gmail, "t-colleague", ("someone@bulk-corp.com", "EMAIL_ADDRESS"))
    await stored(whatsapp, "c-nina", ("33612345671@s.whatsapp.net", "WHATSAPP_JID"))
    await stored(gmail, "t-stranger", ("stranger@elsewhere.org", "EMAIL_ADDRESS"))
    [company] = await upsert_companies(
        inbox, [{"externalId": "co-bulk", "name": "Bulk", "domains": ["bulk-corp.com"]}]
    )
    many = [
        {"externalId": f"filler-{i}", "emails": [f"filler.{i}@example-bulk.com"]}
        for i in range(120)
    ]
    results = await upsert_contacts(
        inbox,
        [
            *many,
            {
                "externalId": "nina",
                "firstName": "Nina",
                "emails": ["nina.bulk@example-bulk.com"],
                "phones": ["+33 6 12 34 56 71"],
            },
        ],
    )
    await eventually_linked(3)
    nina = int_key(results[-1]["contact"]["id"], "Contact")
    assert await links(contact_id=nina) == {
        "t-nina": (LinkSource.MATCHER, MatchMethod.EMAIL, False),
        "c-nina": (LinkSource.MATCHER, MatchMethod.PHONE, False),
    }
    assert await links(company_id=int_key(company["company"]["id"], "Company")) == {
        "t-colleague": (LinkSource.MATCHER, MatchMethod.DOMAIN, False),
    }
    # Upserted again, unchanged: nothing new to match, nothing linked twice.
    await upsert_contacts(inbox, many)
    await asyncio.sleep(0.2)
    assert await ConversationLink.all().count() == 3


async def test_a_disconnected_account_s_address_matches_like_anyone_s(inbox: Inbox) -> None:
    """A connected account's own address is never a match; once disconnected, it is a participant
    like any other, as the live inbox already sees it."""
    gmail = await Account.get(unipile_id=GMAIL_ID)
    outlook = await Account.get(unipile_id=OUTLOOK_ID)
    [own] = [entry["value"] for entry in outlook.own_identifiers if entry["kind"] == "EMAIL"]
    await stored(gmail, "t-from-outlook", (own, "EMAIL_ADDRESS"))
    await Account.filter(id=outlook.id).update(detached_at=datetime.now(UTC))
    [result] = await upsert_contacts(inbox, [{"externalId": "old-me", "emails": [own]}])
    await eventually_linked(1)
    assert await links(contact_id=int_key(result["contact"]["id"], "Contact")) == {
        "t-from-outlook": (LinkSource.MATCHER, MatchMethod.EMAIL, False),
    }
