from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        ops.AddField(
            model_name="WebhookReceipt",
            name="claimed_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="WebhookReceipt",
            name="claimed_by",
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name="WebhookReceipt",
            name="next_attempt_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
