"""The served app over the sandbox's demo data, and a rival workspace (tests/crm_mutations)."""

from __future__ import annotations

from tests.crm_mutations.conftest import Rival, rival  # noqa: F401
from tests.inbox.conftest import Inbox, demo_tokens, inbox, sandbox_url  # noqa: F401

__all__ = ["Inbox", "Rival"]
