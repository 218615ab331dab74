"""On PostgreSQL a chunk's vector is kept in its row (STORAGE MAIN), so an exact scan of a
scope reads no TOAST (retrieval/migrations/0003_chunk_embedding_inline.py)."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from knowledge.models import File
from users.models import User

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="PostgreSQL's storage of the vector column"
    ),
]


def test_the_vector_column_is_stored_in_the_row() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute "
            "WHERE attrelid = 'retrieval_chunk'::regclass AND attname = 'embedding'"
        )
        assert cursor.fetchone()[0] == "m"


@pytest.mark.django_db(transaction=True)
def test_a_large_first_upload_gets_the_chunk_table_analyzed(
    owner: User, make_file: Callable[..., File], settings: Any
) -> None:
    """The planner's statistics follow a bulk upload at once, not when autovacuum comes by: the
    lexical query chose plans 10x slower on an unanalyzed table (bench/README.md)."""
    import time

    from retrieval.backends import index_current
    from retrieval.indexing import Page, file_index

    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 16, 0
    text = " ".join(f"Paragraph {n} names part QX-{n:04d} of the pump." for n in range(600))

    def last_analyze() -> object:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT last_analyze FROM pg_stat_user_tables "
                "WHERE relid = 'retrieval_chunk'::regclass"
            )
            return cursor.fetchone()[0]

    before = last_analyze()  # None, unless an earlier test had the table analyzed
    file_index(file=make_file(owner, "parts.txt"), pages=[Page(text=text, page=1)])
    # Row counts reach the statistics views up to a second after a commit: the next file's
    # write (here: the same call again) finds the table changed and analyzes it.
    deadline = time.monotonic() + 10
    while last_analyze() == before and time.monotonic() < deadline:
        time.sleep(0.2)
        index_current().written()
    assert last_analyze() != before


def test_an_indexed_files_words_are_merged_into_the_full_text_index(
    owner: User, make_file: Callable[..., File]
) -> None:
    """No search has to read GIN's pending list after an upload (it made the lexical query
    7x slower after bench/'s 200 pages): gin_clean_pending_list finds nothing left to merge."""
    from retrieval.indexing import Page, file_index

    text = " ".join(f"Part QX-{n:04d} fits the pump's valve number {n}." for n in range(300))
    file_index(file=make_file(owner, "parts.txt"), pages=[Page(text=text, page=1)])

    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list('retrieval_chunk_tsv'::regclass)")
        assert cursor.fetchone()[0] == 0
