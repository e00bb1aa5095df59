"""Which conversations an inbox lists: what is asked of UniPile, and what the server applies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from core.vocabulary import Channel
from crm import CandidateKind
from db.models import Account
from inbox.facts import ConversationFacts


@dataclass(frozen=True, slots=True)
class InboxFilter:
    account_ids: frozenset[int] | None = None
    channels: frozenset[Channel] | None = None
    unread: bool | None = None
    matched: bool | None = None
    stored: bool | None = None
    linked_to: tuple[CandidateKind, int] | None = None
    folder: str | None = None

    @property
    def key(self) -> str:
        """A digest of the filter: a cursor only continues the list it came from."""
        parts = {
            "a": sorted(self.account_ids or ()),
            "c": sorted(self.channels or ()),
            "u": self.unread,
            "m": self.matched,
            "s": self.stored,
            "l": list(self.linked_to) if self.linked_to else None,
            "f": self.folder,
        }
        return hashlib.blake2b(orjson.dumps(parts), digest_size=8).hexdigest()

    @property
    def applied_here(self) -> bool:
        return (
            self.unread is not None
            or self.matched is not None
            or self.stored is not None
            or self.linked_to is not None
        )

    def selects(self, account: Account) -> bool:
        return (
            (self.account_ids is None or account.id in self.account_ids)
            and (self.channels is None or account.channel in self.channels)
            and (self.folder is None or account.channel is Channel.EMAIL)
        )

    def accepts(self, facts: ConversationFacts) -> bool:
        record = facts.record
        if self.unread is not None and (record.unread_count > 0) != self.unread:
            return False
        if self.matched is not None and facts.matched != self.matched:
            return False
        if self.stored is not None and (facts.state.stored_id is not None) != self.stored:
            return False
        if self.linked_to is not None:
            targets = {(link.target, link.target_id) for link in facts.state.active_links}
            return self.linked_to in targets
        return True
