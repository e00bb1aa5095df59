"""Participants are classified once per process: the same people recur across pages."""

from __future__ import annotations

import pytest

from core.vocabulary import IdentifierKind, ParticipantRole
from crm import Identifier
from inbox import facts
from inbox.facts import identify_all
from inbox.records import ParticipantRecord

ALICE = ParticipantRecord(
    "Alice@Example.com", "EMAIL_ADDRESS", "Alice", ParticipantRole.FROM, is_self=False
)
ME = ParticipantRecord("me@demo.test", "EMAIL_ADDRESS", "Me", ParticipantRole.TO, is_self=True)
NATIONAL = ParticipantRecord(
    "06 12 34 56 78", "PHONE_NUMBER", None, ParticipantRole.MEMBER, is_self=False
)


@pytest.fixture
def classified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An empty table, and the identifiers classified from now on."""
    calls: list[str] = []
    classify = facts.participant_identifier

    def counting(participant: ParticipantRecord, region: str | None) -> Identifier | None:
        calls.append(participant.identifier)
        return classify(participant, region)

    monkeypatch.setattr(facts, "_CLASSIFIED", {})
    monkeypatch.setattr(facts, "participant_identifier", counting)
    return calls


def test_a_person_is_classified_once_across_pages(classified: list[str]) -> None:
    alice = Identifier(IdentifierKind.EMAIL, "alice@example.com")
    assert identify_all([(ALICE, ME), (ALICE,)], None) == [(alice, None), (alice,)]
    assert identify_all([(ME, ALICE)], None) == [(None, alice)]
    assert classified == ["Alice@Example.com", "me@demo.test"]


def test_the_region_is_part_of_what_is_kept(classified: list[str]) -> None:
    [(french,)] = identify_all([(NATIONAL,)], "FR")
    [(american,)] = identify_all([(NATIONAL,)], "US")
    assert french == Identifier(IdentifierKind.PHONE, "+33612345678")
    assert american is None, "not a valid number in the US"
    assert classified == ["06 12 34 56 78", "06 12 34 56 78"]


def test_the_table_is_bounded(classified: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facts, "CLASSIFIED_SIZE", 2)
    people = [
        ParticipantRecord(f"p{n}@example.com", "EMAIL_ADDRESS", None, ParticipantRole.TO, False)
        for n in range(5)
    ]
    found = identify_all([tuple(people)], None)
    assert found == [tuple(Identifier(IdentifierKind.EMAIL, f"p{n}@example.com") for n in range(5))]
    assert len(facts._CLASSIFIED) <= 2
