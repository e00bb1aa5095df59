"""The schema object, with its extensions."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaskErrors, ParserCache, ValidationCache
from strawberry.extensions.query_depth_limiter import create_validator

from core.errors import ErrorCode, is_unexpected
from schema.extensions import Authenticate, CostReport, PartialErrors
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

MAX_QUERY_DEPTH = 12


logger = logging.getLogger(__name__)


class MaskUnexpectedErrors(MaskErrors):
    """Hides unexpected errors behind `INTERNAL_SERVER_ERROR`, after logging them."""

    def __init__(self) -> None:
        super().__init__(
            should_mask_error=self._should_mask, error_message="Internal server error."
        )

    @staticmethod
    def _should_mask(error: GraphQLError) -> bool:
        return is_unexpected(error.original_error)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        logger.error("unexpected error in %s", error.path, exc_info=error.original_error)
        masked = super().anonymise_error(error)
        masked.extensions = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
        return masked


class LimitQueryDepth(AddValidationRules):
    """Strawberry's `QueryDepthLimiter` builds a new rule class per request, so the validation
    cache, keyed by the rules, never hits; this one rule class is built once."""

    RULE = create_validator(MAX_QUERY_DEPTH, None)

    def __init__(self) -> None:
        super().__init__([self.RULE])


def build_schema(*, report_cost: bool = False) -> strawberry.Schema:
    extensions: list[Any] = [
        MaskUnexpectedErrors,
        Authenticate,
        PartialErrors,
        LimitQueryDepth,
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
    ]
    if report_cost:
        extensions.append(CostReport)
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )


schema = build_schema()
