from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

from core.vocabulary import (
    AccountStatus,
    Channel,
    Direction,
    IdentifierKind,
    LinkSource,
    MatchMethod,
    NeverStoreKind,
    ParticipantRole,
    ReceiptState,
    StoragePolicy,
    StorageReason,
)


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="WebhookReceipt",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("event_key", fields.CharField(unique=True, max_length=255)),
                ("event", fields.CharField(max_length=64)),
                ("payload", fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                (
                    "state",
                    fields.CharEnumField(
                        default=ReceiptState.PENDING,
                        description="PENDING: PENDING\nPROCESSED: PROCESSED\nFAILED: FAILED",
                        enum_type=ReceiptState,
                        max_length=16,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                ("last_error", fields.TextField(null=True, unique=False)),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "processed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "webhook_receipt",
                "app": "models",
                "indexes": [Index(fields=["state", "received_at"])],
                "pk_attr": "id",
                "table_description": "A UniPile webhook delivery, recorded before it is processed so that each runs once.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Workspace",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(max_length=200)),
                ("slug", fields.CharField(unique=True, max_length=64)),
                ("default_region", fields.CharField(default="US", max_length=2)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "workspace", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Company",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="companies",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "company",
                "app": "models",
                "indexes": [Index(fields=["workspace_id", "name"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CompanyDomain",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "company",
                    fields.ForeignKeyField(
                        "models.Company",
                        source_field="company_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="domains",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("domain", fields.CharField(max_length=253)),
            ],
            options={
                "table": "company_domain",
                "app": "models",
                "unique_together": (("workspace", "domain"),),
                "pk_attr": "id",
                "table_description": "A company's registrable domain, normalised, unique within a workspace.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Contact",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="contacts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("first_name", fields.CharField(default="", max_length=200)),
                ("last_name", fields.CharField(default="", max_length=200)),
                (
                    "company",
                    fields.ForeignKeyField(
                        "models.Company",
                        source_field="company_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="contacts",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "contact",
                "app": "models",
                "indexes": [Index(fields=["workspace_id", "last_name", "first_name"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ContactIdentifier",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.Contact",
                        source_field="contact_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="identifiers",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="EMAIL: EMAIL\nPHONE: PHONE\nPROVIDER_ID: PROVIDER_ID",
                        enum_type=IdentifierKind,
                        max_length=16,
                    ),
                ),
                ("value", fields.CharField(max_length=320)),
                ("original", fields.CharField(max_length=320)),
            ],
            options={
                "table": "contact_identifier",
                "app": "models",
                "unique_together": (("contact", "kind", "value"),),
                "indexes": [Index(fields=["workspace_id", "kind", "value"])],
                "pk_attr": "id",
                "table_description": "An email address, phone number or provider id of a contact.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="NeverStoreEntry",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="EMAIL: EMAIL\nPHONE: PHONE\nDOMAIN: DOMAIN",
                        enum_type=NeverStoreKind,
                        max_length=8,
                    ),
                ),
                ("value", fields.CharField(max_length=320)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "never_store",
                "app": "models",
                "unique_together": (("workspace", "kind", "value"),),
                "pk_attr": "id",
                "table_description": "An address, number or domain whose conversations are never stored automatically.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="StoragePolicySetting",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "channel",
                    fields.CharEnumField(
                        description="EMAIL: EMAIL\nWHATSAPP: WHATSAPP\nLINKEDIN: LINKEDIN\nINSTAGRAM: INSTAGRAM\nTELEGRAM: TELEGRAM\nMESSENGER: MESSENGER\nTWITTER: TWITTER\nSLACK: SLACK",
                        enum_type=Channel,
                        max_length=16,
                    ),
                ),
                (
                    "policy",
                    fields.CharEnumField(
                        description="AUTO: AUTO\nMANUAL: MANUAL\nNEVER: NEVER",
                        enum_type=StoragePolicy,
                        max_length=8,
                    ),
                ),
            ],
            options={
                "table": "storage_policy",
                "app": "models",
                "unique_together": (("workspace", "channel"),),
                "pk_attr": "id",
                "table_description": "A workspace's storage policy for one channel (a channel without a row uses the default).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="users",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("email", fields.CharField(unique=True, max_length=320)),
                ("name", fields.CharField(max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "user", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Account",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="accounts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "owner",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="owner_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="accounts",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("shared", fields.BooleanField(default=False)),
                (
                    "channel",
                    fields.CharEnumField(
                        description="EMAIL: EMAIL\nWHATSAPP: WHATSAPP\nLINKEDIN: LINKEDIN\nINSTAGRAM: INSTAGRAM\nTELEGRAM: TELEGRAM\nMESSENGER: MESSENGER\nTWITTER: TWITTER\nSLACK: SLACK",
                        enum_type=Channel,
                        max_length=16,
                    ),
                ),
                ("provider", fields.CharField(max_length=32)),
                ("unipile_id", fields.CharField(unique=True, max_length=64)),
                ("name", fields.CharField(max_length=320)),
                (
                    "own_identifiers",
                    fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=AccountStatus.OK,
                        description="OK: OK\nCONNECTING: CONNECTING\nCREDENTIALS: CREDENTIALS\nPERMISSIONS: PERMISSIONS\nERROR: ERROR\nSTOPPED: STOPPED\nDELETED: DELETED",
                        enum_type=AccountStatus,
                        max_length=16,
                    ),
                ),
                ("last_error", fields.TextField(null=True, unique=False)),
                (
                    "status_changed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "account",
                "app": "models",
                "indexes": [Index(fields=["workspace_id", "owner_id"])],
                "pk_attr": "id",
                "table_description": "An account connected through UniPile, owned by a user and optionally shared.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Conversation",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="conversations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="conversations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("external_id", fields.CharField(max_length=255)),
                (
                    "channel",
                    fields.CharEnumField(
                        description="EMAIL: EMAIL\nWHATSAPP: WHATSAPP\nLINKEDIN: LINKEDIN\nINSTAGRAM: INSTAGRAM\nTELEGRAM: TELEGRAM\nMESSENGER: MESSENGER\nTWITTER: TWITTER\nSLACK: SLACK",
                        enum_type=Channel,
                        max_length=16,
                    ),
                ),
                ("subject", fields.TextField(null=True, unique=False)),
                ("is_group", fields.BooleanField(default=False)),
                (
                    "last_message_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("unread_count", fields.IntField(default=0)),
                (
                    "storage_reason",
                    fields.CharEnumField(
                        description="CONTACT_MATCH: CONTACT_MATCH\nCOMPANY_MATCH: COMPANY_MATCH\nMANUAL_LINK: MANUAL_LINK\nMANUAL_STORE: MANUAL_STORE\nBLOCKED: BLOCKED\nNONE: NONE",
                        enum_type=StorageReason,
                        max_length=16,
                    ),
                ),
                ("stored_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "conversation",
                "app": "models",
                "unique_together": (("account", "external_id"),),
                "indexes": [Index(fields=["workspace_id", "last_message_at"])],
                "pk_attr": "id",
                "table_description": "A stored copy of a UniPile chat or email thread.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ConversationLink",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("conversation_external_id", fields.CharField(max_length=255)),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.Contact",
                        source_field="contact_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "company",
                    fields.ForeignKeyField(
                        "models.Company",
                        source_field="company_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "source",
                    fields.CharEnumField(
                        description="USER: USER\nMATCHER: MATCHER",
                        enum_type=LinkSource,
                        max_length=8,
                    ),
                ),
                (
                    "rule",
                    fields.CharEnumField(
                        null=True,
                        description="EMAIL: EMAIL\nPHONE: PHONE\nPROVIDER_ID: PROVIDER_ID\nDOMAIN: DOMAIN\nCONTACT_COMPANY: CONTACT_COMPANY\nMANUAL: MANUAL",
                        enum_type=MatchMethod,
                        max_length=16,
                    ),
                ),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("removed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "removed_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="removed_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "conversation_link",
                "app": "models",
                "indexes": [Index(fields=["account_id", "conversation_external_id"])],
                "pk_attr": "id",
                "table_description": "A link between a conversation and a contact or a company.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ConversationParticipant",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "conversation",
                    fields.ForeignKeyField(
                        "models.Conversation",
                        source_field="conversation_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="participants",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("identifier", fields.CharField(max_length=320)),
                ("identifier_type", fields.CharField(max_length=32)),
                ("display_name", fields.CharField(null=True, max_length=200)),
                (
                    "role",
                    fields.CharEnumField(
                        description="FROM: FROM\nTO: TO\nCC: CC\nBCC: BCC\nMEMBER: MEMBER",
                        enum_type=ParticipantRole,
                        max_length=8,
                    ),
                ),
                ("is_self", fields.BooleanField(default=False)),
            ],
            options={
                "table": "conversation_participant",
                "app": "models",
                "unique_together": (("conversation", "identifier", "role"),),
                "indexes": [Index(fields=["identifier"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Message",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "conversation",
                    fields.ForeignKeyField(
                        "models.Conversation",
                        source_field="conversation_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="messages",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("external_id", fields.CharField(max_length=255)),
                ("sender", fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ("recipients", fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                (
                    "direction",
                    fields.CharEnumField(
                        description="INBOUND: INBOUND\nOUTBOUND: OUTBOUND",
                        enum_type=Direction,
                        max_length=8,
                    ),
                ),
                ("text", fields.TextField(null=True, unique=False)),
                ("html", fields.TextField(null=True, unique=False)),
                ("sent_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("is_read", fields.BooleanField(default=False)),
                ("attachments", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "message",
                "app": "models",
                "unique_together": (("conversation", "external_id"),),
                "indexes": [Index(fields=["conversation_id", "sent_at"])],
                "pk_attr": "id",
                "table_description": "A stored message, with the same fields as a live one.",
            },
            bases=["Model"],
        ),
        # Tortoise drops constraints declared in a CreateModel's options, so they are added here;
        # CHECKs first, since SQLite adds them by rebuilding the table, which loses unique indexes.
        ops.AddConstraint(
            model_name="ConversationLink",
            constraint=CheckConstraint(
                check="(contact_id IS NULL) <> (company_id IS NULL)",
                name="conversation_link_one_target",
            ),
        ),
        ops.AddConstraint(
            model_name="ConversationLink",
            constraint=CheckConstraint(
                check="(source = 'USER' AND created_by_id IS NOT NULL) OR (source = 'MATCHER' AND rule IS NOT NULL)",
                name="conversation_link_author",
            ),
        ),
        ops.AddConstraint(
            model_name="ConversationLink",
            constraint=UniqueConstraint(
                fields=("account_id", "conversation_external_id", "contact_id"),
                name="conversation_link_contact_unique",
            ),
        ),
        ops.AddConstraint(
            model_name="ConversationLink",
            constraint=UniqueConstraint(
                fields=("account_id", "conversation_external_id", "company_id"),
                name="conversation_link_company_unique",
            ),
        ),
    ]
