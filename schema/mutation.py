"""The root mutation: each domain's mutations, merged."""

from __future__ import annotations

import strawberry

from schema.account_mutations import AccountMutation
from schema.conversation_mutations import ConversationMutation, SendingMutation
from schema.crm_mutations import CrmMutation


@strawberry.type
class Mutation(CrmMutation, ConversationMutation, SendingMutation, AccountMutation):
    pass
