from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from core.vocabulary import Role


class Migration(migrations.Migration):
    dependencies = [("models", "0004_outbound_messages")]

    initial = False

    operations = [
        ops.AddField(
            model_name="User",
            name="role",
            field=fields.CharEnumField(Role, max_length=8, default=Role.MEMBER),
        ),
        ops.AddField(
            model_name="User",
            name="is_active",
            field=fields.BooleanField(default=True),
        ),
    ]
