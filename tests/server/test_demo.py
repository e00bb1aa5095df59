from __future__ import annotations

from db.models import Account, Company, CompanyDomain, Contact, ContactIdentifier, User, Workspace
from server.demo import load_demo
from unipile.sandbox import build_demo


async def _counts() -> tuple[int, ...]:
    return tuple(
        [
            await model.all().count()
            for model in (
                Workspace,
                User,
                Account,
                Company,
                CompanyDomain,
                Contact,
                ContactIdentifier,
            )
        ]
    )


async def test_the_demo_loads_once_however_often_it_runs(database: str) -> None:
    demo = build_demo(7)
    summary = await load_demo(7)
    first = await _counts()
    await load_demo(7)
    assert await _counts() == first
    assert (summary.accounts, summary.contacts, summary.companies) == (
        5,
        len(demo.crm.contacts),
        len(demo.crm.companies),
    )
    assert await Contact.all().count() == len(demo.crm.contacts)
    assert await Account.filter(shared=True).count() == 1


async def test_demo_accounts_know_their_own_identity(database: str) -> None:
    await load_demo(7)
    whatsapp = await Account.get(unipile_id="acc_whatsapp_demo_0001")
    assert whatsapp.own_identifiers[0]["kind"] == "PHONE"
    assert whatsapp.own_identifiers[0]["value"].startswith("+")
    assert (await whatsapp.owner).email == "bob@demo.switchboard.test"
