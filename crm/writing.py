"""What the writes of contacts and of companies share: the workspace's region, the uniqueness of
external ids, and finding or deleting a record of the workspace.

Another workspace's record is reported exactly like a missing one, so that ids reveal nothing
across workspaces.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, TypeVar

from core.errors import Conflict, NotFound
from crm import records
from crm.caching import Kept, bumped_after
from db.models import Company, Contact, Workspace

__all__ = [
    "KEEP",
    "Keep",
    "default_region",
    "delete_record",
    "free_external_id",
    "stored_record",
]

RecordT = TypeVar("RecordT", Contact, Company)


class Keep(Enum):
    """The value of a field an update leaves as it is, where None would clear it."""

    KEEP = "KEEP"


KEEP: Literal[Keep.KEEP] = Keep.KEEP


async def default_region(workspace_id: int) -> str:
    """The workspace's default region, which reads phone numbers written without a country."""
    region = await Workspace.filter(id=workspace_id).values_list("default_region", flat=True)
    return str(region[0])


async def stored_record(model: type[RecordT], workspace_id: int, pk: int) -> RecordT:
    record = await model.get_or_none(workspace_id=workspace_id, id=pk)
    if record is None:
        raise NotFound(f"no such {model.__name__.lower()}", argument="id")
    return record


async def delete_record(model: type[Contact] | type[Company], workspace_id: int, pk: int) -> None:
    """Delete a record; what belongs to it goes with it (the foreign keys cascade)."""
    async with bumped_after(workspace_id, Kept.CRM_RECORDS):
        deleted = await model.filter(workspace_id=workspace_id, id=pk).delete()
    if not deleted:
        raise NotFound(f"no such {model.__name__.lower()}", argument="id")


async def free_external_id(
    model: type[Contact] | type[Company],
    workspace_id: int,
    own_id: int | None,
    given: str | Keep | None,
) -> str | None:
    """The external id given, checked and held by no other record of the workspace; None when
    none is given."""
    if given is None or given is KEEP:
        return None
    value = records.external_id(given)
    holders = model.filter(workspace_id=workspace_id, external_id=value)
    if own_id is not None:
        holders = holders.exclude(id=own_id)
    if await holders.exists():
        raise Conflict(
            f"another {model.__name__.lower()} has the external id {value!r}",
            argument="externalId",
        )
    return value
