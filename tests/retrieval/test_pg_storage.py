"""On PostgreSQL a chunk's vector is kept in its row (STORAGE MAIN), so an exact scan of a
scope reads no TOAST (retrieval/migrations/0003_chunk_embedding_inline.py)."""

import pytest
from django.db import connection

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
