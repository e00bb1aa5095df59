"""The vocabulary of Switchboard: every enumeration the database, the rules and the schema share.

Each is a `StrEnum` whose values are what the database stores, so that a value read from a row,
a rule's result and a GraphQL enum are the same object.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "EMAIL"
    WHATSAPP = "WHATSAPP"
    LINKEDIN = "LINKEDIN"
    INSTAGRAM = "INSTAGRAM"
    TELEGRAM = "TELEGRAM"
    MESSENGER = "MESSENGER"
    TWITTER = "TWITTER"
    SLACK = "SLACK"

    @property
    def is_email(self) -> bool:
        return self is Channel.EMAIL


class Role(StrEnum):
    """What a user may do in their workspace: an ADMIN also acts on the workspace as a whole."""

    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


class AccountStatus(StrEnum):
    """A connected account's state, as UniPile's account-status events name it."""

    OK = "OK"
    CONNECTING = "CONNECTING"
    CREDENTIALS = "CREDENTIALS"
    PERMISSIONS = "PERMISSIONS"
    ERROR = "ERROR"
    STOPPED = "STOPPED"
    DELETED = "DELETED"


class HostedAuthKind(StrEnum):
    """What a UniPile hosted-auth link is for: its `type`."""

    CREATE = "create"
    RECONNECT = "reconnect"


class IdentifierKind(StrEnum):
    """The kinds of identifier a CRM contact carries and a participant is matched by."""

    EMAIL = "EMAIL"
    PHONE = "PHONE"
    PROVIDER_ID = "PROVIDER_ID"


class NeverStoreKind(StrEnum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    DOMAIN = "DOMAIN"


class StoragePolicy(StrEnum):
    AUTO = "AUTO"
    MANUAL = "MANUAL"
    NEVER = "NEVER"


class StorageAction(StrEnum):
    """What a storage rule does with the conversations it holds for."""

    STORE = "STORE"
    """Stored automatically."""
    SUGGEST = "SUGGEST"
    """`shouldStore`: a user decides."""
    NEVER = "NEVER"


class StorageAuditAction(StrEnum):
    """What a storage audit entry records."""

    RULES_CHANGED = "RULES_CHANGED"
    PURGED = "PURGED"
    EXPIRED = "EXPIRED"
    """Deleted by a rule's retention."""


class RuleMatch(StrEnum):
    """The CRM match a storage rule asks of a conversation."""

    CONTACT = "CONTACT"
    COMPANY = "COMPANY"
    EITHER = "EITHER"
    NONE = "NONE"
    """No contact nor company matched."""


class StorageReason(StrEnum):
    CONTACT_MATCH = "CONTACT_MATCH"
    COMPANY_MATCH = "COMPANY_MATCH"
    RULE = "RULE"
    """A rule stores or suggests it without a CRM match (a shared mailbox's every thread)."""
    MANUAL_LINK = "MANUAL_LINK"
    MANUAL_STORE = "MANUAL_STORE"
    BLOCKED = "BLOCKED"
    NONE = "NONE"


class MatchMethod(StrEnum):
    """How a participant was tied to a CRM record; the confidence of each lives in `crm`."""

    EMAIL = "EMAIL"
    PHONE = "PHONE"
    PROVIDER_ID = "PROVIDER_ID"
    DOMAIN = "DOMAIN"
    CONTACT_COMPANY = "CONTACT_COMPANY"
    MANUAL = "MANUAL"


class LinkSource(StrEnum):
    """Who created a link between a conversation and a CRM record."""

    USER = "USER"
    MATCHER = "MATCHER"


class ConversationSource(StrEnum):
    """Where the inbox read a conversation from."""

    LIVE = "LIVE"
    STALE = "STALE"
    STORED = "STORED"


class Direction(StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class ParticipantRole(StrEnum):
    FROM = "FROM"
    TO = "TO"
    CC = "CC"
    BCC = "BCC"
    MEMBER = "MEMBER"


class ReceiptState(StrEnum):
    PENDING = "PENDING"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


def sql_in(enum: type[StrEnum]) -> str:
    """The SQL list of an enumeration's values, for CHECK constraints."""
    return ", ".join(f"'{member.value}'" for member in enum)


_CHANNEL_OF_PROVIDER = {
    "GOOGLE_OAUTH": Channel.EMAIL,
    "GOOGLE": Channel.EMAIL,
    "OUTLOOK": Channel.EMAIL,
    "MAIL": Channel.EMAIL,
    "ICLOUD": Channel.EMAIL,
    "EXCHANGE": Channel.EMAIL,
}


def channel_for_provider(provider: str) -> Channel:
    """The channel of a UniPile account type: mail providers are EMAIL, the others name theirs."""
    return _CHANNEL_OF_PROVIDER.get(provider) or Channel(provider)


class JobState(StrEnum):
    """A store job's state: PENDING until stored, FAILED between retries and once given up."""

    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"
