"""The CRM resolvers and loaders, in process, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from core.cursors import CursorCodec, ViewerCursors
from core.identity import Identity
from core.ids import to_global_id
from core.pages import OffsetPage
from crm.loaders import CompanyByIdLoader, ContactByIdLoader
from crm.reading import CompanyRecord, ContactRecord, company_page, contact_page
from db.metrics import count_queries
from db.models import Company, Contact
from schema.crm import company_nodes, contact_nodes
from schema.pagination import Connection
from tests.crm_api.conftest import Crm

PageFn = Callable[
    [Identity, ViewerCursors, int | None, str | None, str | None], Awaitable[OffsetPage[Any]]
]
# Count, page, then identifiers, companies and their domains.
CONTACT_PAGE_QUERIES = 5
# Count, page, then domains.
COMPANY_PAGE_QUERIES = 3


def contact_id(record: ContactRecord) -> int:
    return record.contact.id


def company_id(record: CompanyRecord) -> int:
    return record.company.id


# Unit tests of the lists: their cursors sealed for one viewer, whoever reads.
CURSORS = ViewerCursors(CursorCodec("crm-resolver-test-key-0123456789abcdef"), viewer_id=1)

LISTS = [
    pytest.param(contact_page, contact_id, id="contacts"),
    pytest.param(company_page, company_id, id="companies"),
]


async def walk(
    page_fn: PageFn, id_of: Callable[[Any], int], identity: Identity, first: int, search: str | None
) -> list[int]:
    """Every id of a list, following cursors page by page and checking each page on the way."""
    ids: list[int] = []
    after: str | None = None
    while True:
        connection = Connection.from_page(
            await page_fn(identity, CURSORS, first, after, search), id_of, CURSORS
        )
        assert len(connection.edges) <= first
        assert connection.page_info.has_previous_page == (after is not None)
        ids += [edge.node for edge in connection.edges]
        if not connection.page_info.has_next_page:
            assert len(ids) == connection.total_count
            return ids
        after = connection.page_info.end_cursor


@pytest.mark.parametrize(("page_fn", "id_of"), LISTS)
@pytest.mark.parametrize("search", [None, "a", "MARTIN"])
async def test_paging_by_7_and_by_100_gives_the_same_list(
    crm: Crm, page_fn: PageFn, id_of: Callable[[Any], int], search: str | None
) -> None:
    by_seven = await walk(page_fn, id_of, crm.demo, 7, search)
    assert by_seven == await walk(page_fn, id_of, crm.demo, 100, search)
    assert len(set(by_seven)) == len(by_seven)


async def test_contacts_are_ordered_by_last_then_first_name_then_id(crm: Crm) -> None:
    page = await contact_page(crm.demo, CURSORS, 100, None, None)
    keys = [(r.contact.last_name, r.contact.first_name, r.contact.id) for r in page.items]
    # PostgreSQL's collation may place accented names elsewhere than SQLite; ASCII ones agree.
    ascii_keys = [key for key in keys if (key[0] + key[1]).isascii()]
    assert ascii_keys == sorted(ascii_keys)
    # Two George Fischers: the id must break their tie.
    assert sum(key[:2] == ("Fischer", "George") for key in keys) == 2


async def test_search_ignores_case_on_every_backend(crm: Crm) -> None:
    page = await contact_page(crm.demo, CURSORS, 100, None, "mArTiN")
    assert {(r.contact.first_name, r.contact.last_name) for r in page.items} == {
        ("Paul", "Martin"),
        ("Claire", "Martin"),
    }
    companies = await company_page(crm.demo, CURSORS, 100, None, "INITECH.COM")
    assert [r.company.name for r in companies.items] == ["Initech"]


@pytest.mark.parametrize(
    ("page_fn", "queries"),
    [(contact_page, CONTACT_PAGE_QUERIES), (company_page, COMPANY_PAGE_QUERIES)],
    ids=["contacts", "companies"],
)
@pytest.mark.parametrize("search", [None, "e"])
async def test_a_page_costs_the_same_queries_whatever_its_size(
    crm: Crm, page_fn: PageFn, queries: int, search: str | None
) -> None:
    counts = []
    for first in (3, 10, 50):
        with count_queries() as counter:
            page = await page_fn(crm.demo, CURSORS, first, None, search)
        assert page.items
        counts.append(counter.value)
    assert counts == [queries] * 3


async def test_a_workspace_sees_only_its_own_records(crm: Crm) -> None:
    rival_contacts = await contact_page(crm.rival, CURSORS, 100, None, None)
    assert [(r.contact.first_name, r.contact.last_name) for r in rival_contacts.items] == [
        ("Aaron", "Aardvark"),
        ("Jane", "Doe"),
        ("Zoe", "Martin"),
    ]
    assert rival_contacts.total_count == 3
    demo_contacts = await contact_page(crm.demo, CURSORS, 100, None, None)
    demo_ids = {r.contact.id for r in demo_contacts.items}
    assert demo_ids == set(
        await Contact.filter(workspace_id=crm.demo.workspace_id).values_list("id", flat=True)
    )
    assert (await contact_page(crm.demo, CURSORS, 100, None, "rival.test")).total_count == 0
    assert (await company_page(crm.demo, CURSORS, 100, None, "rival")).total_count == 0


async def test_loaders_batch_and_load_other_workspaces_as_missing(crm: Crm) -> None:
    demo_ids = await Contact.filter(workspace_id=crm.demo.workspace_id).values_list("id", flat=True)
    rival_id = (
        await Contact.filter(workspace_id=crm.rival.workspace_id)
        .first()
        .values_list("id", flat=True)
    )
    keys = [*demo_ids, rival_id, 999_999]
    with count_queries() as counter:
        records = await ContactByIdLoader(crm.demo.workspace_id).load_many(keys)
    # Contacts, identifiers, companies and domains: one query however many keys.
    assert counter.value == 1
    assert [None if record is None else record.contact.id for record in records] == [
        *demo_ids,
        None,
        None,
    ]


async def test_the_company_loader_scopes_by_workspace(crm: Crm) -> None:
    initech = await Company.get(workspace_id=crm.demo.workspace_id, name="Initech")
    rival = await Company.get(workspace_id=crm.rival.workspace_id)
    with count_queries() as counter:
        loaded = await CompanyByIdLoader(crm.demo.workspace_id).load_many([initech.id, rival.id])
    # Companies and their domains: one query.
    assert counter.value == 1
    assert loaded[1] is None
    assert loaded[0] is not None and sorted(loaded[0].domains) == ["initech.com", "initech.fr"]


async def test_nodes_of_another_workspace_look_missing(crm: Crm) -> None:
    jane = await Contact.get(workspace_id=crm.demo.workspace_id, first_name="Jane")
    rival_jane = await Contact.get(workspace_id=crm.rival.workspace_id, first_name="Jane")
    loader = ContactByIdLoader(crm.demo.workspace_id)
    [node] = await contact_nodes(loader, [jane.id])
    assert node is not None and node.id == to_global_id("Contact", jane.id)
    assert node.company is not None and node.company.name == "Acme Corp"
    assert await contact_nodes(loader, [rival_jane.id]) == [None]
    assert await contact_nodes(loader, [999_999]) == [None]

    rival_company = await Company.get(workspace_id=crm.rival.workspace_id)
    assert await company_nodes(CompanyByIdLoader(crm.demo.workspace_id), [rival_company.id]) == [
        None
    ]
    [own] = await company_nodes(CompanyByIdLoader(crm.rival.workspace_id), [rival_company.id])
    assert own is not None and own.domains == ["rival.test"]
