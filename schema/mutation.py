"""The root mutation: each domain's mutations, merged."""

from __future__ import annotations

import strawberry

from schema.conversation_mutations import ConversationMutation


@strawberry.type
class Mutation(ConversationMutation):
    pass
