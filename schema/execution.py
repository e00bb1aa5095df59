"""GraphQL execution that does not pay per field for plain attributes.

Most of the inbox's ~2,600 fields per page are attributes of Strawberry types, without arguments
or a resolver of their own. graphql-core executes each of them as it would any field: a
`GraphQLResolveInfo`, Strawberry's wrapper around the default resolver, then `complete_value`
dispatching on the type. `SwitchboardExecutionContext` reads such a field's attribute itself and
completes it with a completer built once per (type, field) from the field's type: a leaf is
coerced, a list completed in one loop, an object's sub-selection executed.

Whatever is not such a field, and whatever happens rarely (an awaitable or an async iterable
where an attribute was expected, a value that is not a list), takes graphql-core's own code
paths; errors are located and propagated by graphql-core's `handle_field_error`, so error
messages, paths and null-bubbling are those of stock execution, byte for byte
(tests/schema/test_execution.py compares both over generated selections).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast
from weakref import WeakKeyDictionary

from graphql import (
    FieldNode,
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import invalid_return_type_error
from graphql.pyutils import Path, Undefined, gather_with_cancel
from graphql.type.introspection import TypeNameMetaFieldDef
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

Completer: TypeAlias = Callable[
    ["SwitchboardExecutionContext", FieldDetailsList, Path, Any, Any], Any
]
"""Completes a value read for a field: (executor, field details, path, value, position
context) to the response value, or an awaitable of it; raises what graphql-core would."""

# Directives graphql-core applies while collecting fields and never reads again; any other
# (`@stream`, a custom directive) leaves the field to graphql-core.
COLLECTION_DIRECTIVES = frozenset({"include", "skip"})

# Python types a built-in scalar returns unchanged from `coerce_output_value`.
UNCHANGED_OUTPUT_TYPES: dict[GraphQLOutputType, frozenset[type]] = {
    GraphQLString: frozenset({str}),
    GraphQLID: frozenset({str}),
    GraphQLBoolean: frozenset({bool}),
}


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """How to execute one trivial field: read `attribute` (or answer `typename`), then
    `complete`. `unchanged`: value types that are the response value as they are."""

    field_def: GraphQLField
    attribute: str | None
    typename: str | None
    complete: Completer
    unchanged: frozenset[type]


@dataclass(frozen=True, slots=True)
class Entry:
    """One response key of a grouped field set, with its plan (None: graphql-core's path)."""

    response_name: str
    field_details_list: FieldDetailsList
    plan: FieldPlan | None


# What Strawberry's own `is_type_of` is given instead of the resolve info it does not read.
NO_INFO = cast("GraphQLResolveInfo[Any]", None)

_plans: WeakKeyDictionary[GraphQLObjectType, dict[str, FieldPlan | None]] = WeakKeyDictionary()


def field_plan(
    schema: GraphQLSchema, parent_type: GraphQLObjectType, name: str
) -> FieldPlan | None:
    """The plan of `parent_type.name`, built once per type and field; None when graphql-core
    must execute it."""
    plans = _plans.setdefault(parent_type, {})
    if name not in plans:
        plans[name] = _build_plan(schema, parent_type, name)
    return plans[name]


def _build_plan(
    schema: GraphQLSchema, parent_type: GraphQLObjectType, name: str
) -> FieldPlan | None:
    if name == "__typename":
        return FieldPlan(
            TypeNameMetaFieldDef, None, parent_type.name, _never_completed, frozenset()
        )
    field_def = parent_type.fields.get(name)
    if field_def is None or not _reads_an_attribute(schema, field_def):
        return None
    complete = completer(field_def.type, parent_type, field_def, name)
    if complete is None:
        return None
    strawberry_field: StrawberryField = field_def.extensions[
        GraphQLCoreConverter.DEFINITION_BACKREF
    ]
    unchanged = _unchanged_types(field_def.type)
    return FieldPlan(field_def, strawberry_field.python_name, None, complete, unchanged)


def _reads_an_attribute(schema: GraphQLSchema, field_def: GraphQLField) -> bool:
    """Whether resolving `field_def` is Strawberry's `getattr(source, python_name)` and nothing
    else: no arguments, no resolver, no field extension or permission, no exception handler
    that could answer instead, the default resolver `getattr`."""
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    strawberry_field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return (
        strawberry_schema is not None
        and isinstance(strawberry_field, StrawberryField)
        and not field_def.args
        and strawberry_field.is_basic_field
        and not strawberry_field.is_subscription
        and getattr(field_def.resolve, "_is_default", False)
        and not strawberry_schema.exception_handlers
        and strawberry_schema.config.default_resolver is getattr
    )


def _unchanged_types(return_type: GraphQLOutputType) -> frozenset[type]:
    """The value types a field of `return_type` answers as they are: those of a built-in
    scalar, and None where the type is nullable."""
    if isinstance(return_type, GraphQLNonNull):
        return UNCHANGED_OUTPUT_TYPES.get(return_type.of_type, frozenset())
    return UNCHANGED_OUTPUT_TYPES.get(return_type, frozenset()) | {type(None)}


def _never_completed(*_: Any) -> Any:
    raise AssertionError("__typename is answered without completion")


def completer(
    return_type: GraphQLOutputType,
    parent_type: GraphQLObjectType,
    field_def: GraphQLField,
    field_name: str,
) -> Completer | None:
    """The completer of a value of `return_type`, or None for a type graphql-core completes
    itself (an interface or union, an object type with its own `is_type_of`)."""
    if isinstance(return_type, GraphQLNonNull):
        inner = completer(return_type.of_type, parent_type, field_def, field_name)
        return None if inner is None else _non_null(inner, f"{parent_type}.{field_name}")
    if isinstance(return_type, GraphQLList):
        item = completer(return_type.of_type, parent_type, field_def, field_name)
        return None if item is None else _list(return_type, item, parent_type, field_def)
    if is_leaf_type(return_type):
        return _leaf(return_type)
    if isinstance(return_type, GraphQLObjectType) and _is_type_of_ignores_info(return_type):
        return _object(return_type)
    return None


def _is_type_of_ignores_info(object_type: GraphQLObjectType) -> bool:
    """Whether the type has no `is_type_of`, or Strawberry's own (an `isinstance` check for
    types with interfaces), which does not read the resolve info it is given."""
    if object_type.is_type_of is None:
        return True
    definition = (object_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return definition is not None and definition.is_type_of is None


def _non_null(inner: Completer, field: str) -> Completer:
    message = f"Cannot return null for non-nullable field {field}."

    def complete_non_null(
        executor: SwitchboardExecutionContext,
        details: FieldDetailsList,
        path: Path,
        value: Any,
        position: Any,
    ) -> Any:
        if isinstance(value, Exception):
            raise value
        completed = inner(executor, details, path, value, position)
        if completed is None:
            raise TypeError(message)
        return completed

    return complete_non_null


def _leaf(leaf_type: Any) -> Completer:
    unchanged = UNCHANGED_OUTPUT_TYPES.get(leaf_type, frozenset())
    coerce = StrawberryGraphQLCoreExecutionContext.complete_leaf_value

    def complete_leaf(
        _executor: SwitchboardExecutionContext,
        _details: FieldDetailsList,
        _path: Path,
        value: Any,
        _position: Any,
    ) -> Any:
        if value is None or value is Undefined:
            return None
        if type(value) in unchanged:
            return value
        if isinstance(value, Exception):
            raise value
        return coerce(leaf_type, value)

    return complete_leaf


def _object(object_type: GraphQLObjectType) -> Completer:
    is_type_of = object_type.is_type_of

    def complete_object(
        executor: SwitchboardExecutionContext,
        details: FieldDetailsList,
        path: Path,
        value: Any,
        position: Any,
    ) -> Any:
        if value is None or value is Undefined:
            return None
        if isinstance(value, Exception):
            raise value
        if is_type_of is not None and not is_type_of(value, NO_INFO):
            raise invalid_return_type_error(object_type, value, details)
        return executor.collect_and_execute_subfields(object_type, details, path, value, position)

    return complete_object


def _list(
    list_type: GraphQLList[Any],
    complete_item: Completer,
    parent_type: GraphQLObjectType,
    field_def: GraphQLField,
) -> Completer:
    item_type = list_type.of_type

    def complete_list(
        executor: SwitchboardExecutionContext,
        details: FieldDetailsList,
        path: Path,
        value: Any,
        position: Any,
    ) -> Any:
        if value is None or value is Undefined:
            return None
        if isinstance(value, Exception):
            raise value
        if type(value) is not list and type(value) is not tuple:
            info = executor.build_resolve_info(field_def, _nodes(details), parent_type, path)
            return executor.complete_list_value(list_type, details, info, path, value, position)
        return executor.complete_items(
            item_type, complete_item, (parent_type, field_def), details, path, value, position
        )

    return complete_list


def _nodes(details: FieldDetailsList) -> list[FieldNode]:
    return [detail.node for detail in details]


def _plain_nodes(details: FieldDetailsList) -> bool:
    """Whether the field's nodes have no arguments and no directive but `@include`/`@skip`."""
    return all(
        not detail.node.arguments
        and all(
            directive.name.value in COLLECTION_DIRECTIVES
            for directive in detail.node.directives or ()
        )
        for detail in details
    )


class SwitchboardExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor (as Strawberry subclasses it), executing the fields that only
    read an attribute without building their resolve info or calling a resolver. When a
    schema extension hooks `resolve` (it must see every field), everything is left to
    graphql-core."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self.plain_fields_allowed = manager is None or not manager.middlewares
        # By the grouped field set's identity (graphql-core memoizes collected subfields, so
        # the items of a list share one), kept alive with it so that its id is not reused.
        self.entries: dict[int, tuple[GroupedFieldSet, list[Entry]]] = {}

    def entries_of(self, parent_type: GraphQLObjectType, fields: GroupedFieldSet) -> list[Entry]:
        cached = self.entries.get(id(fields))
        if cached is not None:
            return cached[1]
        entries = [
            Entry(
                name,
                details,
                field_plan(self.schema, parent_type, details[0].node.name.value)
                if _plain_nodes(details)
                else None,
            )
            for name, details in fields.items()
        ]
        self.entries[id(fields)] = (fields, entries)
        return entries

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_fields`, with trivial fields read and completed here."""
        if not self.plain_fields_allowed:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        typename = parent_type.name
        try:
            for entry in self.entries_of(parent_type, grouped_field_set):
                name, plan = entry.response_name, entry.plan
                if plan is None:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        entry.field_details_list,
                        Path(path, name, typename),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                elif plan.attribute is None:
                    results[name] = plan.typename
                    continue
                else:
                    try:
                        value = getattr(source_value, plan.attribute)
                    except Exception as error:
                        self.handle_field_error(
                            error,
                            plan.field_def.type,
                            entry.field_details_list,
                            Path(path, name, typename),
                        )
                        results[name] = None
                        continue
                    if type(value) in plan.unchanged:
                        results[name] = value
                        continue
                    result = self.complete_read_value(
                        plan,
                        parent_type,
                        entry.field_details_list,
                        Path(path, name, typename),
                        value,
                        position_context,
                    )
                results[name] = result
                if is_awaitable(result):
                    awaitable_fields.append(name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _awaited_fields(results, awaitable_fields)

    def complete_read_value(
        self,
        plan: FieldPlan,
        parent_type: GraphQLObjectType,
        details: FieldDetailsList,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """What `execute_field` does with a resolver's result, for the value read."""
        return_type = plan.field_def.type
        try:
            if self.is_awaitable(value):
                info = self.build_resolve_info(plan.field_def, _nodes(details), parent_type, path)
                return self.complete_awaitable_value(
                    return_type, details, info, path, value, position_context
                )
            completed = plan.complete(self, details, path, value, position_context)
            if self.is_awaitable(completed):
                return self.await_completed(completed, return_type, details, path)
        except Exception as error:
            self.handle_field_error(error, return_type, details, path)
            return None
        return completed

    async def await_completed(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, return_type, details, path)
            return None

    def complete_items(
        self,
        item_type: GraphQLOutputType,
        complete_item: Completer,
        field: tuple[GraphQLObjectType, GraphQLField],
        details: FieldDetailsList,
        path: Path,
        items: Sequence[Any],
        position_context: Any,
    ) -> Any:
        """graphql-core's `complete_iterable_value` for a list or tuple (never streamed: the
        field's nodes carry no `@stream`)."""
        is_awaitable = self.is_awaitable
        completed_items: list[Any] = []
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(items):
                item_path = path.add_key(index, None)
                if is_awaitable(item):
                    parent_type, field_def = field
                    info = self.build_resolve_info(field_def, _nodes(details), parent_type, path)
                    completed_items.append(
                        self.complete_awaitable_list_item_value(
                            item, item_type, details, info, item_path, position_context
                        )
                    )
                    awaitable_indices.append(index)
                    continue
                try:
                    completed = complete_item(self, details, item_path, item, position_context)
                except Exception as error:
                    self.handle_field_error(error, item_type, details, item_path)
                    completed = None
                if is_awaitable(completed):
                    completed = self.await_completed(completed, item_type, details, item_path)
                    awaitable_indices.append(index)
                completed_items.append(completed)
        except Exception:
            if awaitable_indices:
                self.settle_in_background([completed_items[index] for index in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed_items
        return _awaited_items(completed_items, awaitable_indices)


async def _awaited_fields(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
    if len(awaitable_fields) == 1:
        field = awaitable_fields[0]
        results[field] = await results[field]
    else:
        awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
        results.update(zip(awaitable_fields, awaited, strict=True))
    return results


async def _awaited_items(items: list[Any], awaitable_indices: list[int]) -> list[Any]:
    if len(awaitable_indices) == 1:
        index = awaitable_indices[0]
        items[index] = await items[index]
    else:
        awaited = await gather_with_cancel(*(items[index] for index in awaitable_indices))
        for index, item in zip(awaitable_indices, awaited, strict=True):
            items[index] = item
    return items
