"""The names of pub/sub topics: every publisher and subscriber builds them here, nowhere else."""

from __future__ import annotations


def account_topic(unipile_id: str) -> str:
    """Events about one connected account, keyed by its UniPile id."""
    return f"account:{unipile_id}"


def workspace_accounts_topic(workspace_id: int) -> str:
    """Events about any account of a workspace, for subscribers that watch them all at once."""
    return f"workspace:{workspace_id}:accounts"


def workspace_messages_topic(workspace_id: int) -> str:
    """New messages of any account of a workspace; subscribers keep those they may see."""
    return f"workspace:{workspace_id}:messages"


def workspace_conversations_topic(workspace_id: int) -> str:
    """Changes to conversations (stored, linked, unlinked, read) of any account of a workspace."""
    return f"workspace:{workspace_id}:conversations"


def live_lists_topic() -> str:
    """Accounts whose live lists changed upstream, for every process's pre-fetching."""
    return "live-lists"
