"""Sending is tried against the inbox's running server and sandbox."""

from tests.inbox.conftest import demo_tokens, inbox, sandbox_url

__all__ = ["demo_tokens", "inbox", "sandbox_url"]
