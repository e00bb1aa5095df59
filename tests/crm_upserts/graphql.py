"""The upsert mutations' documents."""

from __future__ import annotations

from typing import Any

from tests.crm_mutations.graphql import CONTACT, ERROR, call
from tests.inbox.conftest import Inbox

UPSERT_CONTACTS = f"""mutation($input: UpsertContactsInput!) {{
    upsertContacts(input: $input) {{
        results {{ externalId outcome contact {{ {CONTACT} externalId }} {ERROR} }} {ERROR}
    }}
}}"""
UPSERT_COMPANIES = f"""mutation($input: UpsertCompaniesInput!) {{
    upsertCompanies(input: $input) {{
        results {{ externalId outcome company {{ id name domains externalId }} {ERROR} }} {ERROR}
    }}
}}"""

__all__ = ["UPSERT_COMPANIES", "UPSERT_CONTACTS", "call", "upsert_companies", "upsert_contacts"]


async def upsert_contacts(
    inbox: Inbox, contacts: list[dict[str, Any]], user: str = "alice"
) -> list[dict[str, Any]]:
    payload = await call(inbox, UPSERT_CONTACTS, {"contacts": contacts}, user)
    assert payload["error"] is None, payload["error"]
    results: list[dict[str, Any]] = payload["results"]
    assert len(results) == len(contacts)
    return results


async def upsert_companies(
    inbox: Inbox, companies: list[dict[str, Any]], user: str = "alice"
) -> list[dict[str, Any]]:
    payload = await call(inbox, UPSERT_COMPANIES, {"companies": companies}, user)
    assert payload["error"] is None, payload["error"]
    results: list[dict[str, Any]] = payload["results"]
    assert len(results) == len(companies)
    return results
