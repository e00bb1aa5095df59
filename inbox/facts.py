"""What the inbox knows of a conversation once its batches are loaded: participants, their CRM
matches, the stored copy and links, and the storage decision.

A batch is loaded in a fixed number of queries and requests, however many conversations it holds:
one `resolve` for every participant, one read of stored copies and links, one of the storage rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import (
    AccountDisconnected,
    SwitchboardError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from core.ids import to_global_id
from core.vocabulary import IdentifierKind, StorageReason
from crm import (
    ConversationTraits,
    Identifier,
    Match,
    Rejected,
    StorageDecision,
    StorageFacts,
    classify_participant,
    decide_storage,
)
from db.models import Account
from inbox.loaders import MembersUnavailable
from inbox.reading import Reading
from inbox.records import ConversationRecord, ParticipantRecord, attendee_participants
from inbox.state import ConversationState
from unipile import AccountDisconnectedError, AuthenticationError, RateLimitedError, UnipileError


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    """Everything a page knows of one conversation once its batches are loaded."""

    record: ConversationRecord
    participants: tuple[ParticipantRecord, ...]
    identifiers: tuple[Identifier | None, ...]
    matches: tuple[Match | None, ...]
    state: ConversationState
    storage: StorageFacts
    """What the storage decision read: to decide again under other rules (a preview)."""
    decision: StorageDecision

    @property
    def matched(self) -> bool:
        return any(
            match is not None and not match.is_own and match.candidates for match in self.matches
        )


def participant_identifier(participant: ParticipantRecord, region: str | None) -> Identifier | None:
    if participant.is_self:
        return None
    identifier = classify_participant(
        participant.identifier, participant.identifier_type, region=region
    )
    return None if isinstance(identifier, Rejected) else identifier


def upstream_error(account: Account, error: UnipileError) -> SwitchboardError:
    """The client's error for one account's upstream failure, naming the account."""
    details = {
        "accountId": to_global_id("Account", account.id),
        "accountExternalId": account.unipile_id,
    }
    message = f"account {account.name} ({account.unipile_id}): "
    if isinstance(error, RateLimitedError):
        return UpstreamRateLimited(
            message + "UniPile is rate limiting", retryAfter=error.retry_after, **details
        )
    if isinstance(error, AccountDisconnectedError | AuthenticationError):
        return AccountDisconnected(message + "the account must be reconnected", **details)
    return UpstreamUnavailable(message + "UniPile is unavailable", **details)


async def _participants(
    reading: Reading, records: Sequence[ConversationRecord]
) -> list[tuple[ParticipantRecord, ...]]:
    """Each conversation's participants; group chats' members are read from UniPile, in a batch."""
    groups = [record for record in records if record.participants is None]
    attendees = await reading.loaders.attendees_by_chat.load_many(
        [(record.account.unipile_id, record.external_id) for record in groups]
    )
    members: dict[tuple[int, str], tuple[ParticipantRecord, ...]] = {}
    unavailable: dict[int, SwitchboardError] = {}
    for record, listed in zip(groups, attendees, strict=True):
        if isinstance(listed, MembersUnavailable):
            members[record.key] = ()
            unavailable[record.account.id] = upstream_error(record.account, listed.error)
        else:
            members[record.key] = attendee_participants(record.account, listed)
    # A group whose members could not be read is shown without them, its account named.
    reading.problems.extend(unavailable.values())
    return [record.participants or members[record.key] for record in records]


# Classifying a participant is a pure function of these four, and the same people (the accounts
# themselves first) recur across a page and across pages: each is classified once per process,
# the table bounded by starting again when full.
_CLASSIFIED: dict[tuple[str, str, bool, str | None], Identifier | None] = {}
CLASSIFIED_SIZE = 8192


def identify_all(
    people: Sequence[tuple[ParticipantRecord, ...]], region: str | None
) -> list[tuple[Identifier | None, ...]]:
    """Each group's identifiers, each person classified once (`_CLASSIFIED`)."""
    classified = _CLASSIFIED

    def identify(p: ParticipantRecord) -> Identifier | None:
        key = (p.identifier, p.identifier_type, p.is_self, region)
        try:
            return classified[key]
        except KeyError:
            if len(classified) >= CLASSIFIED_SIZE:
                classified.clear()
            found = classified[key] = participant_identifier(p, region)
            return found

    return [tuple(map(identify, group)) for group in people]


async def load_matches(
    reading: Reading, identifiers: Sequence[tuple[Identifier | None, ...]]
) -> dict[Identifier, Match]:
    """The CRM matches of every identifier of a batch, in one load."""
    wanted = list({i for group in identifiers for i in group if i is not None})
    found = await reading.loaders.crm_match_by_identifier.load_many(wanted)
    return dict(zip(wanted, found, strict=True))


async def load_facts(
    reading: Reading, records: Sequence[ConversationRecord]
) -> list[ConversationFacts]:
    """The facts of a batch of conversations, in a fixed number of queries and requests."""
    participants = await _participants(reading, records)
    identifiers = identify_all(participants, reading.scope.region)
    matches = await load_matches(reading, identifiers)
    states = await reading.loaders.conversation_state_by_key.load_many(
        [record.key for record in records]
    )
    rules = await reading.rules()
    facts = []
    for record, people, ids, state in zip(records, participants, identifiers, states, strict=True):
        found = tuple(None if i is None else matches[i] for i in ids)
        storage = StorageFacts(
            traits=conversation_traits(record, people, ids),
            matches=tuple(m for m in found if m is not None),
            links=tuple(link.state() for link in state.links),
            manually_stored=state.storage_reason is StorageReason.MANUAL_STORE,
        )
        decision = decide_storage(storage, rules)
        facts.append(ConversationFacts(record, people, ids, found, state, storage, decision))
    return facts


def conversation_traits(
    record: ConversationRecord,
    people: Sequence[ParticipantRecord],
    identifiers: Sequence[Identifier | None],
) -> ConversationTraits:
    """What the storage rules read of a conversation: the account's own participants left out,
    and anyone whose identifier is not an email address counted as such."""
    others = [i for p, i in zip(people, identifiers, strict=True) if not p.is_self]
    emails = [i for i in others if i is not None and i.kind is IdentifierKind.EMAIL]
    return ConversationTraits(
        channel=record.channel,
        account_id=record.account.id,
        domains=frozenset(i.value.rpartition("@")[2] for i in emails),
        participants=len(others),
        has_non_email_participant=len(emails) < len(others),
        is_group=record.is_group,
        folders=record.folders,
    )
