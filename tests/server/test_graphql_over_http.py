"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): with
`application/graphql-response+json` a request that fails before execution is a 4xx without
`data`; with `application/json` it stays a 200. Every error has its code, a body that is not a
GraphQL request is a 400, and a refused token is no ERROR in the log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from db.models import User
from tests.server import test_app
from tests.server.test_app import bearer

# The served app of test_app, over its people.
people = test_app.people
server = test_app.server

GRAPHQL_RESPONSE = "application/graphql-response+json"
CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own client
DEEP = (
    "{ companies { edges { node { conversations { edges { node { participants { crmMatch {"
    " company { conversations { edges { node { participants { identifier } } } } } } } } } } }"
    " } } }"
)
REQUEST_ERRORS = [
    pytest.param("{ viewer {", None, {"GRAPHQL_PARSE_FAILED"}, id="syntax"),
    pytest.param("{ viewer { noSuchField } }", None, {"GRAPHQL_VALIDATION_FAILED"}, id="unknown"),
    # The depth limit is a validation rule, or a query limit with its own code.
    pytest.param(DEEP, None, {"GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COMPLEX"}, id="depth"),
    pytest.param(
        "query ($id: ID!) { node(id: $id) { id } }", {"id": None}, {"BAD_USER_INPUT"}, id="null"
    ),
    pytest.param(
        "query ($id: ID!) { node(id: $id) { id } }", {}, {"BAD_USER_INPUT"}, id="missing variable"
    ),
    pytest.param(
        "query ($first: Int) { contacts(first: $first) { totalCount } }",
        {"first": "many"},
        {"BAD_USER_INPUT"},
        id="wrong type",
    ),
]


async def post(
    url: str,
    body: dict[str, Any] | bytes,
    accept: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if accept is not None:
        sent["Accept"] = accept
    async with httpx.AsyncClient(base_url=url) as client:
        if isinstance(body, bytes):
            return await client.post("/graphql", content=body, headers=sent)
        return await client.post("/graphql", json=body, headers=sent)


def codes(result: dict[str, Any]) -> set[str]:
    return {error["extensions"]["code"] for error in result["errors"]}


@pytest.mark.parametrize(("query", "variables", "expected"), REQUEST_ERRORS)
async def test_a_request_error_is_a_400_without_data_for_graphql_response_json(
    server: str, people: dict[str, Any], query: str, variables: Any, expected: set[str]
) -> None:
    response = await post(
        server, {"query": query, "variables": variables}, GRAPHQL_RESPONSE, bearer(people["alice"])
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    result = response.json()
    assert "data" not in result
    assert result["errors"] and codes(result) <= expected, result


@pytest.mark.parametrize(("query", "variables", "expected"), REQUEST_ERRORS)
@pytest.mark.parametrize("accept", ["application/json", None, "*/*"])
async def test_a_request_error_is_a_200_with_null_data_for_json(
    server: str,
    people: dict[str, Any],
    query: str,
    variables: Any,
    expected: set[str],
    accept: str | None,
) -> None:
    response = await post(
        server, {"query": query, "variables": variables}, accept, bearer(people["alice"])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    result = response.json()
    assert result["data"] is None
    assert result["errors"] and codes(result) <= expected, result


async def test_an_executed_request_is_a_200_for_graphql_response_json(
    server: str, people: dict[str, Any]
) -> None:
    query = {"query": "{ viewer { user { email } } }"}
    served = await post(server, query, GRAPHQL_RESPONSE, bearer(people["alice"]))
    assert served.status_code == 200
    assert served.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert served.json() == {"data": {"viewer": {"user": {"email": "alice@acme.test"}}}}

    # Refused while executing: a field error next to `data`, so a 200 as well.
    refused = await post(server, query, f"{GRAPHQL_RESPONSE}, application/json;q=0.9")
    assert refused.status_code == 200
    result = refused.json()
    assert "data" in result and codes(result) == {"UNAUTHENTICATED"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"null", id="null"),
        pytest.param(b'"x"', id="string"),
        pytest.param(b"5", id="number"),
        pytest.param(b"[]", id="list"),
        pytest.param(b"\xff\xfe{\x00}\x00", id="not utf-8"),
        pytest.param(b'{"query": "{ \xff }"}', id="not utf-8 inside"),
        pytest.param('{"query": "{ __typename }"}'.encode("utf-16"), id="utf-16"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"query": ', id="truncated"),
        pytest.param(b'{"notquery": "{ __typename }"}', id="no query"),
        pytest.param(b'{"query": 5}', id="query not a string"),
        pytest.param(b'{"query": "{ __typename }", "operationName": 5}', id="operation name"),
        pytest.param(b'{"query": "{ __typename }", "variables": [1]}', id="variables"),
        pytest.param(
            b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
            id="nested too deeply",
        ),
    ],
)
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
@pytest.mark.parametrize("signed_in", [True, False])
async def test_a_body_that_is_no_graphql_request_is_a_400_with_a_graphql_error(
    server: str, people: dict[str, Any], body: bytes, accept: str, signed_in: bool
) -> None:
    headers = bearer(people["alice"]) if signed_in else {}
    response = await post(server, body, accept, headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(accept)
    result = response.json()
    assert "data" not in result
    [error] = result["errors"]
    assert error["message"] and error["extensions"] == {"code": "BAD_REQUEST"}


async def test_a_mutation_over_get_is_a_405(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        response = await client.get(
            "/graphql",
            params={"query": "mutation { __typename }"},
            headers={"Accept": GRAPHQL_RESPONSE},
        )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert codes(response.json()) == {"BAD_REQUEST"}


async def test_a_refused_token_is_logged_in_one_line_at_most_without_a_traceback(
    server: str, people: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    alice: User = people["alice"]
    ghost = User(id=999_999, workspace_id=alice.workspace_id)
    refused = {
        "missing": {},
        "malformed": {"Authorization": "Bearer not-a-token"},
        "not bearer": {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        "expired": bearer(alice, now=datetime.now(UTC) - timedelta(days=2)),
        "other key": bearer(alice, key="another-signing-key-0123456789-abcdefgh"),
        "unknown user": bearer(ghost),
    }
    query = {"query": "{ viewer { user { email } } accounts { externalId } }"}
    for name, headers in refused.items():
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            response = await post(server, query, headers=headers)
        assert codes(response.json()) == {"UNAUTHENTICATED"}, name
        server_records = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
        logged = [r for r in server_records if r.levelno >= logging.INFO]
        assert len(logged) <= 1, (name, [r.getMessage() for r in logged])
        assert all(r.levelno < logging.ERROR and r.exc_info is None for r in server_records), (
            name,
            [(r.levelname, r.name, r.getMessage()) for r in server_records],
        )


async def test_parse_and_validation_errors_log_no_error(
    server: str, people: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        for query, variables, _ in (param.values for param in REQUEST_ERRORS):
            await post(
                server, {"query": query, "variables": variables}, None, bearer(people["alice"])
            )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        (r.levelname, r.name, r.getMessage()) for r in caplog.records
    ]


class FailingContext:
    """A context whose authentication fails unexpectedly: the database is gone."""

    async def authenticate(self) -> None:
        raise OSError("connection to 10.0.0.5:5432 refused")


async def test_an_unexpected_exception_is_masked_and_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from schema.schema import schema

    with caplog.at_level(logging.DEBUG):
        result = await schema.execute("{ __typename }", context_value=FailingContext())
    assert [error.formatted for error in result.errors or []] == [
        {"message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    ]
    [logged] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.exc_info is not None and "10.0.0.5" in str(logged.exc_info[1])
