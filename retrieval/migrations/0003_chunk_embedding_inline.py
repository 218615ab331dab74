"""PostgreSQL keeps each chunk's vector in its row (STORAGE MAIN) instead of out of line.

pgvector's type defaults to EXTERNAL: a 384-dimension vector (1.5 KB) went to the TOAST table
whenever the row passed 2 KB with its text, so an exact scan of a scope read every vector
through TOAST: 28,042 buffers and 18.8 ms for 4,698 chunks, against 1,178 buffers and 4.9 ms
inline (bench/README.md). MAIN still moves a value out of line when nothing else makes the row
fit a page (a very wide vector), so no vector becomes too big to store. Rows written before
take it when they are written again (a re-index) or at ``VACUUM FULL retrieval_chunk``.
"""

from django.db import migrations


def _storage(kind: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE retrieval_chunk ALTER COLUMN embedding SET STORAGE {kind}"
            )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0002_chunk_headings"),
    ]

    operations = [
        migrations.RunPython(_storage("MAIN"), _storage("EXTERNAL")),
    ]
