"""Queries and mutations generated from the schema with hostile values, over the served app.

`hypothesis-graphql` builds documents from the schema (every root field, arguments and input
objects included) and draws each `String` and `ID` from hostile text: NUL, digits `int()` refuses,
overflowing and forged global ids, invalid punycode, over-long values, and the ids of real demo
objects, so that generated calls reach past the id checks. Whatever comes back, no error is
internal and every error has a stable `extensions.code`. Lone surrogates cannot be written in a
GraphQL document (they are a syntax error there), so `tests/bad_input/test_cases.py` sends them
as JSON variables.
"""

from __future__ import annotations

import json
from typing import Any

import graphql
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from schema.schema import schema
from tests.bad_input.test_cases import BAD_KEYS, Demo, demo_ids, raw_id
from tests.inbox.conftest import Inbox

SDL = schema.as_str()
TYPES = ["Contact", "Company", "Conversation", "Account", "User", "Workspace", "Message", "Nope"]
HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "²",
    "٣",
    "99999999999",
    str(2**64 + 1),
    "-1",
    "%",
    "_",
    "\\",
    "'; DROP TABLE contact; --",
    "a/../b",
    "..",
    "\u202egnp.exe",
    "\ufeff",
    "\U0001d518\U0001d52b\U0001d526",  # Fraktur letters
    "xn--zz.com",
    "jane@xn--zz.com",
    "info@xn--strae-oqa.de",
    "jane@straße.de",
    "https://www.straße.de/",
    "+33 6 12 34 56 78",
    "06 12 34 56 78",
    "33612345678@s.whatsapp.net",
    "120363@g.us",
    "ACoAAB\x00xyz",
    " ".join(["w"] * 11),
    "x" * 129,
    "x" * 256,
    "x" * 321,
    "x" * 5_000,
]
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    # Documents over many root fields are large; the examples are bounded, not the sizes.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
    )


def ids(demo: Demo) -> st.SearchStrategy[str]:
    real = [demo.chat, demo.thread, demo.contact, demo.company, demo.account]
    forged = st.builds(
        raw_id,
        st.sampled_from(TYPES),
        st.one_of(st.sampled_from([*BAD_KEYS, "1:\x00", "1:" + "c" * 300]), text()),
    )
    return st.one_of(st.sampled_from(real), forged, text())


def scalars(demo: Demo) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    return {"String": text().map(nodes.String), "ID": ids(demo).map(nodes.String)}


def check_answer(client: httpx.Client, document: str) -> None:
    response = client.post("/graphql", json={"query": document})
    assert response.status_code != 500, (document, response.text[:500])
    assert "INTERNAL_SERVER_ERROR" not in response.text, (document, response.text[:2000])
    result: dict[str, Any] = response.json()
    for error in result.get("errors") or []:
        assert "code" in (error.get("extensions") or {}), (document, error)
    assert response.status_code in (200, 413), (document, response.text[:500])


def client_of(inbox: Inbox) -> httpx.Client:
    return httpx.Client(
        base_url=inbox.url,
        timeout=30,
        headers={"Authorization": f"Bearer {inbox.tokens['alice']}"},
    )


async def test_generated_queries_never_fail_internally(inbox: Inbox) -> None:
    demo = await demo_ids(inbox)
    with client_of(inbox) as client:

        @SETTINGS
        @given(document=queries(SDL, custom_scalars=scalars(demo)))
        def run(document: str) -> None:
            check_answer(client, document)

        run()


async def test_generated_mutations_never_fail_internally(inbox: Inbox) -> None:
    demo = await demo_ids(inbox)
    with client_of(inbox) as client:

        @SETTINGS
        @given(document=mutations(SDL, custom_scalars=scalars(demo)))
        def run(document: str) -> None:
            check_answer(client, document)

        run()


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(data=st.data())
def test_the_strategies_reach_every_root_field(data: st.DataObject) -> None:
    """Every field of Query and Mutation takes arguments the strategies can generate."""
    demo = Demo("c", "t", "p", "o", "a")
    parsed = graphql.build_schema(SDL)
    for root, strategy in ((parsed.query_type, queries), (parsed.mutation_type, mutations)):
        assert root is not None
        for name in root.fields:
            document = data.draw(strategy(SDL, fields=[name], custom_scalars=scalars(demo)))
            assert name in document, json.dumps(document)
