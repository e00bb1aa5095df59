"""Writing one contact: create, update, delete.

Every write is checked in full before anything is written (identifiers normalised, the company
found in the workspace), then made in one transaction. When a contact gains identifiers, the
stored conversations of the workspace that now match it get a MATCHER link, in the same
transaction and in a fixed number of queries (`crm.rematch.link_stored_conversations`). Live
conversations need nothing more: the matches kept across requests were read under the workspace's
`crm.caching.Kept.CRM_RECORDS`, whose version every write bumps once committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from core.errors import NotFound
from core.vocabulary import IdentifierKind
from crm import records
from crm.caching import Kept, bumped_after
from crm.matching import CandidateKind
from crm.normalize import Identifier
from crm.rematch import link_stored_conversations
from crm.writing import KEEP, Keep, default_region, delete_record, free_external_id, stored_record
from db.models import Company, Contact, ContactIdentifier

__all__ = ["ContactChanges", "create_contact", "delete_contact", "update_contact"]


@dataclass(frozen=True, slots=True)
class ContactChanges:
    """A contact's fields as a create or update sets them.

    On update, `None` names leave them as they are; only the kinds present in `identifiers` are
    replaced. The company, given beside these, is found in the workspace first.
    """

    first_name: str | None = None
    last_name: str | None = None
    identifiers: Mapping[IdentifierKind, Sequence[str]] = field(default_factory=dict)
    # None clears it.
    external_id: str | Keep | None = KEEP


async def create_contact(workspace_id: int, changes: ContactChanges, company_id: int | None) -> int:
    """The new contact's key."""
    region = await default_region(workspace_id)
    identifiers = records.normalised_identifiers(changes.identifiers, region)
    first_name = records.name(changes.first_name or "", "firstName")
    last_name = records.name(changes.last_name or "", "lastName")
    company_id = await _company_of_workspace(workspace_id, company_id)
    external_id = await free_external_id(Contact, workspace_id, None, changes.external_id)
    async with in_transaction(), bumped_after(workspace_id, Kept.CRM_RECORDS):
        contact = await Contact.create(
            workspace_id=workspace_id,
            first_name=first_name,
            last_name=last_name,
            company_id=company_id,
            external_id=external_id,
        )
        added = await _replace_identifiers(workspace_id, contact.id, identifiers)
        await link_stored_conversations(
            workspace_id, region, CandidateKind.CONTACT, contact.id, identifiers=added
        )
    return contact.id


async def update_contact(
    workspace_id: int, contact_id: int, changes: ContactChanges, company_id: int | Keep | None
) -> None:
    """`company_id` None takes the contact out of its company."""
    contact = await stored_record(Contact, workspace_id, contact_id)
    region = await default_region(workspace_id)
    identifiers = records.normalised_identifiers(changes.identifiers, region)
    updates: dict[str, Any] = {}
    if changes.first_name is not None:
        updates["first_name"] = records.name(changes.first_name, "firstName")
    if changes.last_name is not None:
        updates["last_name"] = records.name(changes.last_name, "lastName")
    if company_id is not KEEP:
        updates["company_id"] = await _company_of_workspace(workspace_id, company_id)
    if changes.external_id is not KEEP:
        updates["external_id"] = await free_external_id(
            Contact, workspace_id, contact.id, changes.external_id
        )
    async with in_transaction(), bumped_after(workspace_id, Kept.CRM_RECORDS):
        if updates or identifiers:
            contact.update_from_dict(updates)
            # `updated_at` is `auto_now`: it changes only when it is among the fields saved.
            await contact.save(update_fields=[*updates, "updated_at"])
        added = await _replace_identifiers(workspace_id, contact.id, identifiers)
        await link_stored_conversations(
            workspace_id, region, CandidateKind.CONTACT, contact.id, identifiers=added
        )


async def delete_contact(workspace_id: int, contact_id: int) -> None:
    """Its identifiers and links go with it."""
    await delete_record(Contact, workspace_id, contact_id)


async def _company_of_workspace(workspace_id: int, company_id: int | None) -> int | None:
    if company_id is not None and not await Company.exists(
        workspace_id=workspace_id, id=company_id
    ):
        raise NotFound("no such company", argument="companyId")
    return company_id


async def _replace_identifiers(
    workspace_id: int, contact_id: int, identifiers: records.Normalised
) -> list[Identifier]:
    """Make the contact's identifiers of each kind given exactly those; returns those added.

    An identifier kept keeps its row and the spelling first entered.
    """
    if not identifiers:
        return []
    current = await ContactIdentifier.filter(contact_id=contact_id, kind__in=list(identifiers))
    gone = [row.id for row in current if row.value not in identifiers[row.kind]]
    if gone:
        await ContactIdentifier.filter(id__in=gone).delete()
    kept = {Identifier(row.kind, row.value) for row in current}
    added = {
        Identifier(kind, value): original
        for kind, values in identifiers.items()
        for value, original in values.items()
        if Identifier(kind, value) not in kept
    }
    await ContactIdentifier.bulk_create(
        ContactIdentifier(
            workspace_id=workspace_id,
            contact_id=contact_id,
            kind=identifier.kind,
            value=identifier.value,
            original=original,
        )
        for identifier, original in added.items()
    )
    return list(added)
