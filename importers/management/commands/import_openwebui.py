"""manage.py import_openwebui: move an Open WebUI deployment's data here."""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from importers.openwebui import Importer, Summary
from importers.openwebui_source import SourceError, open_source
from knowledge.processing import processing_threads_drain
from webui_backend.celery import app as celery_app

KINDS = [
    "users",
    "api_keys",
    "chats",
    "messages",
    "shares",
    "files",
    "knowledge",
    "models",
    "functions",
    "tools",
    "connections",
    "settings",
]


class Command(BaseCommand):
    help = (
        "Import an Open WebUI deployment: its data folder (webui.db and uploads/), its "
        "webui.db, or its PostgreSQL DATABASE_URL (with --uploads). Safe to run again: what "
        "is already here is left as it is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "source",
            help="Open WebUI's DATA_DIR, its webui.db, or a postgresql:// URL of its database",
        )
        parser.add_argument(
            "--uploads",
            help="Open WebUI's uploads folder (default: uploads/ beside webui.db)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="do everything, print the summary, and roll it all back",
        )
        parser.add_argument(
            "--any-revision",
            action="store_true",
            help="read a database of a schema revision this importer does not know",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            source = open_source(
                options["source"], uploads=options["uploads"], any_revision=options["any_revision"]
            )
        except SourceError as exc:
            raise CommandError(f"{exc} Nothing was imported.") from None
        dry_run = options["dry_run"]
        self.stdout.write(
            f"Importing {source.label} (Open WebUI schema {source.revision}); uploads: "
            f"{source.uploads or 'none found'}"
            + (" (dry run: nothing will be kept)" if dry_run else "")
        )
        try:
            summary = Importer(source, dry_run=dry_run, progress=self._progress).run()
        finally:
            source.close()
        self._report(summary, dry_run=dry_run)
        if celery_app.conf.task_always_eager and not dry_run:
            # Embedded default: indexing runs on this process's threads; let it finish.
            self.stdout.write("Indexing the imported files…")
            processing_threads_drain()
            self.stdout.write("Indexed.")

    def _progress(self, label: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "." * (width - filled)
        end = "\n" if done >= total else ""
        stream = self.stderr
        if sys.stderr.isatty() or done >= total:
            stream.write(f"\r{label:<26} [{bar}] {done}/{total}", ending=end)
            stream.flush()

    def _report(self, summary: Summary, *, dry_run: bool) -> None:
        verb = "would import" if dry_run else "imported"
        self.stdout.write("")
        self.stdout.write(f"{'':<12} {verb:>13} {'already here':>13} {'not imported':>13}")
        for kind in KINDS:
            self.stdout.write(
                f"{kind:<12} {summary.imported[kind]:>13} {summary.existing[kind]:>13} "
                f"{summary.failed[kind]:>13}"
            )
        other = sum(v for k, v in summary.failed.items() if k not in KINDS)
        if other:
            self.stdout.write(f"{'other':<12} {'':>13} {'':>13} {other:>13}")
        if summary.notes:
            self.stdout.write("")
            self.stdout.write("Not imported, or changed on the way:")
            for note in summary.notes:
                self.stdout.write(f"  - {note}")
        if not dry_run and (summary.imported["files"] or summary.imported["knowledge"]):
            self.stdout.write(
                "\nFiles are being indexed again by the processing jobs (vectors do not carry "
                "over); GET /api/files/{id}/job shows each one's progress."
            )
        if dry_run:
            self.stdout.write(self.style.WARNING("\nDry run: everything was rolled back."))
        else:
            self.stdout.write(self.style.SUCCESS("\nDone."))
