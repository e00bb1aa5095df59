"""The one shape of an expected mutation failure: `error { code message field }` in the payload.

Expected failures (not found, not allowed, invalid input, upstream refused) come back in the
payload so that a bulk call can report each item; only unexpected ones are top-level errors.
"""

from __future__ import annotations

import strawberry

from core.errors import ErrorCode, SwitchboardError

strawberry.enum(ErrorCode, description="Stable codes of expected failures.")


@strawberry.type(description="Why a mutation, or one item of a bulk mutation, did nothing.")
class MutationError:
    code: ErrorCode
    message: str
    field: str | None = strawberry.field(
        default=None, description="The input field at fault, if one is."
    )

    @classmethod
    def of(cls, error: SwitchboardError) -> MutationError:
        field = error.extensions.get("argument")
        return cls(code=error.code, message=str(error), field=None if field is None else str(field))
