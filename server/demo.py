"""Loading the demo workspace: its users, the sandbox's accounts, and the CRM derived from its seed.

Idempotent: every row is found by its natural key before it is created, so running it again
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.transactions import in_transaction

from access.tokens import issue_token
from accounts.lifecycle import own_identifiers
from core.identity import Identity
from core.vocabulary import IdentifierKind, Role, channel_for_provider
from crm import (
    Identifier,
    Rejected,
    normalize_company_domain,
    normalize_contact_identifier,
)
from crm.caching import Kept, bump
from db.models import (
    Account,
    Company,
    CompanyDomain,
    Contact,
    ContactIdentifier,
    User,
    Workspace,
)
from server.settings import Settings
from unipile import Account as UnipileAccount
from unipile.sandbox import DEMO_DEFAULT_REGION, DemoAccount, DemoContact, DemoCrm, build_demo

DEMO_SLUG = "demo"
DEMO_USERS = {
    "alice": ("alice@demo.switchboard.test", "Alice Martin"),
    "bob": ("bob@demo.switchboard.test", "Bob Laurent"),
}
DEMO_ROLES = {"alice": Role.ADMIN, "bob": Role.MEMBER}


def lifetime(hours: float) -> str:
    """`24 hours`, `1 hour`, `0.5 hours`: how long a token of `TOKEN_TTL_HOURS` lasts."""
    return f"{hours:g} hour{'' if hours == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class DemoUserView:
    """A demo user and the accounts they see: their own and the workspace's shared ones."""

    user_id: int
    email: str
    role: Role
    accounts: tuple[DemoAccount, ...]

    def sees(self) -> str:
        """`… sees EMAIL (GOOGLE_OAUTH acc_…; OUTLOOK acc_…), LINKEDIN (acc_…, shared)`."""
        by_channel: dict[str, list[str]] = {}
        for account in self.accounts:
            channel = channel_for_provider(account.type).value
            named = account.id if channel == account.type else f"{account.type} {account.id}"
            by_channel.setdefault(channel, []).append(
                named + (", shared" if account.shared else "")
            )
        seen = ", ".join(f"{channel} ({'; '.join(ids)})" for channel, ids in by_channel.items())
        return f"{self.email} ({self.role.value.lower()}) sees {seen}"


@dataclass(frozen=True, slots=True)
class DemoSummary:
    workspace_id: int
    user_id: int
    accounts: int
    companies: int
    contacts: int
    users: tuple[DemoUserView, ...] = ()
    """Each demo user, alice last."""

    def describe(self, settings: Settings) -> str:
        lines = [
            f"demo workspace ready: {self.accounts} accounts, {self.companies} companies, "
            f"{self.contacts} contacts",
            *(user.sees() for user in self.users),
            f"GraphiQL opens with a token for {DEMO_USERS['alice'][0]} in its Headers.",
        ]
        ttl = timedelta(hours=settings.token_ttl_hours)
        # alice's token comes last: scripts take the last line as the demo token.
        for user in self.users:
            token = issue_token(
                Identity(user.user_id, self.workspace_id), settings.signing_key(), ttl
            )
            lines.append(
                f"bearer token for {user.email} (valid {lifetime(settings.token_ttl_hours)}):"
                f"\n{token}"
            )
        return "\n".join(lines)


def _views(users: dict[str, User], accounts: tuple[DemoAccount, ...]) -> tuple[DemoUserView, ...]:
    order = sorted(users, key=lambda key: key == "alice")
    return tuple(
        DemoUserView(
            user_id=users[key].id,
            email=users[key].email,
            role=DEMO_ROLES[key],
            accounts=tuple(a for a in accounts if a.owner == key or a.shared),
        )
        for key in order
    )


async def demo_token(signing_key: str, ttl_hours: float, user: str = "alice") -> str | None:
    """A fresh bearer token for a demo user (alice by default), lasting `ttl_hours`; None when
    the demo is not loaded or the user is disabled."""
    found = await User.get_or_none(email=DEMO_USERS[user][0])
    if found is None or not found.is_active:
        return None
    identity = Identity(found.id, found.workspace_id)
    return issue_token(identity, signing_key, timedelta(hours=ttl_hours))


async def load_demo(seed: int) -> DemoSummary:
    demo = build_demo(seed)
    async with in_transaction():
        workspace, _ = await Workspace.get_or_create(
            slug=DEMO_SLUG, defaults={"name": "Demo", "default_region": DEMO_DEFAULT_REGION}
        )
        users = {
            key: await _user(workspace, email, name, DEMO_ROLES[key])
            for key, (email, name) in DEMO_USERS.items()
        }
        for account in demo.accounts:
            await _account(workspace, users[account.owner], account)
        companies = await _companies(workspace, demo.crm)
        for contact in demo.crm.contacts:
            await _contact(workspace, contact, companies)
    # Loaded into a served database, the demo CRM is new to the matches its server kept.
    await bump(workspace.id, Kept.CRM_RECORDS)
    return DemoSummary(
        workspace_id=workspace.id,
        user_id=users["alice"].id,
        accounts=len(demo.accounts),
        companies=len(demo.crm.companies),
        contacts=len(demo.crm.contacts),
        users=_views(users, demo.accounts),
    )


async def _user(workspace: Workspace, email: str, name: str, role: Role) -> User:
    user, _ = await User.update_or_create(
        email=email, defaults={"workspace": workspace, "name": name, "role": role}
    )
    return user


async def _account(workspace: Workspace, owner: User, demo_account: DemoAccount) -> None:
    upstream = UnipileAccount.from_json(demo_account.data)
    await Account.update_or_create(
        unipile_id=demo_account.id,
        defaults={
            "workspace": workspace,
            "owner": owner,
            "shared": demo_account.shared,
            "channel": channel_for_provider(demo_account.type),
            "provider": demo_account.type,
            "name": demo_account.name,
            "own_identifiers": own_identifiers(upstream, workspace.default_region),
        },
    )


async def _companies(workspace: Workspace, crm: DemoCrm) -> dict[str, Company]:
    companies: dict[str, Company] = {}
    for demo_company in crm.companies:
        company, _ = await Company.get_or_create(workspace=workspace, name=demo_company.name)
        for raw in demo_company.domains:
            domain = normalize_company_domain(raw)
            if not isinstance(domain, Rejected):
                await CompanyDomain.get_or_create(
                    workspace=workspace, domain=domain, defaults={"company": company}
                )
        companies[demo_company.key] = company
    return companies


def _contact_identifiers(contact: DemoContact, region: str) -> list[tuple[Identifier, str]]:
    raw_by_kind = (
        (IdentifierKind.EMAIL, contact.emails),
        (IdentifierKind.PHONE, contact.phones),
        (IdentifierKind.PROVIDER_ID, contact.provider_ids),
    )
    identifiers = []
    for kind, raws in raw_by_kind:
        for raw in raws:
            identifier = normalize_contact_identifier(kind, raw, region=region)
            if not isinstance(identifier, Rejected):
                identifiers.append((identifier, raw))
    return identifiers


async def _contact(
    workspace: Workspace, demo_contact: DemoContact, companies: dict[str, Company]
) -> None:
    company = companies.get(demo_contact.company_key) if demo_contact.company_key else None
    # Two demo people may share a name; their companies tell them apart.
    contact, _ = await Contact.get_or_create(
        workspace=workspace,
        first_name=demo_contact.first_name,
        last_name=demo_contact.last_name,
        company=company,
    )
    for identifier, raw in _contact_identifiers(demo_contact, workspace.default_region):
        await ContactIdentifier.get_or_create(
            contact=contact,
            kind=identifier.kind,
            value=identifier.value,
            defaults={"workspace": workspace, "original": raw},
        )
