"""The errors a GraphQL client may see, each with a stable `extensions.code`.

Resolvers raise these for every expected failure; any other exception is masked as
`INTERNAL_SERVER_ERROR` so that no traceback or internal detail reaches a client.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_RATE_LIMITED = "UPSTREAM_RATE_LIMITED"
    ACCOUNT_DISCONNECTED = "ACCOUNT_DISCONNECTED"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    UPSTREAM_BUDGET_EXCEEDED = "UPSTREAM_BUDGET_EXCEEDED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class SwitchboardError(Exception):
    """Base of the errors shown to clients; graphql-core copies `extensions` onto the error."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": self.code.value, **details}


class Unauthenticated(SwitchboardError):
    code = ErrorCode.UNAUTHENTICATED


class BadUserInput(SwitchboardError):
    code = ErrorCode.BAD_USER_INPUT


class NotFound(SwitchboardError):
    code = ErrorCode.NOT_FOUND


class Forbidden(SwitchboardError):
    code = ErrorCode.FORBIDDEN


class Conflict(SwitchboardError):
    code = ErrorCode.CONFLICT


class UpstreamUnavailable(SwitchboardError):
    code = ErrorCode.UPSTREAM_UNAVAILABLE


class UpstreamRateLimited(SwitchboardError):
    code = ErrorCode.UPSTREAM_RATE_LIMITED


class AccountDisconnected(SwitchboardError):
    code = ErrorCode.ACCOUNT_DISCONNECTED


class RequestTooLarge(SwitchboardError):
    """A request body over its limit (`extensions.maximum`, in bytes), refused unread."""

    code = ErrorCode.REQUEST_TOO_LARGE


class QueryTooComplex(SwitchboardError):
    """A document over one of the query limits, refused before any resolver runs:
    `extensions.limit` names it (`ALIASES`, `TOKENS` or `DEPTH`), `extensions.maximum` gives it."""

    code = ErrorCode.QUERY_TOO_COMPLEX


class UpstreamBudgetExceeded(SwitchboardError):
    """The operation would make more UniPile requests than one operation may
    (`extensions.maximum`)."""

    code = ErrorCode.UPSTREAM_BUDGET_EXCEEDED


def is_unexpected(error: Exception | None) -> bool:
    """Whether an error escaping a resolver must be masked."""
    return error is not None and not isinstance(error, SwitchboardError)
