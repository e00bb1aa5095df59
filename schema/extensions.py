"""Schema extensions: authentication, partial errors, the cost report, the query limits, and the
upstream deadline and budget of each operation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.types.graphql import OperationType

from core.errors import ErrorCode, QueryTooComplex, UpstreamBudgetExceeded
from core.read_ledger import note_unkeepable
from db.metrics import count_queries
from unipile import count_requests
from unipile._counting import request_budget, upstream_deadline


class Authenticate(SchemaExtension):
    """Verifies the token's user in the database before any resolver runs, so a deleted or
    disabled user is refused on every operation, whatever fields it asks for."""

    async def on_execute(self) -> AsyncIterator[None]:
        authenticate = getattr(self.execution_context.context, "authenticate", None)
        if authenticate is not None:
            await authenticate()
        yield


class PartialErrors(SchemaExtension):
    """Adds the errors resolvers recorded without failing their field (one account's upstream
    failure) to the response, next to the data."""

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        result = self.execution_context.result
        recorded = getattr(context, "partial_errors", None)
        if result is None or not recorded:
            return
        errors = [
            GraphQLError(str(error), original_error=error, extensions=error.extensions)
            for error in recorded
        ]
        result.errors = [*(result.errors or []), *errors]


class QueriesOnly(SchemaExtension):
    """Only a query's answer may be kept and given again (`core.read_ledger`): whatever else
    runs does what giving its answer again would not."""

    def on_execute(self) -> Iterator[None]:
        if self.execution_context.operation_type is not OperationType.QUERY:
            note_unkeepable()
        yield


class CostReport(SchemaExtension):
    """`extensions.cost`: the database queries and UniPile requests this operation made."""

    def on_operation(self) -> Iterator[None]:
        with ExitStack() as stack:
            self.queries = stack.enter_context(count_queries())
            self.requests = stack.enter_context(count_requests())
            yield

    def get_results(self) -> dict[str, Any]:
        return {"cost": {"dbQueries": self.queries.value, "upstreamRequests": self.requests.value}}


PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# graphql-core's own messages for variables it gave up coercing, which wrap no error of the value.
COERCION_ABORTED = ("Variable values are nested too deeply", "Too many errors processing variables")


def is_coercion_error(error: GraphQLError) -> bool:
    """Whether graphql-core reported `error` while coercing the request's variables, before any
    resolver ran: `Variable '$x' has invalid value: ...` wraps the value's own error (a
    `GraphQLError`, which no validation rule and no resolver error wraps), and coercion that gave
    up says so in its message."""
    if error.path is not None:
        return False
    return isinstance(error.original_error, GraphQLError) or (
        error.original_error is None and error.message.startswith(COERCION_ABORTED)
    )


def code_request_error(error: GraphQLError) -> GraphQLError:
    """Gives an error of the request itself, found before execution (the errors of a
    `PreExecutionError`, or those of a result that variable coercion stopped), its
    `extensions.code`: `GRAPHQL_PARSE_FAILED` for a syntax error, `BAD_USER_INPUT` for a
    variable whose value does not coerce to its type, `GRAPHQL_VALIDATION_FAILED` for one
    reported by a validation rule. An error that has a code already (a masked one) or that wraps
    any other exception keeps what it has. The HTTP and WebSocket transports both call this; it
    sets the code in place and returns the same error."""
    if (error.extensions or {}).get("code") is not None:
        return error
    if isinstance(error, GraphQLSyntaxError):
        code = PARSE_FAILED
    elif is_coercion_error(error):
        code = ErrorCode.BAD_USER_INPUT.value
    elif error.original_error is None:
        code = VALIDATION_FAILED
    else:
        return error
    error.extensions = {**(error.extensions or {}), "code": code}
    return error


@dataclass(frozen=True, slots=True)
class Limits:
    """What one GraphQL operation may ask for and cost; the defaults are the settings' defaults,
    far above what a real frontend sends (the README's inbox query has 98 tokens, depth 6)."""

    max_aliases: int = 250
    max_tokens: int = 20_000
    max_depth: int = 12
    upstream_budget: int = 150
    upstream_deadline_seconds: float = 8.0


def too_complex(limit: str, maximum: int, message: str) -> GraphQLError:
    problem = QueryTooComplex(message, limit=limit, maximum=maximum)
    return GraphQLError(str(problem), extensions=problem.extensions)


class QueryLimits(ParserCache):
    """Strawberry's `ParserCache` (it takes its place in the extensions), refusing a document with
    too many tokens while parsing (graphql-core stops at the limit), or with too many aliases or
    levels of nesting before validation (so neither graphql-core's validation nor any resolver
    runs), each with one `QUERY_TOO_COMPLEX` error naming the limit. Must come before
    `ValidationCache` in the extensions.

    The aliases and the depth are counted in one pass over the document, each fragment once:
    Strawberry's `MaxAliasesLimiter` and `QueryDepthLimiter` walk a fragment again at every
    spread, so a few hundred bytes of fragments spreading each other twice keep them busy for
    minutes, and a long chain of fragments exhausts the interpreter's recursion limit."""

    def __init__(self, limits: Limits, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self.limits = limits

    def on_parse(self) -> Iterator[None]:
        # Parsed here rather than by `ParserCache.on_parse`: an error raised while Strawberry
        # enters its hooks never reaches an earlier hook, so it could not be told apart there.
        context = self.execution_context
        maximum = self.limits.max_tokens
        context.parse_options["max_tokens"] = maximum
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLSyntaxError as error:
            # graphql-core's words when `max_tokens` stops the parser (or its lexer, in a run of
            # comments); the limit tests pin them.
            if error.message.endswith(f"more than {maximum} tokens. Parsing aborted."):
                raise too_complex(
                    "TOKENS", maximum, f"the document has more than {maximum} tokens"
                ) from None
            raise
        yield

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        if document is not None:
            problem = document_problem(document, self.limits)
            if problem is not None:
                raise problem
        yield


def document_problem(document: DocumentNode, limits: Limits) -> GraphQLError | None:
    """The error for the first limit `document` exceeds (aliases, then depth), if any."""
    aliases, depth = document_size(document, cap=limits.max_aliases + 1)
    if aliases > limits.max_aliases:
        return too_complex(
            "ALIASES",
            limits.max_aliases,
            f"the document has more than {limits.max_aliases} aliases",
        )
    if depth > limits.max_depth:
        return too_complex(
            "DEPTH",
            limits.max_depth,
            f"an operation nests fields more than {limits.max_depth} levels deep",
        )
    return None


@dataclass(frozen=True, slots=True)
class _Shape:
    """One definition's own aliases and depth, with the fragments it spreads, not yet expanded:
    each spread with the depth it is at (None: inside an introspection field)."""

    aliases: int
    depth: int
    spreads: tuple[tuple[str, int | None], ...]


def _shape(selection_set: SelectionSetNode) -> _Shape:
    aliases = depth = 0
    spreads: list[tuple[str, int | None]] = []
    # Depth as `QueryDepthLimiter` counts it: a field with a selection set is one level, and
    # introspection fields (`__schema`, `__type`) count nothing, nor does anything under them.
    pending: list[tuple[SelectionSetNode, int | None]] = [(selection_set, 0)]
    while pending:
        selections, level = pending.pop()
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is None:
                    continue
                inner = None
                if level is not None and not selection.name.value.startswith("__"):
                    inner = level + 1
                    depth = max(depth, inner)
                pending.append((selection.selection_set, inner))
            elif isinstance(selection, InlineFragmentNode):
                pending.append((selection.selection_set, level))
            elif isinstance(selection, FragmentSpreadNode):
                spreads.append((selection.name.value, level))
    return _Shape(aliases, depth, tuple(spreads))


def _expanded(shape: _Shape, totals: Mapping[str, tuple[int, int]], cap: int) -> tuple[int, int]:
    """`shape`'s aliases and depth with its spreads' totals added (a fragment without a total is
    unknown or part of a cycle, which validation refuses: it adds nothing)."""
    aliases, depth = shape.aliases, shape.depth
    for name, level in shape.spreads:
        total = totals.get(name)
        if total is None:
            continue
        aliases = min(cap, aliases + total[0])
        if level is not None:
            depth = max(depth, level + total[1])
    return aliases, depth


def document_size(document: DocumentNode, cap: int) -> tuple[int, int]:
    """The aliases of all the document's operations (counted up to `cap`: fragments spread many
    times multiply them) and the depth of its deepest operation, fragments expanded."""
    fragments = {
        definition.name.value: _shape(definition.selection_set)
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    totals: dict[str, tuple[int, int]] = {}
    # Fragments in post-order, without recursion: a chain of thousands fits in the token limit.
    for root in fragments:
        stack, on_path = [(root, False)], set()
        while stack:
            name, children_done = stack.pop()
            if children_done:
                on_path.discard(name)
                totals[name] = _expanded(fragments[name], totals, cap)
            elif name not in totals and name not in on_path and name in fragments:
                on_path.add(name)
                stack.append((name, True))
                stack.extend((spread, False) for spread, _ in fragments[name].spreads)
    aliases = depth = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            own_aliases, own_depth = _expanded(_shape(definition.selection_set), totals, cap)
            aliases = min(cap, aliases + own_aliases)
            depth = max(depth, own_depth)
    return aliases, depth


class UpstreamLimits(SchemaExtension):
    """One deadline and one request budget for all the UniPile calls of a query or mutation, set
    before its resolvers run; the client reads both from context variables. Subscriptions get
    neither: they live for as long as the socket, and their events are built by the webhook
    processor, outside any operation.

    An operation past its budget fails with one `UPSTREAM_BUDGET_EXCEEDED` error, whichever and
    however many fields the refused calls would have served."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def on_execute(self) -> Iterator[None]:
        if self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            yield
            return
        maximum = self.limits.upstream_budget
        with (
            upstream_deadline(self.limits.upstream_deadline_seconds),
            request_budget(maximum, self._exceeded) as budget,
        ):
            yield
        result = self.execution_context.result
        if budget.refused and result is not None and result.errors:
            result.errors = _one_budget_error(result.errors)

    @staticmethod
    def _exceeded(maximum: int) -> Exception:
        return UpstreamBudgetExceeded(
            f"the operation needs more than {maximum} UniPile requests", maximum=maximum
        )


def _one_budget_error(errors: list[GraphQLError]) -> list[GraphQLError]:
    """`errors` with only the first of the budget's errors, without its path: it is the
    operation's, not one field's."""
    kept: list[GraphQLError] = []
    first = True
    for error in errors:
        if isinstance(error.original_error, UpstreamBudgetExceeded):
            if not first:
                continue
            first = False
            error = GraphQLError(
                error.message, original_error=error.original_error, extensions=error.extensions
            )
        kept.append(error)
    return kept
