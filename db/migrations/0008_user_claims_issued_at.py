from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_crm_external_ids_and_hosted_auth')]

    initial = False

    operations = [
        ops.AddField(
            model_name='User',
            name='claims_issued_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
