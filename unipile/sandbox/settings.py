"""The sandbox's knobs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxSettings:
    """How the sandbox behaves at start-up; faults can be changed later via ``/_sandbox/faults``.

    Rates are probabilities per ``/api/v1`` request, drawn from a generator seeded by ``seed``.
    """

    api_key: str = "sandbox-key"
    seed: int = 7
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    """Extra latency drawn uniformly from 0..jitter_ms."""
    error_rate: float = 0.0
    """Share of requests answered 503 ``errors/service_unavailable``."""
    rate_limit_rate: float = 0.0
    """Share of requests answered 429 ``errors/too_many_requests`` with Retry-After."""
    rate_limit_retry_after_s: float = 1.0
    hang_rate: float = 0.0
    """Share of requests that hang (until ``hang_s`` or the client goes away)."""
    hang_s: float = 60.0
    disconnected_accounts: frozenset[str] = frozenset()
    """Accounts whose chat/email calls answer 401 ``errors/disconnected_account``."""
    hang_accounts: frozenset[str] = frozenset()
    """Accounts whose calls hang like ``hang_rate``'s (until ``hang_s`` or the client goes away):
    every call naming the account (by ``account_id``, or by a chat, message or email of it)."""
    generator_interval_s: float | None = None
    """Post a random inbound message every so many seconds; ``None`` = off."""
    webhook_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)
    """Delay before each retry of a failed webhook delivery (UniPile retries up to 5 times)."""
    webhook_timeout_s: float = 30.0
    rival_tenant: bool = False
    """Also serve a second tenant's accounts in the same organisation (``demo.build_rival``):
    ``acc_gmail_rival_00001`` (carol) and ``acc_whatsapp_rival_001`` (dave)."""
    bulk_mailbox_threads: int = 0
    """Also serve ``acc_gmail_bulk_000001`` with this many email threads (0: not at all)."""
