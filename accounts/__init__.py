"""Connected accounts: attached by their users through UniPile's hosted auth or imported from
UniPile, shared, disconnected and reconnected."""

from accounts.hosted_auth import (
    CALLBACK_GRACE,
    CallbackRefused,
    Completion,
    HostedAuth,
    HostedAuthProvider,
    HostedAuthSettings,
    IssuedLink,
    Outcome,
    ReferenceSeal,
    Refusal,
)
from accounts.importing import ImportedAccount, ImportResult, import_accounts
from accounts.lifecycle import (
    AccountTaken,
    Attached,
    Attachment,
    UnsupportedAccount,
    attach,
    detach,
    may_manage,
    own_identifiers,
    reconnected,
    set_shared,
    upstream_status,
)

__all__ = [
    "CALLBACK_GRACE",
    "AccountTaken",
    "Attached",
    "Attachment",
    "CallbackRefused",
    "Completion",
    "HostedAuth",
    "HostedAuthProvider",
    "HostedAuthSettings",
    "ImportResult",
    "ImportedAccount",
    "IssuedLink",
    "Outcome",
    "ReferenceSeal",
    "Refusal",
    "UnsupportedAccount",
    "attach",
    "detach",
    "import_accounts",
    "may_manage",
    "own_identifiers",
    "reconnected",
    "set_shared",
    "upstream_status",
]
