"""The vocabulary's enumerations, registered with Strawberry under the same names.

`strawberry.enum` marks the class itself, so the schema's types annotate with the vocabulary's
classes, imported from here to make sure they are registered.
"""

from __future__ import annotations

import strawberry

from core.vocabulary import (
    AccountStatus,
    Channel,
    ConversationSource,
    Direction,
    LinkSource,
    MatchMethod,
    ParticipantRole,
    RuleMatch,
    StorageAction,
    StorageReason,
)
from crm import CandidateKind

strawberry.enum(Channel, description="A kind of messaging channel.")
strawberry.enum(AccountStatus, description="A connected account's state, as UniPile reports it.")
strawberry.enum(StorageReason, description="Why a conversation is, or should be, stored.")
strawberry.enum(
    StorageAction,
    description="What a storage rule does. STORE: stored automatically. SUGGEST: `shouldStore`, "
    "a user decides. NEVER: neither.",
)
strawberry.enum(
    RuleMatch,
    description="The CRM match a storage rule asks for; NONE: no contact nor company matched.",
)
strawberry.enum(MatchMethod, description="How a participant was tied to a CRM record.")
strawberry.enum(LinkSource, description="Who created a link.")
strawberry.enum(
    ConversationSource,
    description="Where a conversation was read from. LIVE: from UniPile, directly or from the live "
    "cache while it is current. STALE: the inbox could not list its account, so this is the last "
    "copy read from UniPile (see `fetchedAt`). STORED: the stored copy, for a contact's or "
    "company's linked conversations, or in the inbox when its account could not be listed and no "
    "live copy was at hand. In the inbox, STALE and STORED come with an error naming the account "
    "(`UPSTREAM_UNAVAILABLE`, `ACCOUNT_DISCONNECTED` or `UPSTREAM_RATE_LIMITED`).",
)
strawberry.enum(Direction)
strawberry.enum(ParticipantRole)
strawberry.enum(CandidateKind, name="CrmRecordKind", description="The kind of a CRM record.")

__all__ = [
    "AccountStatus",
    "CandidateKind",
    "Channel",
    "ConversationSource",
    "Direction",
    "LinkSource",
    "MatchMethod",
    "ParticipantRole",
    "RuleMatch",
    "StorageAction",
    "StorageReason",
]
