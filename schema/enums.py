"""The vocabulary's enumerations, exposed to GraphQL under the same names."""

from __future__ import annotations

import strawberry

from db import vocabulary

Channel = strawberry.enum(vocabulary.Channel, description="A kind of messaging channel.")
AccountStatus = strawberry.enum(
    vocabulary.AccountStatus, description="A connected account's state, as UniPile reports it."
)
