"""CPU per execution of the inbox PAGE selection, with graphql-core's (Strawberry's) execution
context and with Switchboard's (`schema/execution.py`), over the same fixed objects.

    python -m bench.execution                       # 50 conversations of bench/recorded_page.json
    python -m bench.execution --repetitions 400

The objects are the Strawberry types rebuilt from a recorded response of the demo (the page the
stock baseline serves), so only execution is measured: no upstream call, no database, no
cursors or clocks that differ between two reads. Both contexts run alternately, in one process,
each on its own schema (the same types); the results are checked to be equal bytes first.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import strawberry
from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import Info

from bench.inbox import PAGE
from schema.execution import SwitchboardExecutionContext
from schema.inbox import ConversationConnection, ConversationFilter

RECORDED_PAGE = Path(__file__).with_name("recorded_page.json")

ExecutionContextClass = type[StrawberryGraphQLCoreExecutionContext]


@strawberry.type
class FixedQuery:
    """The inbox's root field over a connection given as the root value."""

    @strawberry.field
    def conversations(
        self,
        info: Info[None, ConversationConnection],
        first: int | None = None,
        after: str | None = None,
        filter: ConversationFilter | None = None,
    ) -> ConversationConnection:
        return info.root_value


def fixed_schema(query: type, execution_context_class: ExecutionContextClass) -> strawberry.Schema:
    """A schema of `query` executed by `execution_context_class`; parsing and validation are
    cached, as in the served schema, so that a repeated document costs its execution."""
    return strawberry.Schema(
        query=query,
        execution_context_class=execution_context_class,
        extensions=[ParserCache, ValidationCache],
    )


def objects_from_response(output_type: GraphQLOutputType, value: Any) -> Any:
    """The Python value a field of `output_type` holds to answer `value` (a response's JSON,
    keyed by field names): Strawberry type instances, enum members, datetimes. Private fields
    and fields the response does not have are None."""
    if value is None:
        return None
    if isinstance(output_type, GraphQLNonNull):
        return objects_from_response(output_type.of_type, value)
    if isinstance(output_type, GraphQLList):
        return [objects_from_response(output_type.of_type, item) for item in value]
    if is_leaf_type(output_type):
        return output_type.parse_value(value)
    if not isinstance(output_type, GraphQLObjectType):
        raise TypeError(f"no objects are rebuilt for {output_type}")
    origin = output_type.extensions[GraphQLCoreConverter.DEFINITION_BACKREF].origin
    given = {}
    for name, field_value in value.items():
        field = output_type.fields[name]
        python_name = field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF].python_name
        given[python_name] = objects_from_response(field.type, field_value)
    missing = {
        field.name: None
        for field in dataclasses.fields(origin)
        if field.init and field.name not in given
    }
    return origin(**given, **missing)


def recorded_connection(schema: strawberry.Schema) -> Any:
    """The recorded page's `conversations`, rebuilt as a ConversationConnection."""
    recorded = orjson.loads(RECORDED_PAGE.read_bytes())
    connection_type = schema._schema.type_map["ConversationConnection"]
    assert isinstance(connection_type, GraphQLObjectType)
    return objects_from_response(connection_type, recorded["data"]["conversations"])


def response_bytes(result: Any) -> bytes:
    """A result as the transport would send it: data and formatted errors."""
    errors = [error.formatted for error in result.errors or ()]
    return orjson.dumps({"data": result.data, "errors": errors})


def cpu_ms_per_execution(execute: Callable[[], Any], repetitions: int) -> float:
    started = time.process_time()
    for _ in range(repetitions):
        execute()
    return (time.process_time() - started) * 1000 / repetitions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=200, help="executions per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    arguments = parser.parse_args(argv)
    stock = fixed_schema(FixedQuery, StrawberryGraphQLCoreExecutionContext)
    lean = fixed_schema(FixedQuery, SwitchboardExecutionContext)
    connection = recorded_connection(stock)
    variables = {"first": 50}

    def run(schema: strawberry.Schema) -> Callable[[], Any]:
        return lambda: schema.execute_sync(PAGE, variables, root_value=connection)

    if response_bytes(run(stock)()) != response_bytes(run(lean)()):
        print("the two execution contexts answer differently", file=sys.stderr)
        return 1
    timings: dict[str, list[float]] = {"graphql-core": [], "switchboard": []}
    for _ in range(arguments.rounds):
        timings["graphql-core"].append(cpu_ms_per_execution(run(stock), arguments.repetitions))
        timings["switchboard"].append(cpu_ms_per_execution(run(lean), arguments.repetitions))
    edges = len(connection.edges)
    print(f"PAGE over {edges} conversations, {arguments.rounds} rounds of {arguments.repetitions}")
    for name, values in timings.items():
        print(
            f"{name:>13}: {statistics.median(values):6.2f} ms CPU per execution "
            f"(median; min {min(values):.2f}, max {max(values):.2f})"
        )
    ratio = statistics.median(timings["switchboard"]) / statistics.median(timings["graphql-core"])
    print(f"switchboard / graphql-core: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
