"""`SwitchboardExecutionContext` answers exactly what graphql-core's execution answers.

The data is a real inbox page of the demo over the sandbox, read once through the served API and
rebuilt as the schema's objects; broken copies of it hold what a bug could put there (a null in a
non-null field, a value of the wrong type, an attribute that raises, an exception as a value).
Generated documents over the inbox's types, read from the schema (aliases, repeated fields,
named and inline fragments, fragments on an interface, `__typename`, `@include`/`@skip` with
variables), are executed by two schemas of the same types, one with Strawberry's stock execution
context and one with Switchboard's, and their responses compared as bytes.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import strawberry
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from bench.execution import objects_from_response, response_bytes
from schema.execution import SwitchboardExecutionContext
from schema.inbox import ConversationConnection
from schema.schema import build_schema
from server.app import create_app
from tests.inbox.conftest import SANDBOX_KEY, Inbox, inbox_settings, issue_demo_tokens
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

# Response names the connection fields get in generated documents: each names a field of
# `Inboxes`, whose data is fine or broken in its own way.
ROOT_FIELDS = ("page", "partlyBroken", "nullInList", "badLeaves", "awaited", "resolved")
MAX_DEPTH = 7


@strawberry.type
class Inboxes:
    """The root: the page as read, broken copies of it, and the page behind resolvers."""

    page: ConversationConnection
    partly_broken: ConversationConnection | None
    null_in_list: ConversationConnection | None
    bad_leaves: ConversationConnection | None

    @strawberry.field
    async def awaited(self) -> ConversationConnection | None:
        return self.partly_broken

    @strawberry.field
    def resolved(self) -> ConversationConnection:
        return self.page


def inbox_schema(context_class: type[StrawberryGraphQLCoreExecutionContext]) -> strawberry.Schema:
    return strawberry.Schema(query=Inboxes, execution_context_class=context_class)


STOCK = inbox_schema(StrawberryGraphQLCoreExecutionContext)
LEAN = inbox_schema(SwitchboardExecutionContext)


def full_selection(object_type: GraphQLObjectType) -> str:
    """Every field without arguments, recursively."""
    parts = []
    for name, definition in object_type.fields.items():
        named = get_named_type(definition.type)
        if definition.args:
            continue
        if isinstance(named, GraphQLObjectType):
            parts.append(f"{name} {full_selection(named)}")
        elif is_leaf_type(named):
            parts.append(name)
    return "{ " + " ".join(parts) + " }"


def connection_type(schema: GraphQLSchema) -> GraphQLObjectType:
    found = schema.type_map["ConversationConnection"]
    assert isinstance(found, GraphQLObjectType)
    return found


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as url:
        yield url


@pytest.fixture
async def demo_page(sqlite_database: str, sandbox_url: str, tmp_path: Path) -> dict[str, Any]:
    """The first 20 conversations of alice's inbox, every field, as the served API answers."""
    tokens = await issue_demo_tokens()
    app = create_app(inbox_settings(sqlite_database, tmp_path, sandbox_url))
    selection = full_selection(connection_type(build_schema()._schema))
    with running_app(app) as url:
        inbox = Inbox(url=url, sandbox=sandbox_url, tokens=tokens)
        result = await inbox.query(f"{{ conversations(first: 20) {selection} }}")
    assert "errors" not in result, result["errors"]
    page: dict[str, Any] = result["data"]["conversations"]
    assert len(page["edges"]) == 20
    return page


def matches(connection: Any) -> list[Any]:
    found = [
        participant.crm_match
        for edge in connection.edges
        for participant in edge.node.participants
        if participant.crm_match is not None and participant.crm_match.candidates
    ]
    assert len(found) >= 2, "the demo page has CRM matches"
    return found


def partly_broken(page: Any) -> Any:
    """Errors that stop at a nullable field, in every conversation: the rest is answered."""
    broken = copy.deepcopy(page)
    for index, match in enumerate(matches(broken)):
        if index % 2:
            del match.candidates[0].name
        else:
            match.ambiguous = None
    for index, edge in enumerate(broken.edges):
        conversation = edge.node
        conversation.storage.stored_at = ValueError("the storage clock broke")
        if index % 2:
            conversation.subject = 42
            conversation.links = tuple(conversation.links)
            conversation.participants = tuple(conversation.participants)
        else:
            del conversation.account.last_error
    return broken


def null_in_list(page: Any) -> Any:
    """A null in a non-null field of a list item: it nulls everything up to the root field."""
    broken = copy.deepcopy(page)
    for edge in broken.edges:
        edge.node.participants[-1].identifier = None
    return broken


def bad_leaves(page: Any) -> Any:
    """Values no scalar or enum can serialize."""
    broken = copy.deepcopy(page)
    for index, edge in enumerate(broken.edges):
        conversation = edge.node
        if index % 2:
            conversation.participants[0].role = "NOT_A_ROLE"
            conversation.is_group = "yes"
        else:
            conversation.unread_count = "many"
    return broken


@pytest.fixture
def inboxes(demo_page: dict[str, Any]) -> Inboxes:
    page = objects_from_response(connection_type(LEAN._schema), demo_page)
    return Inboxes(
        page=page,
        partly_broken=partly_broken(page),
        null_in_list=null_in_list(page),
        bad_leaves=bad_leaves(page),
    )


async def both_responses(
    document: str, variables: dict[str, Any], root: Inboxes
) -> tuple[bytes, bytes]:
    stock = await STOCK.execute(document, variables, root_value=root)
    lean = await LEAN.execute(document, variables, root_value=root)
    return response_bytes(stock), response_bytes(lean)


@dataclass
class DocumentBuilder:
    """One generated document: its fragments and variables, with fresh names for each."""

    draw: st.DrawFn
    schema: GraphQLSchema
    fragments: list[str] = field(default_factory=list)
    variables: dict[str, bool] = field(default_factory=dict)
    names: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def document(self) -> str:
        roots = self.draw(st.lists(st.sampled_from(ROOT_FIELDS), min_size=1, max_size=3))
        connection = connection_type(self.schema)
        selections = " ".join(
            self.field_text(root, connection, depth=1) for root in dict.fromkeys(roots)
        )
        declared = ", ".join(f"${name}: Boolean!" for name in self.variables)
        operation = f"query Generated({declared})" if declared else "query Generated"
        return "\n".join([f"{operation} {{ {selections} }}", *self.fragments])

    def selection_set(self, object_type: GraphQLObjectType, depth: int) -> str:
        names = ["__typename"] + [
            name
            for name, definition in object_type.fields.items()
            if not definition.args and (depth < MAX_DEPTH or _is_leaf(definition))
        ]
        chosen = self.draw(st.lists(st.sampled_from(names), min_size=1, max_size=6))
        return "{ " + " ".join(self.placed(object_type, name, depth) for name in chosen) + " }"

    def placed(self, object_type: GraphQLObjectType, name: str, depth: int) -> str:
        """The field as such, repeated, or inside an inline or named fragment."""
        text = self.selected(object_type, name, depth)
        interfaces = [i for i in object_type.interfaces if name in i.fields or name == "__typename"]
        how = self.draw(st.sampled_from(["field", "repeated", "inline", "interface", "named"]))
        if how == "repeated":
            return f"{text} {self.selected(object_type, name, depth)}"
        if how == "inline":
            return f"... on {object_type.name}{self.directive()} {{ {text} }}"
        if how == "interface" and interfaces:
            interface: GraphQLInterfaceType = self.draw(st.sampled_from(interfaces))
            return f"... on {interface.name} {{ {text} }}"
        if how == "named":
            fragment = f"F{next(self.names)}"
            self.fragments.append(f"fragment {fragment} on {object_type.name} {{ {text} }}")
            return f"...{fragment}{self.directive()}"
        return text

    def selected(self, object_type: GraphQLObjectType, name: str, depth: int) -> str:
        alias = f"a{next(self.names)}: " if self.draw(st.booleans()) else ""
        text = f"{alias}{name}{self.directive()}"
        definition = object_type.fields.get(name)
        if definition is not None:
            named = get_named_type(definition.type)
            if isinstance(named, GraphQLObjectType):
                text += " " + self.selection_set(named, depth + 1)
        return text

    def field_text(self, name: str, connection: GraphQLObjectType, depth: int) -> str:
        alias = f"a{next(self.names)}: " if self.draw(st.booleans()) else ""
        return f"{alias}{name}{self.directive()} {self.selection_set(connection, depth)}"

    def directive(self) -> str:
        kind = self.draw(st.sampled_from(["", "", "", "include", "skip"]))
        if not kind:
            return ""
        variable = f"v{next(self.names)}"
        self.variables[variable] = self.draw(st.booleans())
        return f" @{kind}(if: ${variable})"


def _is_leaf(definition: GraphQLField) -> bool:
    return is_leaf_type(get_named_type(definition.type))


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, dict[str, bool]]:
    builder = DocumentBuilder(draw, LEAN._schema)
    return builder.document(), builder.variables


async def test_generated_selections_answer_the_same_bytes(inboxes: Inboxes) -> None:
    seen = {"errors": 0, "data": 0}

    # The same examples on every run: generation leans to simple documents, and a random draw of
    # 150 now and then holds too few error responses for the check below to mean anything.
    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(documents())
    def compare(generated: tuple[str, dict[str, bool]]) -> None:
        document, variables = generated
        # Hypothesis runs in a thread of its own (below), with an event loop per example.
        stock, lean = asyncio.run(both_responses(document, variables, inboxes))
        assert lean == stock, document
        assert b'"data":null' not in lean, f"the generated document is invalid: {lean[:300]!r}"
        seen["errors" if b'"errors":[]' not in lean else "data"] += 1

    await asyncio.to_thread(compare)
    assert seen["errors"] > 10, seen
    assert seen["data"] > 10, seen


async def test_every_field_of_every_root_answers_the_same_bytes_and_errors(
    inboxes: Inboxes,
) -> None:
    selection = full_selection(connection_type(LEAN._schema))
    document = "{ " + " ".join(f"{root} {selection}" for root in ROOT_FIELDS) + " }"
    stock, lean = await both_responses(document, {}, inboxes)
    assert lean == stock
    for message in (
        "Cannot return null for non-nullable field CrmMatch.ambiguous.",
        "'CrmCandidate' object has no attribute 'name'",
        "the storage clock broke",
        "'Account' object has no attribute 'last_error'",
        "Cannot return null for non-nullable field Participant.identifier.",
        "Int cannot represent non-integer value: 'many'",
    ):
        assert message.encode() in lean, message
    assert b'"nullInList":null' in lean
    assert b'"badLeaves":null' in lean
    assert b'"subject":"42"' in lean


class CountsResolves(SchemaExtension):
    """An extension that hooks `resolve`, as one that must see every field does."""

    calls = 0

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        CountsResolves.calls += 1
        return _next(root, info, *args, **kwargs)


async def test_an_extension_that_hooks_resolve_sees_every_field(inboxes: Inboxes) -> None:
    selection = full_selection(connection_type(LEAN._schema))
    document = f"{{ page {selection} partlyBroken {selection} }}"
    counts = []
    responses = []
    for context_class in (StrawberryGraphQLCoreExecutionContext, SwitchboardExecutionContext):
        schema = strawberry.Schema(
            query=Inboxes, execution_context_class=context_class, extensions=[CountsResolves]
        )
        CountsResolves.calls = 0
        responses.append(response_bytes(await schema.execute(document, root_value=inboxes)))
        counts.append(CountsResolves.calls)
    assert responses[0] == responses[1]
    assert counts[0] == counts[1] > 2_000


def test_the_served_schema_executes_with_switchboards_context() -> None:
    assert build_schema().execution_context_class is SwitchboardExecutionContext
