from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0009_workspace_cache_versions")]

    initial = False

    operations = [
        ops.AddField(
            model_name="StoreJob",
            name="request_id",
            field=fields.CharField(max_length=128, null=True),
        ),
    ]
