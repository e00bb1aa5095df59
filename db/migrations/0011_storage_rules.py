from tortoise import migrations
from tortoise.migrations import operations as ops
from core.vocabulary import StorageAuditAction, StorageReason
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State


class ChoicesOnly(ops.AlterField):
    """A new value of the enum a CharEnumField names (StorageReason.RULE): the column, a
    VARCHAR(16), is the same, so only the models' state changes. Tortoise's SQLite editor would
    rebuild the table for it, and the copy loses its UNIQUE constraints (store_job's
    (account_id, external_id), on which automatic storage's upsert depends)."""

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        return None

    async def database_backward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0010_store_job_request_id')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OwnDomain',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('domain', fields.CharField(max_length=253)),
            ],
            options={'table': 'own_domain', 'app': 'models', 'unique_together': (('workspace', 'domain'),), 'pk_attr': 'id', 'table_description': "A domain of the workspace's own people: a conversation with nobody else is internal."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StorageAuditEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharEnumField(description='RULES_CHANGED: RULES_CHANGED\nPURGED: PURGED\nEXPIRED: EXPIRED', enum_type=StorageAuditAction, max_length=16)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('before', fields.TextField(unique=False)),
                ('after', fields.TextField(unique=False)),
            ],
            options={'table': 'storage_audit', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A change to what a workspace stores: its rules replaced, stored copies purged or expired.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StorageRuleRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('definition', fields.TextField(unique=False)),
            ],
            options={'table': 'storage_rule', 'app': 'models', 'pk_attr': 'id', 'table_description': "One of a workspace's own storage rules (`crm.rules.StorageRule`), as JSON: its name,"},
            bases=['Model'],
        ),
        ChoicesOnly(
            model_name='Conversation',
            name='storage_reason',
            field=fields.CharEnumField(description='CONTACT_MATCH: CONTACT_MATCH\nCOMPANY_MATCH: COMPANY_MATCH\nRULE: RULE\nMANUAL_LINK: MANUAL_LINK\nMANUAL_STORE: MANUAL_STORE\nBLOCKED: BLOCKED\nNONE: NONE', enum_type=StorageReason, max_length=16),
        ),
        ChoicesOnly(
            model_name='StoreJob',
            name='reason',
            field=fields.CharEnumField(description='CONTACT_MATCH: CONTACT_MATCH\nCOMPANY_MATCH: COMPANY_MATCH\nRULE: RULE\nMANUAL_LINK: MANUAL_LINK\nMANUAL_STORE: MANUAL_STORE\nBLOCKED: BLOCKED\nNONE: NONE', enum_type=StorageReason, max_length=16),
        ),
    ]
