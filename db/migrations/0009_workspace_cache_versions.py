from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0008_user_claims_issued_at")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Workspace",
            name="rules_version",
            field=fields.BigIntField(default=0),
        ),
        ops.AddField(
            model_name="Workspace",
            name="crm_version",
            field=fields.BigIntField(default=0),
        ),
        ops.AddField(
            model_name="Workspace",
            name="stored_version",
            field=fields.BigIntField(default=0),
        ),
    ]
