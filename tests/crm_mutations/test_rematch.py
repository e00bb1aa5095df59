"""Retroactive matching: a contact's or company's new identifiers link the stored conversations
they match, in the same transaction, once, never over a tombstone, in a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.ids import int_key
from core.vocabulary import Channel, LinkSource, MatchMethod, ParticipantRole, StorageReason
from db.models import (
    Account,
    Conversation,
    ConversationLink,
    ConversationParticipant,
    User,
    Workspace,
)
from tests.crm_mutations.conftest import Rival
from tests.crm_mutations.graphql import (
    CREATE_COMPANY,
    CREATE_CONTACT,
    DELETE_CONTACT,
    UPDATE_COMPANY,
    UPDATE_CONTACT,
    succeed,
)
from tests.inbox.conftest import Inbox
from unipile.sandbox.demo import GMAIL_ID, LINKEDIN_ID, WHATSAPP_ID

# The underscore would match any character in an unescaped LIKE pattern.
NINA = "nina_stored@example-stored.com"


async def stored(
    account: Account,
    external_id: str,
    *others: tuple[str, str],
    own: tuple[str, str] | None = None,
) -> None:
    """A stored conversation of `account` with `others` as (identifier, UniPile type), as
    `storing.copies` writes them, and the account itself (`own`) if given."""
    conversation = await Conversation.create(
        workspace_id=account.workspace_id,
        account=account,
        external_id=external_id,
        channel=account.channel,
        storage_reason=StorageReason.MANUAL_STORE,
    )
    people = [(identifier, kind, False) for identifier, kind in others]
    if own is not None:
        people.append((*own, True))
    await ConversationParticipant.bulk_create(
        ConversationParticipant(
            conversation=conversation,
            identifier=identifier,
            identifier_type=kind,
            role=ParticipantRole.MEMBER,
            is_self=is_self,
        )
        for identifier, kind, is_self in people
    )


async def links(**target: int) -> dict[str, tuple[LinkSource, MatchMethod | None, bool]]:
    """The links to a contact or company by conversation: (source, rule, removed)."""
    rows = await ConversationLink.filter(**target)
    return {
        row.conversation_external_id: (row.source, row.rule, row.removed_at is not None)
        for row in rows
    }


async def test_a_new_contact_links_the_stored_conversations_it_matches(
    inbox: Inbox, rival: Rival
) -> None:
    gmail = await Account.get(unipile_id=GMAIL_ID)
    whatsapp = await Account.get(unipile_id=WHATSAPP_ID)
    linkedin = await Account.get(unipile_id=LINKEDIN_ID)
    await stored(gmail, "t-tagged", ("Nina_Stored+News@Example-Stored.com", "EMAIL_ADDRESS"))
    await stored(gmail, "t-plain", (NINA, "EMAIL_ADDRESS"), ("someone@else.org", "EMAIL_ADDRESS"))
    await stored(gmail, "t-other", ("other@example-stored.com", "EMAIL_ADDRESS"))
    await stored(gmail, "t-look-alike", ("ninaxstored@example-stored.com", "EMAIL_ADDRESS"))
    await stored(gmail, "t-unicode", ("Nina_Stored@Bücher.example", "EMAIL_ADDRESS"))
    # The address as the account's own identity (a colleague's mailbox) is no match.
    await stored(gmail, "t-self", ("x@y.org", "EMAIL_ADDRESS"), own=(NINA, "EMAIL_ADDRESS"))
    await stored(whatsapp, "c-jid", ("33612345678@s.whatsapp.net", "WHATSAPP_JID"))
    await stored(whatsapp, "c-national", ("06 12 34 56 78", "PHONE_NUMBER"))
    await stored(whatsapp, "c-near", ("33612345679@s.whatsapp.net", "WHATSAPP_JID"))
    await stored(linkedin, "l-1", ("ACoAAStored_1", "LINKEDIN_ID"))
    await stored(linkedin, "l-2", ("ACoAAStored%1", "LINKEDIN_ID"))
    # The same address in another workspace's stored conversation stays theirs.
    rival_workspace = await Workspace.get(slug="rival")
    rival_account = await Account.create(
        workspace=rival_workspace,
        owner=await User.get(email="eve@rival.test"),
        channel=Channel.EMAIL,
        provider="MAIL",
        unipile_id="acc_rival_mail",
        name="eve@rival.test",
    )
    await stored(rival_account, "t-rival", (NINA, "EMAIL_ADDRESS"))

    contact = (
        await succeed(
            inbox,
            CREATE_CONTACT,
            {
                "firstName": "Nina",
                "lastName": "Stored",
                "emails": [NINA.upper(), "nina_stored@xn--bcher-kva.example"],
                "phones": ["+33 6 12 34 56 78"],
                "providerIds": ["ACoAAStored_1"],
            },
        )
    )["contact"]

    pk = int_key(contact["id"], "Contact")
    assert await links(contact_id=pk) == {
        "t-tagged": (LinkSource.MATCHER, MatchMethod.EMAIL, False),
        "t-plain": (LinkSource.MATCHER, MatchMethod.EMAIL, False),
        "t-unicode": (LinkSource.MATCHER, MatchMethod.EMAIL, False),
        "c-jid": (LinkSource.MATCHER, MatchMethod.PHONE, False),
        "c-national": (LinkSource.MATCHER, MatchMethod.PHONE, False),
        "l-1": (LinkSource.MATCHER, MatchMethod.PROVIDER_ID, False),
    }
    await succeed(inbox, DELETE_CONTACT, {"id": contact["id"]})
    assert await ConversationLink.all().count() == 0, "a deleted contact's links go with it"


async def test_tombstones_are_respected_and_links_made_once(inbox: Inbox) -> None:
    gmail = await Account.get(unipile_id=GMAIL_ID)
    alice = await User.get(email="alice@demo.switchboard.test")
    await stored(gmail, "t-unlinked", ("second@example-stored.com", "EMAIL_ADDRESS"))
    await stored(gmail, "t-open", ("second@example-stored.com", "EMAIL_ADDRESS"))
    await stored(gmail, "t-first", (NINA, "EMAIL_ADDRESS"))
    contact = (
        await succeed(inbox, CREATE_CONTACT, {"firstName": "N", "lastName": "S", "emails": [NINA]})
    )["contact"]
    pk = int_key(contact["id"], "Contact")
    assert set(await links(contact_id=pk)) == {"t-first"}
    # A user unlinked the contact from t-unlinked before it had the second address.
    now = datetime.now(UTC)
    await ConversationLink.create(
        workspace_id=gmail.workspace_id,
        account=gmail,
        conversation_external_id="t-unlinked",
        contact_id=pk,
        source=LinkSource.USER,
        created_by=alice,
        removed_at=now,
        removed_by=alice,
    )

    for _ in range(2):
        await succeed(
            inbox,
            UPDATE_CONTACT,
            {"id": contact["id"], "emails": [NINA, "second@example-stored.com"]},
        )

    assert await links(contact_id=pk) == {
        "t-first": (LinkSource.MATCHER, MatchMethod.EMAIL, False),
        "t-unlinked": (LinkSource.USER, None, True),
        "t-open": (LinkSource.MATCHER, MatchMethod.EMAIL, False),
    }


async def test_a_company_s_new_domains_link_by_domain(inbox: Inbox) -> None:
    gmail = await Account.get(unipile_id=GMAIL_ID)
    await stored(gmail, "t-a", ("anna@example-stored.com", "EMAIL_ADDRESS"))
    await stored(gmail, "t-sub", ("ben@eu.mail.example-stored.com", "EMAIL_ADDRESS"))
    await stored(gmail, "t-look-alike", ("carl@notexample-stored.com", "EMAIL_ADDRESS"))
    await stored(gmail, "t-b", ("dora@second-stored.org", "EMAIL_ADDRESS"))
    company = (
        await succeed(
            inbox, CREATE_COMPANY, {"name": "Stored Inc", "domains": ["example-stored.com"]}
        )
    )["company"]
    pk = int_key(company["id"], "Company")
    assert await links(company_id=pk) == {
        "t-a": (LinkSource.MATCHER, MatchMethod.DOMAIN, False),
        "t-sub": (LinkSource.MATCHER, MatchMethod.DOMAIN, False),
    }
    await succeed(
        inbox,
        UPDATE_COMPANY,
        {"id": company["id"], "domains": ["example-stored.com", "second-stored.org"]},
    )
    assert set(await links(company_id=pk)) == {"t-a", "t-sub", "t-b"}


async def cost(inbox: Inbox, given: dict[str, Any]) -> int:
    result = await inbox.query(CREATE_CONTACT, {"input": given})
    assert result["data"]["createContact"]["error"] is None
    queries: int = result["extensions"]["cost"]["dbQueries"]
    return queries


async def test_re_matching_costs_the_same_for_one_or_many_matches(inbox: Inbox) -> None:
    gmail = await Account.get(unipile_id=GMAIL_ID)
    whatsapp = await Account.get(unipile_id=WHATSAPP_ID)
    await stored(gmail, "t-one", ("one@example-stored.com", "EMAIL_ADDRESS"))
    for index in range(6):
        await stored(
            gmail,
            f"t-many-{index}",
            (f"many{index % 3}@example-stored.com", "EMAIL_ADDRESS"),
            ("one@example-stored.com", "EMAIL_ADDRESS"),
        )
        await stored(whatsapp, f"c-many-{index}", ("+33 6 12 34 56 78", "PHONE_NUMBER"))
    one = await cost(
        inbox, {"firstName": "One", "lastName": "Match", "emails": ["one@example-stored.com"]}
    )
    many = await cost(
        inbox,
        {
            "firstName": "Many",
            "lastName": "Matches",
            "emails": [f"many{index}@example-stored.com" for index in range(3)],
            "phones": ["0612345678"],
        },
    )
    assert await ConversationLink.all().count() == 7 + 12
    assert one == many, (one, many)
