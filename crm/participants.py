"""A new contact for someone in a conversation, named by the participant's identifier."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import BadUserInput
from crm.contacts import ContactChanges, create_contact
from crm.normalize import Rejected, classify_participant

__all__ = ["Participant", "ParticipantNames", "create_participant_contact"]


@dataclass(frozen=True, slots=True)
class Participant:
    """A participant of a conversation as the inbox shows it."""

    identifier: str
    identifier_type: str
    display_name: str | None


@dataclass(frozen=True, slots=True)
class ParticipantNames:
    """The names a client gives the contact: `first_name`/`last_name` if either is given, else
    `name`, else the participant's display name."""

    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None


async def create_participant_contact(
    workspace_id: int,
    region: str,
    participant: Participant,
    names: ParticipantNames,
    company_id: int | None,
) -> int:
    """The new contact's key; `region` reads the participant's phone number."""
    identifier = classify_participant(
        participant.identifier, participant.identifier_type, region=region
    )
    if isinstance(identifier, Rejected):
        raise BadUserInput(
            "this participant is not a person who can be a contact",
            argument="identifier",
            reason=identifier.reason.value,
        )
    first_name, last_name = _names(names, participant.display_name)
    changes = ContactChanges(
        first_name=first_name,
        last_name=last_name,
        # The normalised value, so that the contact holds exactly what this participant is
        # matched by (a WhatsApp JID becomes its phone number).
        identifiers={identifier.kind: [identifier.value]},
    )
    return await create_contact(workspace_id, changes, company_id)


def _names(given: ParticipantNames, display_name: str | None) -> tuple[str, str]:
    """The names given, else `name`, else the display name, split at the first space
    ("Jean de La Fontaine" → "Jean", "de La Fontaine")."""
    if given.first_name is not None or given.last_name is not None:
        return given.first_name or "", given.last_name or ""
    first, _, last = (given.name or display_name or "").strip().partition(" ")
    return first, last.strip()
