"""Deterministic demo data: five connected accounts and the CRM that goes with them.

``build_demo(seed)`` builds everything in memory from the seed alone (timestamps are relative to
``ANCHOR``, the start of the day, not to the moment), so two runs with the same seed on the same
day (or the same ``SANDBOX_ANCHOR``) give identical data. The sandbox serves
``Demo``'s UniPile objects; the server's seed loader reads ``Demo.crm`` and each account's
``owner``/``shared``.

Two optional extras share the sandbox's one UniPile organisation (one API key), as two
Switchboard workspaces may in real life: ``build_rival(seed)``, a second tenant's Gmail and
WhatsApp accounts (owners carol and dave) with a small CRM of its own, and
``build_bulk_mailbox(seed, threads)``, one big Gmail mailbox for paging tests. Each draws from its
own generator, so enabling them leaves the demo data exactly as it was.

The participants are chosen to exercise CRM matching: exact contact addresses and mixed-case
``+tag`` variants of them, company domains seen on subdomains, personal-mail domains, phones the
CRM stores in national form that WhatsApp shows as JIDs (and international ones), one email
address and one phone shared by two contacts, LinkedIn ids carried by contacts, and many people
the CRM does not know.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import phonenumbers

from unipile._identifiers import WHATSAPP_GROUP_SUFFIX, phone_to_whatsapp_jid
from unipile._timestamps import format_timestamp
from unipile.sandbox._shapes import (
    JSON,
    account_json,
    attendee_json,
    chat_json,
    email_attendee,
    email_json,
    folder_json,
    message_json,
    new_id,
)

__all__ = [
    "ANCHOR",
    "ANCHOR_VARIABLE",
    "CONNECTABLE_TYPES",
    "DEMO_DEFAULT_REGION",
    "Demo",
    "DemoAccount",
    "DemoCompany",
    "DemoContact",
    "DemoCrm",
    "Owner",
    "build_bulk_mailbox",
    "build_connected_account",
    "build_demo",
    "build_rival",
    "combine_demos",
]

ANCHOR_VARIABLE = "SANDBOX_ANCHOR"


def _anchor() -> datetime:
    """The start of today (UTC), so that the demo stays as recent as the sync limits want (the
    last 30 days are stored); or the ISO date in `SANDBOX_ANCHOR`, which processes started
    together share (the test suite sets it once) so that they serve the same data."""
    given = os.environ.get(ANCHOR_VARIABLE)
    day = date.fromisoformat(given) if given else datetime.now(UTC).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


ANCHOR = _anchor()
"""The demo's "now": all activity lies in the 60 days before it."""
SPAN = timedelta(days=60)
DEMO_DEFAULT_REGION = "FR"
"""Region the demo workspace parses national phone numbers with."""

GMAIL_ID, OUTLOOK_ID = "acc_gmail_demo_000001", "acc_outlook_demo_00001"
WHATSAPP_ID, LINKEDIN_ID = "acc_whatsapp_demo_0001", "acc_linkedin_demo_0001"
"""``WHATSAPP_ID`` is bob's, private to him."""
ALICE_WHATSAPP_ID = "acc_whatsapp_demo_0002"
"""alice's own WhatsApp, so that the demo's first user sees every channel."""
# The second tenant's accounts and the bulk mailbox: ids as long as the demo's of the same type.
RIVAL_GMAIL_ID, RIVAL_WHATSAPP_ID = "acc_gmail_rival_00001", "acc_whatsapp_rival_001"
BULK_GMAIL_ID = "acc_gmail_bulk_000001"
RIVAL_DEFAULT_REGION = "GB"
"""Region a workspace owning the rival accounts would read national numbers with."""

Owner = Literal["alice", "bob", "carol", "dave"]
"""Demo users: alice and bob of the demo workspace; carol and dave of the rival one."""


@dataclass(frozen=True)
class DemoCompany:
    key: str
    name: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class DemoContact:
    """A CRM contact: ``phones`` as people type them, ``provider_ids`` are LinkedIn member ids."""

    key: str
    first_name: str
    last_name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    provider_ids: tuple[str, ...]
    company_key: str | None


@dataclass(frozen=True)
class DemoCrm:
    companies: tuple[DemoCompany, ...]
    contacts: tuple[DemoContact, ...]


@dataclass(frozen=True)
class DemoAccount:
    """A connected account: its UniPile ``Account`` object and which demo user owns it."""

    id: str
    type: str
    name: str
    owner: Owner
    shared: bool
    """Shared with the whole workspace rather than private to ``owner``."""
    data: JSON = field(repr=False)


@dataclass(frozen=True)
class Demo:
    """Everything the sandbox serves, as UniPile JSON objects, plus the matching demo CRM."""

    seed: int
    accounts: tuple[DemoAccount, ...]
    chats: tuple[JSON, ...]
    """Chat objects as ``GET /chats`` lists them."""
    messages: tuple[JSON, ...]
    attendees: tuple[JSON, ...]
    """ChatAttendee objects, one per person per account (self included)."""
    chat_attendee_ids: Mapping[str, tuple[str, ...]]
    """chat id → ids of its attendees."""
    emails: tuple[JSON, ...]
    """Email objects of kind ``2_full``; a conversation is all emails sharing a ``thread_id``."""
    folders: tuple[JSON, ...]
    crm: DemoCrm


FIRST = (
    "Léa Hugo Chloé Louis Manon Jules Camille Gabriel Inès Arthur Sarah Nathan Julie Théo Laura "
    "Adam Emily James Olivia Harry Amelia George Isla Jack Mia Lukas Hannah Felix Lena Jonas"
).split()
LAST = (
    "Durand Petit Roux Fournier Girard Bonnet Dupuis Lambert Fontaine Rousseau Vincent Muller "
    "Taylor Brown Wilson Evans Thomas Johnson Walker Wright Schmidt Schneider Fischer Weber Becker"
).split()
PERSONAL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.fr")
UNKNOWN_DOMAINS = ("contoso.com", "fabrikam.net", "northwind-traders.com", "tailspin.io")
SUBJECTS = (
    "Quote for Q1",
    "Invoice 2026-114",
    "Meeting next week",
    "Contract renewal",
    "Demo follow-up",
    "Partnership",
    "Delivery schedule",
    "Support ticket",
    "Pricing question",
    "Onboarding",
)
TEXTS = (
    "Hi! Are you available tomorrow?",
    "Thanks, received.",
    "Can you send me the quote?",
    "Let's talk on Monday.",
    "Bonjour, je vous rappelle demain.",
    "Perfect, see you then 👍",
    "I have forwarded it to the team.",
    "What about the delivery date?",
    "Merci beaucoup !",
    "Sounds good to me.",
    "Could you call me back?",
    "The invoice is attached.",
)
GROUP_NAMES = ("Team lunch", "Project Atlas", "Salon Lyon 2026", "Famille", "Sales EMEA", "Support")

# (key, name, domains, phone region)
COMPANIES = (
    ("acme", "Acme Corp", ("acme-corp.com",), "FR"),
    ("globex", "Globex", ("globex.co.uk",), "GB"),
    ("initech", "Initech", ("initech.fr", "initech.com"), "FR"),
    ("umbrella", "Umbrella Logistik", ("umbrella-logistik.de",), "DE"),
    ("hooli", "Hooli", ("hooli.io",), "GB"),
    ("soylent", "Soylent", ("soylent.fr",), "FR"),
    ("stark", "Stark Industries", ("stark-industries.com",), "GB"),
    ("wayne", "Wayne Enterprises", ("wayne-enterprises.co.uk",), "GB"),
)
# The rival tenant's companies: Acme is a client of both tenants, the others of the rival only.
RIVAL_COMPANIES = (
    ("acme", "Acme Corp", ("acme-corp.com",), "FR"),
    ("vandelay", "Vandelay Industries", ("vandelay-industries.co.uk",), "GB"),
    ("pied_piper", "Pied Piper", ("piedpiper.io",), "GB"),
)
# region → (mobile prefixes, length of the E.164 string)
_MOBILES = {
    "FR": (("+336", "+337"), 12),
    "GB": (("+4474", "+4475", "+4477", "+4478", "+4479"), 13),
    "DE": (("+49151", "+49160", "+49170"), 14),
}
_LINKEDIN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


@dataclass
class _Person:
    """Someone as channels show them; several may map to one CRM contact (address variants)."""

    name: str
    email: str | None = None
    phone: str | None = None
    """E.164."""
    linkedin_id: str | None = None


def _phone(rng: random.Random, region: str) -> str:
    """A random E.164 mobile number that ``phonenumbers`` accepts as valid."""
    prefixes, length = _MOBILES[region]
    while True:
        prefix = rng.choice(prefixes)
        candidate = prefix + "".join(rng.choices("0123456789", k=length - len(prefix)))
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def _typed(e164: str, national: bool) -> str:
    fmt = phonenumbers.PhoneNumberFormat
    style = fmt.NATIONAL if national else fmt.INTERNATIONAL
    return phonenumbers.format_number(phonenumbers.parse(e164), style)


def _linkedin_id(rng: random.Random) -> str:
    return "ACoAA" + "".join(rng.choices(_LINKEDIN_ALPHABET, k=34))


def _address(first: str, last: str, domain: str) -> str:
    plain = (first + "." + last).lower()
    return plain.translate(str.maketrans("éèëàç", "eeeac")) + "@" + domain


class _CrmBuilder:
    """Builds the CRM and the people who write, so that every awkward case is present."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.contacts: list[DemoContact] = []
        self.must_email: list[_Person] = []
        self.must_phone: list[_Person] = []
        self.must_linkedin: list[_Person] = []
        self.people: list[_Person] = []

    def contact(
        self,
        key: str,
        name: tuple[str, str],
        *,
        emails: tuple[str, ...] = (),
        phone: tuple[str, bool] | None = None,
        linkedin: bool = False,
        company: str | None = None,
    ) -> _Person:
        """Add a contact and the person who shows up on channels with its first identities."""
        person = _Person(f"{name[0]} {name[1]}", emails[0] if emails else None)
        if phone is not None:
            person.phone = phone[0]
        if linkedin:
            person.linkedin_id = _linkedin_id(self.rng)
        self.contacts.append(
            DemoContact(
                key=key,
                first_name=name[0],
                last_name=name[1],
                emails=emails,
                phones=(_typed(*phone),) if phone else (),
                provider_ids=(person.linkedin_id,) if person.linkedin_id else (),
                company_key=company,
            )
        )
        self.people.append(person)
        return person

    def special_cases(self) -> None:
        fr = _phone(self.rng, "FR")
        jane = self.contact(
            "jane_doe",
            ("Jane", "Doe"),
            emails=("jane.doe@acme-corp.com",),
            phone=(fr, True),
            linkedin=True,
            company="acme",
        )
        tagged = _Person(jane.name, "Jane.Doe+invoices@Acme-Corp.com")
        oliver = self.contact(
            "oliver_smith",
            ("Oliver", "Smith"),
            emails=("oliver.smith@globex.co.uk",),
            phone=(_phone(self.rng, "GB"), False),
            company="globex",
        )
        subdomain = _Person("Priya Patel", "priya.patel@eu.mail.globex.co.uk")
        marc = self.contact(
            "marc_lefevre",
            ("Marc", "Lefèvre"),
            emails=("marc.lefevre@gmail.com",),
            phone=(_phone(self.rng, "FR"), False),
        )
        sophie = self.contact(
            "sophie_bernard",
            ("Sophie", "Bernard"),
            emails=("sophie.bernard@yahoo.com",),
            phone=(_phone(self.rng, "FR"), True),
            linkedin=True,
        )
        tom = self.contact(
            "tom_baker", ("Tom", "Baker"), emails=("tom.baker@outlook.com",), company="stark"
        )
        shared_mail, shared_phone = self._shared_identities()
        self.must_email += [jane, tagged, oliver, subdomain, marc, sophie, tom, shared_mail]
        self.must_phone += [jane, oliver, marc, sophie, shared_phone]
        self.must_linkedin += [jane, sophie]

    def _shared_identities(self) -> tuple[_Person, _Person]:
        """Two contacts share an address, two others a phone: one person writes from each."""
        mail, phone = "contact@initech.fr", (_phone(self.rng, "FR"), True)
        for key, first in (("paul_martin", "Paul"), ("claire_martin", "Claire")):
            emails = (f"{first.lower()}.martin@initech.fr", mail)
            self.contact(key, (first, "Martin"), emails=emails, company="initech")
        for key, first in (("luc_moreau", "Luc"), ("emma_moreau", "Emma")):
            self.contact(key, (first, "Moreau"), phone=phone, company="soylent")
        # The four contacts' own channel identities are replaced by the shared ones.
        del self.people[-4:]
        shared = (_Person("Initech", mail), _Person("Moreau", phone=phone[0]))
        self.people.extend(shared)
        return shared

    def company_contacts(self) -> None:
        for key, _name, domains, region in COMPANIES:
            for _ in range(3):
                first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
                person = self.contact(
                    f"{key}_{first}_{last}".lower(),
                    (first, last),
                    emails=(_address(first, last, domains[0]),),
                    phone=(_phone(self.rng, region), region == DEMO_DEFAULT_REGION),
                    linkedin=self.rng.random() < 0.5,
                    company=key,
                )
                if person.linkedin_id:
                    self.must_linkedin.append(person)

    def unknown_people(self, count: int) -> None:
        for _ in range(count):
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            domain = self.rng.choice(PERSONAL_DOMAINS + UNKNOWN_DOMAINS)
            region = self.rng.choice(("FR", "FR", "GB", "DE"))
            person = _Person(f"{first} {last}", _address(first, last, domain))
            person.phone = _phone(self.rng, region)
            if self.rng.random() < 0.6:
                person.linkedin_id = _linkedin_id(self.rng)
            self.people.append(person)

    def rival_cases(self) -> None:
        """The rival tenant's CRM: Jane Doe at Acme, whom the demo CRM also has under the same
        address, and two contacts at each of its own companies; all of them write to it."""
        jane = self.contact(
            "jane_doe",
            ("Jane", "Doe"),
            emails=("jane.doe@acme-corp.com",),
            phone=(_phone(self.rng, "GB"), False),
            company="acme",
        )
        self.must_email.append(jane)
        self.must_phone.append(jane)
        for key, _name, domains, region in RIVAL_COMPANIES[1:]:
            for _ in range(2):
                first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
                person = self.contact(
                    f"{key}_{first}_{last}".lower(),
                    (first, last),
                    emails=(_address(first, last, domains[0]),),
                    phone=(_phone(self.rng, region), region == RIVAL_DEFAULT_REGION),
                    company=key,
                )
                self.must_email.append(person)
                self.must_phone.append(person)

    def crm(
        self, companies: tuple[tuple[str, str, tuple[str, ...], str], ...] = COMPANIES
    ) -> DemoCrm:
        return DemoCrm(
            companies=tuple(DemoCompany(key, name, domains) for key, name, domains, _ in companies),
            contacts=tuple(self.contacts),
        )


def _iso(moment: datetime) -> str:
    return format_timestamp(moment)


class _InboxBuilder:
    """Builds the UniPile side: accounts, chats with messages and attendees, email threads."""

    def __init__(self, rng: random.Random, people: _CrmBuilder) -> None:
        self.rng = rng
        self.people = people
        self.accounts: list[DemoAccount] = []
        self.chats: list[JSON] = []
        self.messages: list[JSON] = []
        self.attendees: dict[tuple[str, str], JSON] = {}
        self.chat_attendee_ids: dict[str, tuple[str, ...]] = {}
        self.emails: list[JSON] = []
        self.folders: list[JSON] = []

    def account(
        self,
        account_id: str,
        kind: str,
        name: str,
        params: JSON,
        owner: Owner,
        shared: bool = False,
    ) -> JSON:
        created = _iso(ANCHOR - SPAN - timedelta(days=30))
        source = "MAILS" if "mail" in params else "MESSAGING"
        data = account_json(account_id, kind, name, created, params, source)
        self.accounts.append(DemoAccount(account_id, kind, name, owner, shared, data))
        return data

    def start(self) -> datetime:
        # Conversations start early enough for their first item to fall before ANCHOR.
        window = SPAN - timedelta(days=3)
        return ANCHOR - SPAN + timedelta(seconds=self.rng.randrange(int(window.total_seconds())))

    def step(self, moment: datetime, max_minutes: int) -> datetime:
        return moment + timedelta(seconds=self.rng.randrange(60, max_minutes * 60), milliseconds=1)

    def counterparts(self, must: list[_Person], pool: list[_Person], count: int) -> list[_Person]:
        return must + [self.rng.choice(pool) for _ in range(count - len(must))]

    # -- messaging ------------------------------------------------------------------------

    def attendee(self, account: JSON, provider_id: str, name: str, is_self: bool = False) -> JSON:
        key = (account["id"], provider_id)
        if key not in self.attendees:
            self.attendees[key] = attendee_json(
                attendee_id=new_id(self.rng),
                account=account,
                provider_id=provider_id,
                name=name,
                is_self=is_self,
            )
        return self.attendees[key]

    def chat(self, account: JSON, me: JSON, others: list[JSON], group_name: str | None) -> None:
        # Only WhatsApp has group chats in the demo.
        provider_id = self.group_jid() if group_name else others[0]["provider_id"]
        chat = chat_json(
            chat_id=new_id(self.rng),
            account=account,
            provider_id=provider_id,
            name=group_name or others[0]["name"],
            group=group_name is not None,
            timestamp="",
            attendee_provider_id=None if group_name else others[0]["provider_id"],
        )
        self.chat_attendee_ids[chat["id"]] = tuple(a["id"] for a in [me, *others])
        moment = self.start()
        unread = 0
        for _ in range(self.rng.randint(2, 30 if account["type"] == "WHATSAPP" else 10)):
            moment = self.step(moment, 900)
            if moment >= ANCHOR:
                break
            sender = me if self.rng.random() < 0.45 else self.rng.choice(others)
            self.messages.append(
                message_json(
                    message_id=new_id(self.rng),
                    chat=chat,
                    sender=sender,
                    text=self.rng.choice(TEXTS),
                    timestamp=_iso(moment),
                    provider_id=new_id(self.rng).upper(),
                )
            )
            unread = 0 if sender is me else unread + 1
            chat["timestamp"] = _iso(moment)
        if not chat["timestamp"]:
            chat["timestamp"] = _iso(moment)
        chat["unread_count"] = unread if self.rng.random() < 0.4 else 0
        self.chats.append(chat)

    def demo(self, seed: int, crm: DemoCrm) -> Demo:
        return Demo(
            seed=seed,
            accounts=tuple(self.accounts),
            chats=tuple(self.chats),
            messages=tuple(self.messages),
            attendees=tuple(self.attendees.values()),
            chat_attendee_ids=self.chat_attendee_ids,
            emails=tuple(self.emails),
            folders=tuple(self.folders),
            crm=crm,
        )

    def group_jid(self) -> str:
        return f"1203630{self.rng.randrange(10**11):011d}{WHATSAPP_GROUP_SUFFIX}"

    def whatsapp(
        self, account: JSON, own_jid: str, own_name: str = "Bob", chats: int = 150, groups: int = 20
    ) -> None:
        me = self.attendee(account, own_jid, own_name, is_self=True)
        pool = [p for p in self.people.people if p.phone]
        for person in self.counterparts(self.people.must_phone, pool, chats):
            assert person.phone is not None
            self.chat(account, me, [self.jid_attendee(account, person)], None)
        for index in range(groups):
            members = self.rng.sample(pool, self.rng.randint(2, 6))
            others = [self.jid_attendee(account, p) for p in members]
            self.chat(account, me, others, f"{GROUP_NAMES[index % len(GROUP_NAMES)]} {index}")

    def jid_attendee(self, account: JSON, person: _Person) -> JSON:
        assert person.phone is not None
        return self.attendee(account, phone_to_whatsapp_jid(person.phone), person.name)

    def linkedin(
        self, account: JSON, own_id: str, own_name: str = "Alice Martin", chats: int = 90
    ) -> None:
        me = self.attendee(account, own_id, own_name, is_self=True)
        pool = [p for p in self.people.people if p.linkedin_id]
        for person in self.counterparts(self.people.must_linkedin, pool, chats):
            assert person.linkedin_id is not None
            self.chat(account, me, [self.attendee(account, person.linkedin_id, person.name)], None)

    # -- email ----------------------------------------------------------------------------

    def mailbox(
        self,
        account: JSON,
        names: tuple[str, str],
        provider_ids: tuple[str, str],
        own_name: str = "Alice Martin",
        threads: int | None = None,
    ) -> None:
        inbox, sent = self.mail_folders(account, names, provider_ids)
        me = email_attendee(account["name"], own_name)
        pool = [p for p in self.people.people if p.email]
        if threads is None:
            threads = 130 if account["type"] == "GOOGLE_OAUTH" else 90
        for person in self.counterparts(self.people.must_email, pool, threads):
            cc = [self.rng.choice(pool)] if self.rng.random() < 0.3 else []
            self.thread(account, (inbox, sent), me, person, cc)
        for folder in (inbox, sent):
            folder["nb_mails"] = sum(folder["id"] in e["folderIds"] for e in self.emails)
            self.folders.append(folder)

    def mail_folders(
        self, account: JSON, names: tuple[str, str], provider_ids: tuple[str, str]
    ) -> tuple[JSON, JSON]:
        """The account's inbox and sent folders (added to ``folders`` by the caller)."""
        inbox, sent = (
            folder_json(
                folder_id=new_id(self.rng),
                account_id=account["id"],
                name=name,
                role=role,
                provider_id=provider_id,
            )
            for name, role, provider_id in zip(names, ("inbox", "sent"), provider_ids, strict=True)
        )
        return inbox, sent

    def bulk_mailbox(self, account: JSON, threads: int) -> None:
        """``threads`` threads of 1 to 3 emails, interleaved, at distinct instants of the 60 days
        before ``ANCHOR``; built in one pass (6,000 threads take a fraction of a second)."""
        folders = self.mail_folders(account, ("INBOX", "[Gmail]/Sent Mail"), ("INBOX", "SENT"))
        rng, me = self.rng, email_attendee(account["name"], "Alice Martin")
        sizes = [rng.randint(1, 3) for _ in range(threads)]
        # Each email gets its own millisecond; the threads take the instants in a shuffled deal,
        # so that a thread's emails are spread among the others', oldest first.
        span_ms = int(SPAN.total_seconds() * 1000)
        instants = sorted(rng.sample(range(1, span_ms), sum(sizes)))
        deal = [index for index, size in enumerate(sizes) for _ in range(size)]
        rng.shuffle(deal)
        thread_ids: list[str] = []
        while len(thread_ids) < threads:
            thread_ids = list(dict.fromkeys(f"{rng.getrandbits(64):016x}" for _ in range(threads)))
        subjects = [f"{rng.choice(SUBJECTS)} #{index + 1}" for index in range(threads)]
        them: list[JSON] = []
        for _ in range(threads):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            domain = rng.choice(PERSONAL_DOMAINS + UNKNOWN_DOMAINS)
            them.append(email_attendee(_address(first, last, domain), f"{first} {last}"))
        inbound = [rng.random() < 0.8 for _ in range(threads)]
        previous: list[JSON | None] = [None] * threads
        start, counts = ANCHOR - SPAN, [0, 0]
        for instant, index in zip(instants, deal, strict=True):
            moment = _iso(start + timedelta(milliseconds=instant))
            parent, incoming = previous[index], inbound[index]
            author = them[index] if incoming else me
            unread = incoming and rng.random() < 0.25
            email = email_json(
                email_id=new_id(rng),
                account=account,
                folder=folders[not incoming],
                date=moment,
                read_date=None if unread else moment,
                thread_id=thread_ids[index],
                subject=("Re: " if parent else "") + subjects[index],
                sender=author,
                to=[me] if incoming else [them[index]],
                cc=[],
                body_plain=f"Hello,\n{rng.choice(TEXTS)}\n-- {author['display_name']}",
                in_reply_to=parent and {"message_id": parent["message_id"], "id": parent["id"]},
            )
            self.emails.append(email)
            counts[not incoming] += 1
            previous[index], inbound[index] = email, not incoming
        for folder, count in zip(folders, counts, strict=True):
            folder["nb_mails"] = count
            self.folders.append(folder)

    def thread(
        self,
        account: JSON,
        folders: tuple[JSON, JSON],
        me: JSON,
        person: _Person,
        cc: list[_Person],
    ) -> None:
        assert person.email is not None
        them = email_attendee(person.email, person.name)
        copies = [email_attendee(p.email, p.name) for p in cc if p.email]
        thread_id, subject = f"{self.rng.getrandbits(64):016x}", self.rng.choice(SUBJECTS)
        moment, previous = self.start(), None
        inbound = self.rng.random() < 0.8
        for index in range(self.rng.randint(1, 6)):
            moment = self.step(moment, 3000)
            if moment >= ANCHOR:
                break
            author = them if inbound else me
            unread = inbound and moment > ANCHOR - timedelta(days=4) and self.rng.random() < 0.6
            email = email_json(
                email_id=new_id(self.rng),
                account=account,
                folder=folders[not inbound],
                date=_iso(moment),
                read_date=None if unread else _iso(moment),
                thread_id=thread_id,
                subject=("Re: " if index else "") + subject,
                sender=author,
                to=[me] if inbound else [them],
                cc=copies,
                body_plain=f"Hello,\n{self.rng.choice(TEXTS)}\n-- {author['display_name']}",
                in_reply_to=previous
                and {"message_id": previous["message_id"], "id": previous["id"]},
                attachments=self.attachments(),
            )
            self.emails.append(email)
            previous, inbound = email, not inbound

    def attachments(self) -> list[JSON] | None:
        if self.rng.random() > 0.15:
            return None
        size = self.rng.randrange(10_000, 2_000_000)
        return [
            {
                "id": new_id(self.rng),
                "name": "document.pdf",
                "size": size,
                "extension": "pdf",
                "mime": "application/pdf",
            }
        ]


def combine_demos(base: Demo, *extras: Demo) -> Demo:
    """``base`` with the UniPile data of ``extras`` added, as one organisation serves them all.

    The CRM stays ``base``'s: each extra's CRM belongs to a workspace of its own."""
    parts = (base, *extras)
    accounts = tuple(account for part in parts for account in part.accounts)
    if len({account.id for account in accounts}) != len(accounts):
        raise ValueError("two parts of the sandbox's data share an account id")
    return Demo(
        seed=base.seed,
        accounts=accounts,
        chats=tuple(chat for part in parts for chat in part.chats),
        messages=tuple(message for part in parts for message in part.messages),
        attendees=tuple(attendee for part in parts for attendee in part.attendees),
        chat_attendee_ids={
            chat: ids for part in parts for chat, ids in part.chat_attendee_ids.items()
        },
        emails=tuple(email for part in parts for email in part.emails),
        folders=tuple(folder for part in parts for folder in part.folders),
        crm=base.crm,
    )


def build_rival(seed: int = 7) -> Demo:
    """A second tenant's accounts in the same UniPile organisation: carol's Gmail (40 threads)
    and dave's WhatsApp (30 chats, 3 groups), with that tenant's CRM, from ``seed`` alone."""
    # Guess: an API key reaches every account of its organisation, whichever tenant connected
    # it (the v1 reference knows no narrower key), so the sandbox serves both tenants to one key.
    rng = random.Random(f"rival-{seed}")
    people = _CrmBuilder(rng)
    people.rival_cases()
    people.unknown_people(40)
    inbox = _InboxBuilder(rng, people)
    carol = "carol@rival-ventures.co.uk"
    gmail = inbox.account(
        RIVAL_GMAIL_ID,
        "GOOGLE_OAUTH",
        carol,
        {"mail": {"id": carol, "username": carol}},
        owner="carol",
    )
    dave_phone = _phone(rng, "GB")[1:]
    whatsapp = inbox.account(
        RIVAL_WHATSAPP_ID,
        "WHATSAPP",
        dave_phone,
        {"im": {"phone_number": dave_phone}},
        owner="dave",
    )
    inbox.mailbox(
        gmail, ("INBOX", "[Gmail]/Sent Mail"), ("INBOX", "SENT"), own_name="Carol Reyes", threads=40
    )
    inbox.whatsapp(whatsapp, dave_phone + "@s.whatsapp.net", own_name="Dave", chats=30, groups=3)
    return inbox.demo(seed, people.crm(RIVAL_COMPANIES))


def build_bulk_mailbox(seed: int, threads: int) -> Demo:
    """One more Gmail account of alice's, ``BULK_GMAIL_ID``, with ``threads`` email threads."""
    rng = random.Random(f"bulk-{seed}-{threads}")
    inbox = _InboxBuilder(rng, _CrmBuilder(rng))
    address = "alice.bulk@northwind.fr"
    account = inbox.account(
        BULK_GMAIL_ID,
        "GOOGLE_OAUTH",
        address,
        {"mail": {"id": address, "username": address}},
        owner="alice",
    )
    inbox.bulk_mailbox(account, threads)
    return inbox.demo(seed, DemoCrm(companies=(), contacts=()))


def _demo_people(rng: random.Random) -> _CrmBuilder:
    """The demo CRM and the people who write to its accounts, drawn first from ``rng``."""
    people = _CrmBuilder(rng)
    people.special_cases()
    people.company_contacts()
    people.unknown_people(160)
    return people


def build_demo(seed: int = 7) -> Demo:
    """Build the demo data for ``seed``; the same seed always gives the same data."""
    rng = random.Random(seed)
    people = _demo_people(rng)
    inbox = _InboxBuilder(rng, people)
    gmail = inbox.account(
        GMAIL_ID,
        "GOOGLE_OAUTH",
        "alice@northwind.fr",
        {"mail": {"id": "alice@northwind.fr", "username": "alice@northwind.fr"}},
        owner="alice",
        shared=False,
    )
    outlook = inbox.account(
        OUTLOOK_ID,
        "OUTLOOK",
        "alice.martin@outlook.fr",
        {"mail": {"id": "alice.martin@outlook.fr", "username": "alice.martin@outlook.fr"}},
        owner="alice",
        shared=False,
    )
    bob_phone = _phone(rng, "FR")[1:]
    whatsapp = inbox.account(
        WHATSAPP_ID,
        "WHATSAPP",
        bob_phone,
        {"im": {"phone_number": bob_phone}},
        owner="bob",
        shared=False,
    )
    alice_linkedin = _linkedin_id(rng)
    linkedin = inbox.account(
        LINKEDIN_ID,
        "LINKEDIN",
        "Alice Martin",
        {"im": {"id": alice_linkedin, "username": "Alice Martin", "premiumContractId": None}},
        owner="alice",
        shared=True,
    )
    inbox.mailbox(gmail, ("INBOX", "[Gmail]/Sent Mail"), ("INBOX", "SENT"))
    inbox.mailbox(
        outlook, ("Inbox", "Sent Items"), ("AQMkADAwATNiZmYAZS1pbmJveA", "AQMkADAwATNiZmYAZS1zZW50")
    )
    inbox.whatsapp(whatsapp, bob_phone + "@s.whatsapp.net")
    inbox.linkedin(linkedin, alice_linkedin)
    return combine_demos(inbox.demo(seed, people.crm()), _alice_whatsapp(seed, people))


def _alice_whatsapp(seed: int, people: _CrmBuilder) -> Demo:
    """alice's own WhatsApp (50 chats, 8 groups) with the demo's people, from a generator of its
    own: the other accounts' data is the same as before it was added."""
    rng = random.Random(f"alice-whatsapp-{seed}")
    inbox = _InboxBuilder(rng, people)
    alice_phone = _phone(rng, "FR")[1:]
    whatsapp = inbox.account(
        ALICE_WHATSAPP_ID,
        "WHATSAPP",
        alice_phone,
        {"im": {"phone_number": alice_phone}},
        owner="alice",
        shared=False,
    )
    inbox.whatsapp(whatsapp, alice_phone + "@s.whatsapp.net", own_name="Alice", chats=50, groups=8)
    return inbox.demo(seed, people.crm())


CONNECTABLE_TYPES = ("WHATSAPP", "LINKEDIN", "GOOGLE_OAUTH", "OUTLOOK", "MAIL")
"""Account types ``build_connected_account`` makes."""
# (domain of the owner's address, folder names, folder provider ids) of each mail account type.
# No demo person writes from these domains, so the owner's address is never a counterpart's.
_MAILBOXES = {
    "GOOGLE_OAUTH": ("northwind.fr", ("INBOX", "[Gmail]/Sent Mail"), ("INBOX", "SENT")),
    "OUTLOOK": (
        "northwind.onmicrosoft.com",
        ("Inbox", "Sent Items"),
        ("AQMkADAwATNiZmYAZS1pbmJveA", "AQMkADAwATNiZmYAZS1zZW50"),
    ),
    "MAIL": ("mail.northwind.fr", ("INBOX", "Sent"), ("INBOX", "Sent")),
}
# Smaller than the demo's accounts: each connection builds and stores its account anew.
_CONNECTED_CHATS, _CONNECTED_GROUPS, _CONNECTED_THREADS = 30, 3, 40


def build_connected_account(
    seed: int, key: str, account_id: str, account_type: str, created_at: str
) -> tuple[JSON, Demo]:
    """A newly connected account of ``account_type`` (one of ``CONNECTABLE_TYPES``) and its data,
    from ``seed`` and ``key`` alone: the UniPile ``Account`` object, and a ``Demo`` of its chats
    or emails (with no ``DemoAccount``, since no demo user owns it).

    Its people are the demo's (``build_demo(seed).crm`` knows many of them) in a new draw."""
    if account_type not in CONNECTABLE_TYPES:
        raise ValueError(f"cannot build an account of type {account_type!r}")
    people = _demo_people(random.Random(seed))
    rng = random.Random(f"connected-{seed}-{key}")
    inbox = _InboxBuilder(rng, people)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    if account_type == "WHATSAPP":
        phone = _phone(rng, DEMO_DEFAULT_REGION)[1:]
        account = account_json(
            account_id,
            account_type,
            phone,
            created_at,
            {"im": {"phone_number": phone}},
            "MESSAGING",
        )
        inbox.whatsapp(
            account, phone_to_whatsapp_jid(phone), first, _CONNECTED_CHATS, _CONNECTED_GROUPS
        )
    elif account_type == "LINKEDIN":
        own_id, name = _linkedin_id(rng), f"{first} {last}"
        params = {"im": {"id": own_id, "username": name, "premiumContractId": None}}
        account = account_json(account_id, account_type, name, created_at, params, "MESSAGING")
        inbox.linkedin(account, own_id, name, _CONNECTED_CHATS)
    else:
        domain, names, provider_ids = _MAILBOXES[account_type]
        address = _address(first, last, domain)
        account = account_json(
            account_id,
            account_type,
            address,
            created_at,
            _mail_params(account_type, address),
            "MAILS",
        )
        inbox.mailbox(account, names, provider_ids, f"{first} {last}", _CONNECTED_THREADS)
    return account, inbox.demo(seed, DemoCrm(companies=(), contacts=()))


def _mail_params(account_type: str, address: str) -> JSON:
    if account_type != "MAIL":
        return {"mail": {"id": address, "username": address}}
    host = address.partition("@")[2]
    return {
        "mail": {
            "imap_host": f"imap.{host}",
            "imap_port": 993,
            "imap_user": address,
            "imap_encryption": "ssl",
            "smtp_host": f"smtp.{host}",
            "smtp_port": 465,
            "smtp_user": address,
        }
    }
