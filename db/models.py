"""Switchboard's tables.

Only what the CRM keeps lives here: tenants, connected accounts, CRM records with their
normalised identifiers, and the conversations users chose (or rules decided) to store. Live
conversations are never copied here by a read.

Constraints are declared in `Meta` and created by the migrations, so the database enforces them
whatever code writes to it. CHECK constraints are added by explicit `AddConstraint` operations,
since Tortoise leaves them out of generated migrations.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model

from core.vocabulary import (
    AccountStatus,
    Channel,
    Direction,
    HostedAuthKind,
    IdentifierKind,
    JobState,
    LinkSource,
    MatchMethod,
    NeverStoreKind,
    ParticipantRole,
    ReceiptState,
    Role,
    StorageAuditAction,
    StoragePolicy,
    StorageReason,
)

LINK_HAS_ONE_TARGET = CheckConstraint(
    check="(contact_id IS NULL) <> (company_id IS NULL)",
    name="conversation_link_one_target",
)
LINK_SOURCE_HAS_AUTHOR = CheckConstraint(
    check=(
        "(source = 'USER' AND created_by_id IS NOT NULL)"
        " OR (source = 'MATCHER' AND rule IS NOT NULL)"
    ),
    name="conversation_link_author",
)


class Workspace(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    slug = fields.CharField(max_length=64, unique=True)
    # The CRM's own id of this tenant: what its tokens name (see `access.tokens`).
    external_id = fields.CharField(max_length=255, null=True, unique=True)
    default_region = fields.CharField(max_length=2, default="US")
    created_at = fields.DatetimeField(auto_now_add=True)
    # Bumped after each change to what kept reads of the workspace depend on (`crm.caching`): in
    # the row the viewer's scope reads, every request learns them at no cost, and every process
    # sees a bump made by any other, operator commands included.
    rules_version = fields.BigIntField(default=0)
    crm_version = fields.BigIntField(default=0)
    stored_version = fields.BigIntField(default=0)

    class Meta:
        table = "workspace"


class User(Model):
    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="users", on_delete=fields.CASCADE
    )
    workspace_id: int
    email = fields.CharField(max_length=320, unique=True)
    name = fields.CharField(max_length=200)
    # The CRM's own id of this user, unique within the workspace; null for users made here.
    external_id = fields.CharField(max_length=255, null=True)
    # `iat` of the CRM token whose claims last set email, name and role: older ones change nothing.
    claims_issued_at = fields.DatetimeField(null=True)
    role = fields.CharEnumField(Role, max_length=8, default=Role.MEMBER)
    # A disabled user's tokens are refused; the row stays for the links and sends it authored.
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "user"
        unique_together = (("workspace", "external_id"),)


class Account(Model):
    """An account connected through UniPile, owned by a user and optionally shared."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="accounts", on_delete=fields.CASCADE
    )
    workspace_id: int
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="accounts", on_delete=fields.RESTRICT
    )
    owner_id: int
    shared = fields.BooleanField(default=False)
    channel = fields.CharEnumField(Channel, max_length=16)
    provider = fields.CharField(max_length=32)
    unipile_id = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=320)
    own_identifiers: Any = fields.JSONField(default=list)
    status = fields.CharEnumField(AccountStatus, max_length=16, default=AccountStatus.OK)
    last_error = fields.TextField(null=True)
    status_changed_at = fields.DatetimeField(null=True)
    # Set when a user disconnected it: no longer read live, while what was stored stays.
    detached_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "account"
        indexes = [("workspace_id", "owner_id")]


class Company(Model):
    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="companies", on_delete=fields.CASCADE
    )
    workspace_id: int
    name = fields.CharField(max_length=200)
    # The CRM's own id of this record, unique within the workspace: what upserts key on.
    external_id = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "company"
        indexes = [("workspace_id", "name")]
        unique_together = (("workspace", "external_id"),)


class CompanyDomain(Model):
    """A company's registrable domain, normalised, unique within a workspace."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    company: fields.ForeignKeyRelation[Company] = fields.ForeignKeyField(
        "models.Company", related_name="domains", on_delete=fields.CASCADE
    )
    company_id: int
    domain = fields.CharField(max_length=253)

    class Meta:
        table = "company_domain"
        unique_together = (("workspace", "domain"),)


class Contact(Model):
    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="contacts", on_delete=fields.CASCADE
    )
    workspace_id: int
    first_name = fields.CharField(max_length=200, default="")
    last_name = fields.CharField(max_length=200, default="")
    company: fields.ForeignKeyNullableRelation[Company] = fields.ForeignKeyField(
        "models.Company", related_name="contacts", on_delete=fields.SET_NULL, null=True
    )
    company_id: int | None
    # The CRM's own id of this record, unique within the workspace: what upserts key on.
    external_id = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contact"
        indexes = [("workspace_id", "last_name", "first_name")]
        unique_together = (("workspace", "external_id"),)


class ContactIdentifier(Model):
    """An email address, phone number or provider id of a contact.

    `value` is the normalised form used for lookup; `original` is what the user typed. Two
    contacts of one workspace may share a value: an ambiguity the matcher reports, not an error.
    """

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="identifiers", on_delete=fields.CASCADE
    )
    contact_id: int
    kind = fields.CharEnumField(IdentifierKind, max_length=16)
    value = fields.CharField(max_length=320)
    original = fields.CharField(max_length=320)

    class Meta:
        table = "contact_identifier"
        unique_together = (("contact", "kind", "value"),)
        indexes = [("workspace_id", "kind", "value")]


class Conversation(Model):
    """A stored copy of a UniPile chat or email thread."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="conversations", on_delete=fields.CASCADE
    )
    workspace_id: int
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="conversations", on_delete=fields.CASCADE
    )
    account_id: int
    external_id = fields.CharField(max_length=255)
    channel = fields.CharEnumField(Channel, max_length=16)
    subject = fields.TextField(null=True)
    is_group = fields.BooleanField(default=False)
    last_message_at = fields.DatetimeField(null=True)
    unread_count = fields.IntField(default=0)
    storage_reason = fields.CharEnumField(StorageReason, max_length=16)
    stored_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "conversation"
        unique_together = (("account", "external_id"),)
        indexes = [("workspace_id", "last_message_at")]


class ConversationParticipant(Model):
    id = fields.IntField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="participants", on_delete=fields.CASCADE
    )
    conversation_id: int
    identifier = fields.CharField(max_length=320)
    identifier_type = fields.CharField(max_length=32)
    display_name = fields.CharField(max_length=200, null=True)
    role = fields.CharEnumField(ParticipantRole, max_length=8)
    is_self = fields.BooleanField(default=False)

    class Meta:
        table = "conversation_participant"
        unique_together = (("conversation", "identifier", "role"),)
        indexes = [("identifier",)]


class Message(Model):
    """A stored message, with the same fields as a live one."""

    id = fields.IntField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="messages", on_delete=fields.CASCADE
    )
    conversation_id: int
    external_id = fields.CharField(max_length=255)
    sender: Any = fields.JSONField()
    recipients: Any = fields.JSONField(default=dict)
    direction = fields.CharEnumField(Direction, max_length=8)
    text = fields.TextField(null=True)
    html = fields.TextField(null=True)
    sent_at = fields.DatetimeField()
    is_read = fields.BooleanField(default=False)
    attachments: Any = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "message"
        unique_together = (("conversation", "external_id"),)
        indexes = [("conversation_id", "sent_at")]


class ConversationLink(Model):
    """A link between a conversation and a contact or a company.

    Keyed by account and UniPile id rather than by the stored copy, so that a link or its
    tombstone outlives a forgotten copy. `removed_at` marks a tombstone: a user removed the link
    and the matcher must not create it again.
    """

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="links", on_delete=fields.CASCADE
    )
    account_id: int
    conversation_external_id = fields.CharField(max_length=255)
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="links", on_delete=fields.CASCADE, null=True
    )
    contact_id: int | None
    company: fields.ForeignKeyNullableRelation[Company] = fields.ForeignKeyField(
        "models.Company", related_name="links", on_delete=fields.CASCADE, null=True
    )
    company_id: int | None
    source = fields.CharEnumField(LinkSource, max_length=8)
    rule = fields.CharEnumField(MatchMethod, max_length=16, null=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.SET_NULL, null=True
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    removed_at = fields.DatetimeField(null=True)
    removed_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.SET_NULL, null=True
    )
    removed_by_id: int | None

    class Meta:
        table = "conversation_link"
        indexes = [("account_id", "conversation_external_id")]
        constraints = [
            UniqueConstraint(
                fields=("account_id", "conversation_external_id", "contact_id"),
                name="conversation_link_contact_unique",
            ),
            UniqueConstraint(
                fields=("account_id", "conversation_external_id", "company_id"),
                name="conversation_link_company_unique",
            ),
            LINK_HAS_ONE_TARGET,
            LINK_SOURCE_HAS_AUTHOR,
        ]


class StoragePolicySetting(Model):
    """A workspace's storage policy for one channel (a channel without a row uses the default)."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    channel = fields.CharEnumField(Channel, max_length=16)
    policy = fields.CharEnumField(StoragePolicy, max_length=8)

    class Meta:
        table = "storage_policy"
        unique_together = (("workspace", "channel"),)


class NeverStoreEntry(Model):
    """An address, number or domain whose conversations are never stored automatically."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    kind = fields.CharEnumField(NeverStoreKind, max_length=8)
    value = fields.CharField(max_length=320)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "never_store"
        unique_together = (("workspace", "kind", "value"),)


class StorageRuleRow(Model):
    """One of a workspace's own storage rules (`crm.rules.StorageRule`), as JSON: its name,
    action, conditions, limits and its position in the list (first holding rule wins)."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    definition = fields.TextField()

    class Meta:
        table = "storage_rule"


class OwnDomain(Model):
    """A domain of the workspace's own people: a conversation with nobody else is internal."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    domain = fields.CharField(max_length=253)

    class Meta:
        table = "own_domain"
        unique_together = (("workspace", "domain"),)


class StorageAuditEntry(Model):
    """A change to what a workspace stores: its rules replaced, stored copies purged or expired.
    `before` and `after` are JSON (the rules; or the purged conversations' keys and none)."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    # Kept when the user is deleted: the entry still says what changed, and when.
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    user_id: int | None
    action = fields.CharEnumField(StorageAuditAction, max_length=16)
    at = fields.DatetimeField()
    before = fields.TextField()
    after = fields.TextField()

    class Meta:
        table = "storage_audit"


class StorageSweep(Model):
    """A workspace's conversations to look over again after its storage rules changed: each
    account's most recent conversations are decided under the new rules, and those to store
    automatically are queued (`store_job`). A leased queue row (`db.claims`); `progress` keeps
    the accounts already swept, so that a sweep taken over after a crash resumes."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    state = fields.CharEnumField(JobState, max_length=8, default=JobState.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    progress: Any = fields.JSONField(default=dict)
    requested_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    claimed_by = fields.CharField(max_length=64, null=True)
    claimed_at = fields.DatetimeField(null=True)
    next_attempt_at = fields.DatetimeField(null=True)

    class Meta:
        table = "storage_sweep"


class WebhookReceipt(Model):
    """A UniPile webhook delivery, recorded before it is processed so that each runs once."""

    id = fields.IntField(primary_key=True)
    event_key = fields.CharField(max_length=255, unique=True)
    event = fields.CharField(max_length=64)
    payload: Any = fields.JSONField()
    state = fields.CharEnumField(ReceiptState, max_length=16, default=ReceiptState.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)
    # A claim is a lease: a worker that dies mid-processing leaves it to expire, not a lock.
    claimed_by = fields.CharField(max_length=64, null=True)
    claimed_at = fields.DatetimeField(null=True)
    next_attempt_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_receipt"
        indexes = [("state", "received_at")]


class StoreJob(Model):
    """A conversation to store automatically, one row per conversation, re-armed on each enqueue.

    `generation` counts enqueues: a worker marks the job done only if it was not enqueued again
    while it ran, since the run may have fetched the conversation before the new message arrived.
    `forgotten_at` marks a conversation a user forgot: automatic storage leaves it alone from
    then on, and only a user's store or link keeps it again.
    """

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, on_delete=fields.CASCADE
    )
    account_id: int
    external_id = fields.CharField(max_length=255)
    reason = fields.CharEnumField(StorageReason, max_length=16)
    state = fields.CharEnumField(JobState, max_length=8, default=JobState.PENDING)
    generation = fields.IntField(default=1)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    enqueued_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    # A lease, as on webhook receipts (`db.claims`).
    claimed_by = fields.CharField(max_length=64, null=True)
    claimed_at = fields.DatetimeField(null=True)
    next_attempt_at = fields.DatetimeField(null=True)
    forgotten_at = fields.DatetimeField(null=True)
    request_id = fields.CharField(max_length=128, null=True)
    """The id of the request (or webhook receipt) that last armed the job: its runs log and
    call UniPile under it."""
    rule_id = fields.CharField(max_length=32, null=True)
    """The storage rule that decided to store it (`crm.rules.StorageRule.id`): its sync limits
    apply when it runs."""

    class Meta:
        table = "store_job"
        unique_together = (("account", "external_id"),)
        indexes = [("state", "next_attempt_at")]


class OutboundMessage(Model):
    """A message sent through Switchboard, keyed by the client's idempotency key, so that a
    retried send is answered from here instead of sending twice."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    idempotency_key = fields.CharField(max_length=128)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, on_delete=fields.CASCADE
    )
    account_id: int
    conversation_external_id = fields.CharField(max_length=255)
    # Null until UniPile has accepted the message.
    external_id = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbound_message"
        unique_together = (("workspace", "idempotency_key"),)


class HostedAuthLink(Model):
    """A UniPile hosted-auth link one user asked for, to connect a new account or reconnect one.

    Its `reference` travels signed in the link's `name` and comes back in UniPile's callback,
    which is how the callback names the user. `account` is the reconnected account, or the new
    one once the callback attached it; a repeated callback finds it set and changes nothing.
    """

    id = fields.IntField(primary_key=True)
    reference = fields.CharField(max_length=64, unique=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: int
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.CASCADE
    )
    user_id: int
    kind = fields.CharEnumField(HostedAuthKind, max_length=16)
    providers: Any = fields.JSONField(default=list)
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, on_delete=fields.SET_NULL, null=True
    )
    account_id: int | None
    expires_at = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "hosted_auth_link"
