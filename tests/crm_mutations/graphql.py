"""The mutations' documents, and reading their payloads."""

from __future__ import annotations

from typing import Any

from tests.inbox.conftest import Inbox

CONTACT = """
    id firstName lastName name
    company { id name }
    emails { value original } phones { value original } providerIds { value original }
"""
ERROR = "error { code message field }"
RULES = "rules { policies { channel policy isDefault } neverStore { kind value } }"


def mutation(name: str, input_type: str, fields: str) -> str:
    return f"""mutation($input: {input_type}!) {{
        {name}(input: $input) {{ {fields} {ERROR} }}
    }}"""


CREATE_CONTACT = mutation("createContact", "CreateContactInput", f"contact {{ {CONTACT} }}")
UPDATE_CONTACT = mutation("updateContact", "UpdateContactInput", f"contact {{ {CONTACT} }}")
DELETE_CONTACT = mutation("deleteContact", "DeleteContactInput", "deletedId")
CREATE_COMPANY = mutation("createCompany", "CreateCompanyInput", "company { id name domains }")
UPDATE_COMPANY = mutation("updateCompany", "UpdateCompanyInput", "company { id name domains }")
DELETE_COMPANY = mutation("deleteCompany", "DeleteCompanyInput", "deletedId")
FROM_PARTICIPANT = mutation(
    "createContactFromParticipant",
    "CreateContactFromParticipantInput",
    f"contact {{ {CONTACT} }}",
)
SET_POLICY = mutation("setStoragePolicy", "SetStoragePolicyInput", RULES)
ADD_NEVER_STORE = mutation("addNeverStore", "NeverStoreInput", RULES)
REMOVE_NEVER_STORE = mutation("removeNeverStore", "NeverStoreInput", RULES)


async def call(
    inbox: Inbox, document: str, given: dict[str, Any], user: str = "alice"
) -> dict[str, Any]:
    """The payload of a one-mutation document, which must not fail at the top level."""
    result = await inbox.query(document, {"input": given}, user=user)
    assert "errors" not in result, result["errors"]
    payload: dict[str, Any] = next(iter(result["data"].values()))
    return payload


async def succeed(
    inbox: Inbox, document: str, given: dict[str, Any], user: str = "alice"
) -> dict[str, Any]:
    payload = await call(inbox, document, given, user)
    assert payload["error"] is None, payload["error"]
    return payload


async def fail(
    inbox: Inbox, document: str, given: dict[str, Any], user: str = "alice"
) -> dict[str, Any]:
    """The payload's error, which must be there, with nothing else."""
    payload = await call(inbox, document, given, user)
    assert payload["error"] is not None, payload
    assert all(value is None for key, value in payload.items() if key != "error")
    error: dict[str, Any] = payload["error"]
    return error
