from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0002_message_sources"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="feedback",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
