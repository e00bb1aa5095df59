from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_store_jobs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OutboundMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('idempotency_key', fields.CharField(max_length=128)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('conversation_external_id', fields.CharField(max_length=255)),
                ('external_id', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'outbound_message', 'app': 'models', 'unique_together': (('workspace', 'idempotency_key'),), 'pk_attr': 'id', 'table_description': "A message sent through Switchboard, keyed by the client's idempotency key, so that a"},
            bases=['Model'],
        ),
    ]
