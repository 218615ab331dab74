"""Files and collections made with the ORM (indexing reads pages, not stored bytes)."""

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from knowledge.models import File, Knowledge, KnowledgeFile
from retrieval.backends import _in_process
from retrieval.indexing import Page, file_index
from users.models import User


@pytest.fixture(autouse=True)
def _fresh_vector_cache() -> None:
    _in_process.clear()  # the test database is new per test; cached matrices are not


@pytest.fixture
def make_file(db: None) -> Callable[..., File]:
    def make(user: User, filename: str = "notes.txt", **fields: Any) -> File:
        digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        return File.objects.create(
            user=user,
            filename=filename,
            content_type=fields.pop("content_type", "text/plain"),
            size=fields.pop("size", 100),
            sha256=digest,
            storage_name=f"test/{digest}",
            **fields,
        )

    return make


@pytest.fixture
def indexed_file(make_file: Callable[..., File]) -> Callable[..., File]:
    """A file of ``user`` whose pages are indexed with the current embedding model."""

    def make(user: User, *texts: str, filename: str = "notes.txt") -> File:
        file = make_file(user, filename)
        file_index(file=file, pages=[Page(text=t, page=i + 1) for i, t in enumerate(texts)])
        return file

    return make


@pytest.fixture
def make_knowledge(db: None) -> Callable[..., Knowledge]:
    def make(user: User, *files: File, name: str = "Docs", public: bool = False) -> Knowledge:
        knowledge = Knowledge.objects.create(user=user, name=name, public=public)
        for file in files:
            KnowledgeFile.objects.create(knowledge=knowledge, file=file)
        return knowledge

    return make
