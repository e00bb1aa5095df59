"""Re-matching stored conversations: when a contact gains identifiers or a company gains domains,
the stored conversations of the workspace that now match it get a MATCHER link.

`link_stored_conversations` does it for one record in a fixed number of queries; the one-record
mutations call it in their transaction, the bulk upserts call `link_upserted` after theirs, in
batches, off the request.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import phonenumbers
from tortoise.connection import get_connection

from core.vocabulary import IdentifierKind, LinkSource
from crm.caching import Kept, bump
from crm.matching import Candidate, CandidateKind, resolve
from crm.normalize import Identifier, Rejected, classify_participant, unicode_host
from db.models import Account, ConversationLink
from db.sql import placeholders

__all__ = ["BATCH_RECORDS", "link_stored_conversations", "link_upserted"]

ConversationKey = tuple[int, str]
# Records re-matched between two yields to the event loop, so that a bulk re-match in the
# background never holds the loop for long.
BATCH_RECORDS = 50


# -- re-matching stored conversations ---------------------------------------------------------
#
# `ConversationParticipant.identifier` holds what UniPile sent (`Jane.Doe@Acme.com`,
# `33612345678@s.whatsapp.net`, `+33 6 12 34 56 78`), not the normalised form, so no index finds
# a normalised value. One query selects a superset of the rows that can match, by patterns that
# every spelling of a value satisfies; each row is then classified in Python exactly as the inbox
# classifies a live participant, and `crm.resolve` decides what it matches, by the same rules as
# a read (an exact address before its untagged form, the accounts' own identities never). At most
# six queries, however many identifiers and conversations: the candidates, the workspace's own
# identifiers, `resolve` (one or two), the target's existing links, the insert.

_CANDIDATES_SQL = """
SELECT c.account_id, c.external_id, p.identifier, p.identifier_type
FROM conversation_participant p
JOIN conversation c ON c.id = p.conversation_id
WHERE c.workspace_id = {workspace} AND NOT p.is_self AND ({conditions})
"""
_LIKE_LOWER = "LOWER(p.identifier) LIKE {} ESCAPE '\\'"
# The participant's identifier without phone punctuation, in SQL both SQLite and PostgreSQL run.
_PHONE_DIGITS = (
    "REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE("
    "p.identifier, ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '/', '') LIKE {}"
)
_PROVIDER_ID = "TRIM(p.identifier) = {}"


def _like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern escaped with a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _host_spellings(host: str) -> list[str]:
    """A normalised (punycode) host, and its Unicode form if it differs: UniPile gives an
    address as it was received, in either."""
    unicode = unicode_host(host)
    return [host] if unicode == host else [host, unicode]


def _email_patterns(address: str) -> list[str]:
    """LIKE patterns every lower-cased spelling of a participant matching `address` satisfies:
    the address itself and, for an address without a tag, its tagged forms (`jane+x@`)."""
    local, _, host = address.rpartition("@")
    locals_ = [_like(local)] if "+" in local else [_like(local), f"{_like(local)}+%"]
    return [f"{part}@{_like(spelling)}" for spelling in _host_spellings(host) for part in locals_]


def _candidate_conditions(
    identifiers: Sequence[Identifier], domains: Sequence[str]
) -> list[tuple[str, str]]:
    """(SQL condition with one `{}` for its parameter, parameter) for every pattern."""
    conditions: list[tuple[str, str]] = []
    for identifier in identifiers:
        if identifier.kind is IdentifierKind.EMAIL:
            conditions += [(_LIKE_LOWER, p) for p in _email_patterns(identifier.value)]
        elif identifier.kind is IdentifierKind.PHONE:
            # Every spelling of a number (E.164, national with a trunk prefix, a WhatsApp JID)
            # holds its national significant number as a run of digits once punctuation is gone.
            number = phonenumbers.parse(identifier.value)
            significant = phonenumbers.national_significant_number(number)
            conditions.append((_PHONE_DIGITS, f"%{significant}%"))
        else:
            conditions.append((_PROVIDER_ID, identifier.value))
    for domain in domains:
        # Addresses at the domain or at any of its subdomains.
        for spelling in map(_like, _host_spellings(domain)):
            conditions += [(_LIKE_LOWER, f"%@{spelling}"), (_LIKE_LOWER, f"%.{spelling}")]
    return conditions


async def _candidate_participants(
    workspace_id: int, identifiers: Sequence[Identifier], domains: Sequence[str]
) -> list[dict[str, Any]]:
    conditions = _candidate_conditions(identifiers, domains)
    marks = placeholders(1, len(conditions) + 1)
    sql = _CANDIDATES_SQL.format(
        workspace=marks[0],
        conditions=" OR ".join(
            template.format(mark) for (template, _), mark in zip(conditions, marks[1:], strict=True)
        ),
    )
    parameters = [workspace_id, *(parameter for _, parameter in conditions)]
    return await get_connection("default").execute_query_dict(sql, parameters)


async def _own_identifiers(workspace_id: int) -> list[Identifier]:
    """The workspace's connected accounts' own addresses and numbers: never a match. Those of
    disconnected accounts match again, as in the live inbox (whose scope leaves them out)."""
    lists = await Account.filter(workspace_id=workspace_id, detached_at=None).values_list(
        "own_identifiers", flat=True
    )
    return [
        Identifier(IdentifierKind(entry["kind"]), str(entry["value"]))
        for entries in lists
        for entry in entries
    ]


async def link_stored_conversations(
    workspace_id: int,
    region: str | None,
    target: CandidateKind,
    target_id: int,
    *,
    identifiers: Sequence[Identifier] = (),
    domains: Sequence[str] = (),
) -> None:
    """Link `target` to every stored conversation of the workspace one of whose participants it
    now matches through new `identifiers` (a contact's) or `domains` (a company's), except where
    a user removed such a link (a tombstone) or a link already exists.

    `region` reads national phone numbers; a company matches by email only, so it needs none.
    """
    if not identifiers and not domains:
        return
    rows = await _candidate_participants(workspace_id, identifiers, domains)
    conversations_of: defaultdict[Identifier, set[ConversationKey]] = defaultdict(set)
    for row in rows:
        identifier = classify_participant(row["identifier"], row["identifier_type"], region=region)
        if not isinstance(identifier, Rejected):
            conversations_of[identifier].add((row["account_id"], row["external_id"]))
    if not conversations_of:
        return
    matches = await resolve(
        workspace_id, conversations_of, own_identifiers=await _own_identifiers(workspace_id)
    )
    # The most confident way each conversation matches the target.
    rule: dict[ConversationKey, Candidate] = {}
    for identifier, keys in conversations_of.items():
        for candidate in matches[identifier].candidates:
            if candidate.kind is not target or candidate.id != target_id:
                continue
            for key in keys:
                if key not in rule or candidate.confidence > rule[key].confidence:
                    rule[key] = candidate
    target_field = "contact_id" if target is CandidateKind.CONTACT else "company_id"
    linked = await ConversationLink.filter(
        workspace_id=workspace_id, **{target_field: target_id}
    ).values_list("account_id", "conversation_external_id")
    for key in linked:
        rule.pop((key[0], key[1]), None)
    await ConversationLink.bulk_create(
        (
            ConversationLink(
                workspace_id=workspace_id,
                account_id=account_id,
                conversation_external_id=external_id,
                source=LinkSource.MATCHER,
                rule=candidate.method,
                **{target_field: target_id},
            )
            for (account_id, external_id), candidate in rule.items()
        ),
        # A link made meanwhile by a user or by a concurrent re-match wins.
        ignore_conflicts=True,
    )


async def link_upserted(
    workspace_id: int,
    region: str | None,
    identifiers: Mapping[int, Sequence[Identifier]],
    domains: Mapping[int, Sequence[str]],
) -> None:
    """Re-match every upserted record that gained identifiers (contacts) or domains
    (companies), `BATCH_RECORDS` at a time, yielding to the event loop between batches."""
    targets: list[tuple[CandidateKind, int]] = [
        *((CandidateKind.CONTACT, key) for key in identifiers),
        *((CandidateKind.COMPANY, key) for key in domains),
    ]
    for start in range(0, len(targets), BATCH_RECORDS):
        for kind, key in targets[start : start + BATCH_RECORDS]:
            await link_stored_conversations(
                workspace_id,
                region,
                kind,
                key,
                identifiers=identifiers.get(key, ()) if kind is CandidateKind.CONTACT else (),
                domains=domains.get(key, ()) if kind is CandidateKind.COMPANY else (),
            )
        await bump(workspace_id, Kept.STORED_CONVERSATIONS)
        await asyncio.sleep(0)
