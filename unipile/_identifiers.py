"""Provider identifiers as UniPile shows them (WhatsApp JIDs, LinkedIn ids)."""

from __future__ import annotations

__all__ = [
    "WHATSAPP_GROUP_SUFFIX",
    "WHATSAPP_USER_SUFFIX",
    "is_whatsapp_group_jid",
    "phone_to_whatsapp_jid",
    "whatsapp_jid_to_phone",
]

WHATSAPP_USER_SUFFIX = "@s.whatsapp.net"
# Assumption from the WhatsApp protocol; none of the UniPile sources show a group JID.
WHATSAPP_GROUP_SUFFIX = "@g.us"


def whatsapp_jid_to_phone(jid: str) -> str | None:
    """``33612345678@s.whatsapp.net`` (or ``33612345678:12@...``) → ``33612345678``.

    The result is international digits without ``+``; ``None`` when ``jid`` is not a person's JID.
    """
    user, sep, server = jid.partition("@")
    if not sep or server != WHATSAPP_USER_SUFFIX[1:]:
        return None
    # Multi-device JIDs carry ":<device>" after the number.
    digits = user.partition(":")[0]
    return digits if digits.isdigit() else None


def is_whatsapp_group_jid(jid: str) -> bool:
    return jid.endswith(WHATSAPP_GROUP_SUFFIX)


def phone_to_whatsapp_jid(phone: str) -> str:
    """An international number in any punctuation (``+33 6 12...``) → its WhatsApp JID."""
    return "".join(ch for ch in phone if ch.isdigit()) + WHATSAPP_USER_SUFFIX
