from tortoise import migrations
from tortoise.migrations import operations as ops
from core.vocabulary import JobState, StorageReason
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_webhook_receipt_claims')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StoreJob',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('external_id', fields.CharField(max_length=255)),
                ('reason', fields.CharEnumField(description='CONTACT_MATCH: CONTACT_MATCH\nCOMPANY_MATCH: COMPANY_MATCH\nMANUAL_LINK: MANUAL_LINK\nMANUAL_STORE: MANUAL_STORE\nBLOCKED: BLOCKED\nNONE: NONE', enum_type=StorageReason, max_length=16)),
                ('state', fields.CharEnumField(default=JobState.PENDING, description='PENDING: PENDING\nDONE: DONE\nFAILED: FAILED', enum_type=JobState, max_length=8)),
                ('generation', fields.IntField(default=1)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('enqueued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(null=True, max_length=64)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'store_job', 'app': 'models', 'unique_together': (('account', 'external_id'),), 'indexes': [Index(fields=['state', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'A conversation to store automatically, one row per conversation, re-armed on each enqueue.'},
            bases=['Model'],
        ),
    ]
