"""The viewer: the authenticated user, their workspace and their accounts."""

from __future__ import annotations

from datetime import datetime

import strawberry

from core.ids import to_global_id
from db import models
from schema.enums import AccountStatus, Channel
from schema.node import Node


@strawberry.type(description="A person who uses Switchboard.")
class User(Node):
    email: str
    name: str

    @classmethod
    def from_model(cls, user: models.User) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", user.id)), email=user.email, name=user.name
        )


@strawberry.type(description="A tenant: a CRM's team, with its users, accounts and records.")
class Workspace(Node):
    name: str
    slug: str
    default_region: str = strawberry.field(
        description="ISO region used to read phone numbers written without a country code."
    )

    @classmethod
    def from_model(cls, workspace: models.Workspace) -> Workspace:
        return cls(
            id=strawberry.ID(to_global_id("Workspace", workspace.id)),
            name=workspace.name,
            slug=workspace.slug,
            default_region=workspace.default_region,
        )


@strawberry.type(description="An account connected through UniPile: a mailbox, a phone, a profile.")
class Account(Node):
    external_id: str = strawberry.field(description="The UniPile account id.")
    channel: Channel
    provider: str = strawberry.field(description="UniPile's account type, e.g. GOOGLE_OAUTH.")
    name: str
    status: AccountStatus
    last_error: str | None
    status_changed_at: datetime | None
    shared: bool = strawberry.field(description="Whether the whole workspace may use it.")
    is_mine: bool = strawberry.field(description="Whether the viewer owns it.")

    @classmethod
    def from_model(cls, account: models.Account, viewer_id: int) -> Account:
        return cls(
            id=strawberry.ID(to_global_id("Account", account.id)),
            external_id=account.unipile_id,
            channel=account.channel,
            provider=account.provider,
            name=account.name,
            status=account.status,
            last_error=account.last_error,
            status_changed_at=account.status_changed_at,
            shared=account.shared,
            is_mine=account.owner_id == viewer_id,
        )


@strawberry.type(description="Who is asking.")
class Viewer:
    user: User
    workspace: Workspace
