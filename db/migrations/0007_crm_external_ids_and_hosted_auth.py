from tortoise import migrations
from tortoise.migrations import operations as ops
from core.vocabulary import HostedAuthKind
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0006_store_job_forgotten')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HostedAuthLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reference', fields.CharField(unique=True, max_length=64)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='CREATE: create\nRECONNECT: reconnect', enum_type=HostedAuthKind, max_length=16)),
                ('providers', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'hosted_auth_link', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A UniPile hosted-auth link one user asked for, to connect a new account or reconnect one.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Account',
            name='detached_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Company',
            name='external_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddConstraint(
            model_name='Company',
            constraint=UniqueConstraint(fields=('workspace', 'external_id'), name=None),
        ),
        ops.AddField(
            model_name='Contact',
            name='external_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddConstraint(
            model_name='Contact',
            constraint=UniqueConstraint(fields=('workspace', 'external_id'), name=None),
        ),
        ops.AddField(
            model_name='User',
            name='external_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddConstraint(
            model_name='User',
            constraint=UniqueConstraint(fields=('workspace', 'external_id'), name=None),
        ),
        ops.AddField(
            model_name='Workspace',
            name='external_id',
            field=fields.CharField(null=True, unique=True, max_length=255),
        ),
    ]
