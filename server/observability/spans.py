"""What the code that opens spans needs without loading OpenTelemetry (`traces` loads it, and
only when tracing is configured)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

Outcome = Callable[[str, bool], None]
"""Records how a span's work ended (an operation's outcome, a UniPile attempt's status) and
whether that is a failure."""


def _ignored(outcome: str, failed: bool) -> None:
    return None


def untraced() -> AbstractContextManager[Outcome]:
    """The span of work that is not traced: it records nothing."""
    return nullcontext(_ignored)
