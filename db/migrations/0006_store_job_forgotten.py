from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_user_roles")]

    initial = False

    operations = [
        ops.AddField(
            model_name="StoreJob",
            name="forgotten_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
