from tortoise import migrations
from tortoise.migrations import operations as ops
from core.vocabulary import JobState
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0011_storage_rules')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StorageSweep',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('state', fields.CharEnumField(default=JobState.PENDING, description='PENDING: PENDING\nDONE: DONE\nFAILED: FAILED', enum_type=JobState, max_length=8)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('progress', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(null=True, max_length=64)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'storage_sweep', 'app': 'models', 'pk_attr': 'id', 'table_description': "A workspace's conversations to look over again after its storage rules changed: each"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='StoreJob',
            name='rule_id',
            field=fields.CharField(null=True, max_length=32),
        ),
    ]
