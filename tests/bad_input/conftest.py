"""The served app over the sandbox's demo data (tests/inbox), attacked with bad input."""

from __future__ import annotations

from tests.inbox.conftest import demo_tokens, inbox, sandbox_url

__all__ = ["demo_tokens", "inbox", "sandbox_url"]
