"""UniPile's timestamp format: ISO-8601 UTC with milliseconds and ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_timestamp", "parse_optional_timestamp", "parse_timestamp"]


def parse_timestamp(value: str) -> datetime:
    """``"2025-02-01T12:34:56.789Z"`` → aware UTC datetime; offsets other than Z are converted."""
    parsed = datetime.fromisoformat(value)
    # A naive value would be ambiguous; UniPile documents UTC, so assume it.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_optional_timestamp(value: object) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) and value else None


def format_timestamp(value: datetime) -> str:
    """Aware datetime → ``YYYY-MM-DDTHH:MM:SS.sssZ`` (the exact string the SDK validates)."""
    if value.tzinfo is None:
        raise ValueError("UniPile timestamps need an aware datetime")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
