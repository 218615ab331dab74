"""manage.py import_chats: import a chat export (ours, or ChatGPT's conversations.json)."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.exceptions import ValidationError

from chats.formats import chatgpt_to_export, is_chatgpt_export
from chats.serializers import ImportInputSerializer
from chats.services import chats_import
from users.models import User, normalize_email
from webui_backend.errors import AppError


class Command(BaseCommand):
    help = (
        "Import chats into an account from GET /api/chats/export's file or from a ChatGPT "
        "data export's conversations.json (all or nothing)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the export file")
        parser.add_argument("--user", required=True, help="email of the account to import into")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=normalize_email(options["user"])).first()
        if user is None:
            raise CommandError(f"No account with the email {options['user']!r}.")
        try:
            document = json.loads(options["file"].read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc}") from None
        except ValueError as exc:
            raise CommandError(f"{options['file']} is not JSON: {exc}") from None
        notes: list[str] = []
        if is_chatgpt_export(document):
            try:
                document, notes = chatgpt_to_export(document)
            except AppError as exc:
                raise CommandError(str(exc.detail)) from None
        data = ImportInputSerializer(data=document)
        try:
            data.is_valid(raise_exception=True)
            chats = chats_import(user=user, chats=data.validated_data["chats"])
        except ValidationError as exc:
            raise CommandError(f"Not a chat export: {json.dumps(exc.detail)[:1000]}") from None
        except AppError as exc:
            raise CommandError(str(exc.detail)) from None
        for note in notes:
            self.stdout.write(f"  - {note}")
        self.stdout.write(self.style.SUCCESS(f"{len(chats)} chats imported into {user.email}."))
