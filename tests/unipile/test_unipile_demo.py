"""The demo data: deterministic, big enough, and full of the cases CRM matching must handle."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import phonenumbers

from unipile import whatsapp_jid_to_phone
from unipile.sandbox import DEMO_DEFAULT_REGION, build_demo
from unipile.sandbox.demo import ANCHOR, ANCHOR_VARIABLE, Demo

DEMO = build_demo()


def email_addresses(demo: Demo) -> set[str]:
    found: set[str] = set()
    for email in demo.emails:
        for key in ("to_attendees", "cc_attendees"):
            found.update(a["identifier"] for a in email[key])
        found.add(email["from_attendee"]["identifier"])
    return found


def test_same_seed_same_data() -> None:
    assert build_demo(7) == DEMO
    assert build_demo(8).messages != DEMO.messages


def test_volumes() -> None:
    threads = {e["thread_id"] for e in DEMO.emails}
    assert 300 <= len(DEMO.chats) + len(threads) <= 1000
    assert 2000 <= len(DEMO.messages) + len(DEMO.emails) <= 10000
    assert any(len([e for e in DEMO.emails if e["thread_id"] == t]) >= 4 for t in threads)
    assert any(e["cc_attendees"] for e in DEMO.emails)


def test_accounts_and_owners() -> None:
    owners = {(a.type, a.owner, a.shared) for a in DEMO.accounts}
    assert owners == {
        ("GOOGLE_OAUTH", "alice", False),
        ("OUTLOOK", "alice", False),
        ("WHATSAPP", "bob", False),
        ("LINKEDIN", "alice", True),
        # alice's own WhatsApp, so that the demo's first user sees every channel.
        ("WHATSAPP", "alice", False),
    }
    assert len(owners) == len(DEMO.accounts)


def test_timestamps_before_anchor() -> None:
    stamps = [m["timestamp"] for m in DEMO.messages] + [e["date"] for e in DEMO.emails]
    assert max(stamps) < ANCHOR.isoformat().replace("+00:00", ".000Z")


def test_awkward_email_cases() -> None:
    addresses = email_addresses(DEMO)
    contacts = {c.key: c for c in DEMO.crm.contacts}
    assert "jane.doe@acme-corp.com" in contacts["jane_doe"].emails
    assert {"jane.doe@acme-corp.com", "Jane.Doe+invoices@Acme-Corp.com"} <= addresses
    globex = next(c for c in DEMO.crm.companies if c.key == "globex")
    assert "globex.co.uk" in globex.domains
    assert any(a.endswith("@eu.mail.globex.co.uk") for a in addresses)
    domains = {a.rsplit("@", 1)[1] for a in addresses}
    assert {"gmail.com", "yahoo.com", "outlook.com"} <= domains
    shared = [c.key for c in DEMO.crm.contacts if "contact@initech.fr" in c.emails]
    assert len(shared) == 2 and "contact@initech.fr" in addresses
    known = {e.lower() for c in DEMO.crm.contacts for e in c.emails}
    assert len({a.lower() for a in addresses} - known) > 50


def test_awkward_phone_and_linkedin_cases() -> None:
    jids = {c["provider_id"] for c in DEMO.chats if c["provider_id"].endswith("@s.whatsapp.net")}
    members = {a["provider_id"] for a in DEMO.attendees}
    chat_digits = {whatsapp_jid_to_phone(j) for j in jids | members} - {None}
    national = [p for c in DEMO.crm.contacts for p in c.phones if p.startswith("0")]
    international = [p for c in DEMO.crm.contacts for p in c.phones if p.startswith("+")]
    assert national and international

    def digits(raw: str) -> str:
        number = phonenumbers.parse(raw, DEMO_DEFAULT_REGION)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]

    assert any(digits(p) in chat_digits for p in national)
    assert any(digits(p) in chat_digits for p in international)
    phones = [p for c in DEMO.crm.contacts for p in c.phones]
    shared = {p for p in phones if phones.count(p) == 2}
    assert shared and any(digits(p) in chat_digits for p in shared)
    assert any(c["provider_id"].endswith("@g.us") and c["type"] == 1 for c in DEMO.chats)
    linkedin_ids = {pid for c in DEMO.crm.contacts for pid in c.provider_ids}
    assert linkedin_ids and all(pid.startswith("ACoAA") for pid in linkedin_ids)
    assert linkedin_ids & members


def test_every_phone_is_valid() -> None:
    raw = [p for c in DEMO.crm.contacts for p in c.phones]
    raw += [
        "+" + a.data["connection_params"]["im"]["phone_number"]
        for a in DEMO.accounts
        if a.type == "WHATSAPP"
    ]
    raw += ["+" + d for d in (whatsapp_jid_to_phone(a["provider_id"]) for a in DEMO.attendees) if d]
    assert len(raw) > 100
    for phone in raw:
        parsed = phonenumbers.parse(phone, DEMO_DEFAULT_REGION)
        assert phonenumbers.is_valid_number(parsed), phone


def test_the_demo_ends_at_the_start_of_the_run_s_day() -> None:
    """Recent enough for the sync limits to store it, whenever the suite runs; one day for the
    whole run and the processes it starts (the suite sets `SANDBOX_ANCHOR`)."""
    assert ANCHOR == datetime.fromisoformat(os.environ[ANCHOR_VARIABLE]).replace(tzinfo=UTC)
    assert datetime.now(UTC) - ANCHOR < timedelta(days=2)
    assert (ANCHOR.hour, ANCHOR.minute, ANCHOR.second) == (0, 0, 0)
