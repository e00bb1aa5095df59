"""The root mutation: each domain's mutations, merged."""

from __future__ import annotations

import strawberry

from schema.account_mutations import AccountMutation
from schema.conversation_mutations import ConversationMutation, SendingMutation
from schema.crm_mutations import CrmMutation
from schema.storage_rules import StorageRulesMutation


@strawberry.type
class Mutation(
    CrmMutation, StorageRulesMutation, ConversationMutation, SendingMutation, AccountMutation
):
    pass
