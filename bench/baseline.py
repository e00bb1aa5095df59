"""The stock Strawberry baseline the inbox benchmark compares Switchboard against (issue 15).

    python -m bench.baseline --port 8001                    # the recorded page (bench/recorded_page.json)
    python -m bench.baseline --port 8001 --page page.json   # any Switchboard response to `PAGE`

A server written the way Strawberry's documentation shows, nothing tuned: `strawberry.asgi.GraphQL`
served by `uvicorn.run` with its defaults, a per-request `strawberry.dataloader.DataLoader` for the
participants' CRM matches, and no Switchboard code at all. Its types have the names, fields and
nesting `bench.inbox.PAGE` selects, and nothing more: the stock server one would write to answer that
query from in-memory data.

The data is one Switchboard response to `PAGE`, turned back into records: the same conversations,
channels, participants, CRM matches, storage and links, so the page has the same size and shape and
the same strings. `bench.inbox` passes the first response of its run (`--page`); standing alone, the
server reads the recorded one. What the baseline does not do: ask UniPile, query a database, check a
token or apply a filter. Its cost is GraphQL over a page of the same shape, served by stock parts.
"""

# The module docstring's usage lines are kept whole.
# ruff: noqa: E501
# Strawberry's field decorator is not typed for mypy (pyproject.toml says the same for schema.*).
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import argparse
import base64
import enum
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import strawberry
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.dataloader import DataLoader

RECORDED_PAGE = Path(__file__).with_name("recorded_page.json")
HOST = "127.0.0.1"


@strawberry.enum
class Channel(enum.Enum):
    EMAIL = "EMAIL"
    WHATSAPP = "WHATSAPP"
    LINKEDIN = "LINKEDIN"
    INSTAGRAM = "INSTAGRAM"
    TELEGRAM = "TELEGRAM"
    MESSENGER = "MESSENGER"
    TWITTER = "TWITTER"
    SLACK = "SLACK"


@strawberry.enum
class ParticipantRole(enum.Enum):
    FROM = "FROM"
    TO = "TO"
    CC = "CC"
    BCC = "BCC"
    MEMBER = "MEMBER"


@strawberry.enum
class MatchMethod(enum.Enum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    PROVIDER_ID = "PROVIDER_ID"
    DOMAIN = "DOMAIN"
    CONTACT_COMPANY = "CONTACT_COMPANY"
    MANUAL = "MANUAL"


@strawberry.enum
class CrmRecordKind(enum.Enum):
    CONTACT = "CONTACT"
    COMPANY = "COMPANY"


@strawberry.enum
class LinkSource(enum.Enum):
    USER = "USER"
    MATCHER = "MATCHER"


@strawberry.enum
class StorageReason(enum.Enum):
    CONTACT_MATCH = "CONTACT_MATCH"
    COMPANY_MATCH = "COMPANY_MATCH"
    MANUAL_LINK = "MANUAL_LINK"
    CHANNEL_POLICY = "CHANNEL_POLICY"
    NEVER_STORE = "NEVER_STORE"
    NONE = "NONE"


@strawberry.type
class Account:
    id: strawberry.ID
    external_id: str


@strawberry.type
class CrmCandidate:
    id: strawberry.ID
    kind: CrmRecordKind
    name: str
    method: MatchMethod
    confidence: float


@strawberry.type
class CrmMatch:
    contact: CrmCandidate | None
    company: CrmCandidate | None
    method: MatchMethod | None
    confidence: float | None
    ambiguous: bool
    candidates: list[CrmCandidate]


@dataclass
class Context:
    """What every resolver of one request sees: a new loader per request, as Strawberry's docs do."""

    request: Request | WebSocket
    response: Response | WebSocket
    store: Store
    match_loader: DataLoader[str, CrmMatch | None]


@strawberry.type
class Participant:
    identifier: str
    identifier_type: str
    display_name: str | None
    is_self: bool
    role: ParticipantRole
    phone_number: str | None
    email_address: str | None

    @strawberry.field
    async def crm_match(self, info: strawberry.Info[Context, None]) -> CrmMatch | None:
        # The account itself is matched to nobody, as in Switchboard.
        if self.is_self:
            return None
        return await info.context.match_loader.load(self.identifier)


@strawberry.type
class StorageStatus:
    stored: bool
    should_store: bool
    reason: StorageReason
    stored_at: datetime | None


@strawberry.type
class ConversationLink:
    id: strawberry.ID
    target: CrmCandidate
    source: LinkSource
    rule: MatchMethod | None
    created_at: datetime


@strawberry.type
class Conversation:
    id: strawberry.ID
    external_id: str
    channel: Channel
    subject: str | None
    is_group: bool
    last_message_at: datetime | None
    last_message_preview: str | None
    unread_count: int
    has_attachments: bool
    can_link: bool
    account: Account
    participants: list[Participant]
    storage: StorageStatus
    links: list[ConversationLink]


@strawberry.type
class ConversationEdge:
    cursor: str
    node: Conversation


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ConversationConnection:
    edges: list[ConversationEdge]
    page_info: PageInfo


@strawberry.input
class ConversationFilter:
    """Switchboard's filter, so that `PAGE`'s `$filter: ConversationFilter` is valid here."""

    account_ids: list[strawberry.ID] | None = None
    channels: list[Channel] | None = None
    unread: bool | None = None
    matched: bool | None = None
    stored: bool | None = None
    linked_to: strawberry.ID | None = None
    folder: str | None = None


# --- the in-memory data: one Switchboard response to PAGE, as records --------------------------


def _candidate(value: dict[str, Any]) -> CrmCandidate:
    return CrmCandidate(
        id=strawberry.ID(value["id"]),
        kind=CrmRecordKind(value["kind"]),
        name=value["name"],
        method=MatchMethod(value["method"]),
        confidence=value["confidence"],
    )


def _target(value: dict[str, Any], rule: str | None) -> CrmCandidate:
    """A link's target: `PAGE` asks only its id and name, so the rest is what a link implies.

    The kind is the type of the global id (`Contact:…`, `Company:…`); a link is as sure as a
    manual match, whatever rule made it. These values are never serialized for `PAGE`.
    """
    kind = base64.b64decode(value["id"]).decode().split(":", 1)[0].upper()
    return CrmCandidate(
        id=strawberry.ID(value["id"]),
        kind=CrmRecordKind(kind),
        name=value["name"],
        method=MatchMethod(rule or "MANUAL"),
        confidence=1.0,
    )


def _match(value: dict[str, Any]) -> CrmMatch:
    # contact and company carry only id and name in PAGE; the full record is among the candidates.
    candidates = {each["id"]: _candidate(each) for each in value["candidates"]}
    return CrmMatch(
        contact=candidates[value["contact"]["id"]] if value["contact"] else None,
        company=candidates[value["company"]["id"]] if value["company"] else None,
        method=MatchMethod(value["method"]) if value["method"] else None,
        confidence=value["confidence"],
        ambiguous=value["ambiguous"],
        candidates=list(candidates.values()),
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _conversation(node: dict[str, Any]) -> Conversation:
    storage = node["storage"]
    return Conversation(
        id=strawberry.ID(node["id"]),
        external_id=node["externalId"],
        channel=Channel(node["channel"]),
        subject=node["subject"],
        is_group=node["isGroup"],
        last_message_at=_time(node["lastMessageAt"]),
        last_message_preview=node["lastMessagePreview"],
        unread_count=node["unreadCount"],
        has_attachments=node["hasAttachments"],
        can_link=node["canLink"],
        account=Account(
            id=strawberry.ID(node["account"]["id"]), external_id=node["account"]["externalId"]
        ),
        participants=[
            Participant(
                identifier=each["identifier"],
                identifier_type=each["identifierType"],
                display_name=each["displayName"],
                is_self=each["isSelf"],
                role=ParticipantRole(each["role"]),
                phone_number=each["phoneNumber"],
                email_address=each["emailAddress"],
            )
            for each in node["participants"]
        ],
        storage=StorageStatus(
            stored=storage["stored"],
            should_store=storage["shouldStore"],
            reason=StorageReason(storage["reason"]),
            stored_at=_time(storage["storedAt"]),
        ),
        links=[
            ConversationLink(
                id=strawberry.ID(link["id"]),
                target=_target(link["target"], link["rule"]),
                source=LinkSource(link["source"]),
                rule=MatchMethod(link["rule"]) if link["rule"] else None,
                created_at=datetime.fromisoformat(link["createdAt"]),
            )
            for link in node["links"]
        ],
    )


@dataclass(frozen=True)
class Store:
    """The conversations, newest first, and the CRM match of every identifier seen on them."""

    conversations: list[Conversation]
    matches: dict[str, CrmMatch | None]

    @classmethod
    def from_response(cls, response: dict[str, Any]) -> Store:
        nodes = [edge["node"] for edge in response["data"]["conversations"]["edges"]]
        # A CRM match belongs to an identifier, not to a conversation: the same for every
        # conversation the identifier is in, as in the response.
        matches = {
            each["identifier"]: _match(each["crmMatch"]) if each["crmMatch"] else None
            for node in nodes
            for each in node["participants"]
            if not each["isSelf"]
        }
        return cls([_conversation(node) for node in nodes], matches)

    async def load_matches(self, identifiers: list[str]) -> list[CrmMatch | None]:
        """The DataLoader's batch function: one lookup for all the identifiers of a page."""
        return [self.matches.get(identifier) for identifier in identifiers]


def read_store(path: Path) -> Store:
    return Store.from_response(orjson.loads(path.read_bytes()))


# --- the schema and the app -----------------------------------------------------------------


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    return int(base64.b64decode(cursor).decode().split(":", 1)[1])


@strawberry.type
class Query:
    @strawberry.field
    def conversations(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: ConversationFilter | None = None,
    ) -> ConversationConnection:
        if filter is not None and any(vars(filter).values()):
            raise ValueError("the baseline serves the unfiltered inbox only")
        store = info.context.store
        start = _offset(after) + 1 if after else 0
        end = start + (first if first is not None else 20)
        page = store.conversations[start:end]
        edges = [
            ConversationEdge(cursor=_cursor(start + index), node=node)
            for index, node in enumerate(page)
        ]
        return ConversationConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=end < len(store.conversations),
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


schema = strawberry.Schema(query=Query)


class BaselineApp(GraphQL[Context, None]):
    """Strawberry's ASGI app; the context carries the store and a new DataLoader per request."""

    def __init__(self, store: Store) -> None:
        super().__init__(schema)
        self.store = store

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(request, response, self.store, DataLoader(load_fn=self.store.load_matches))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baseline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default=HOST)
    parser.add_argument(
        "--page",
        type=Path,
        default=RECORDED_PAGE,
        help=f"a Switchboard response to PAGE, the data served (default {RECORDED_PAGE.name})",
    )
    options = parser.parse_args(argv)
    app = BaselineApp(read_store(options.page))
    # uvicorn's defaults, as a stock deployment runs; at WARNING, as bench.inbox runs Switchboard,
    # so that neither writes an access log line per request.
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
