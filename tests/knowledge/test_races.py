"""Racing uploads of the same bytes end as one file, one stored copy."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from knowledge.models import File
from tests.knowledge.helpers import upload
from tests.threads import run_together
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_uploads_of_the_same_bytes_are_one_file(
    owner: User, client_of: Callable[[User], APIClient]
) -> None:
    data = b"# The same notes, sent four times at once\n" * 100
    before = stored_names()

    def send(_: int) -> tuple[int, str]:
        response = upload(client_of(owner), "same.md", data)
        return response.status_code, response.json()["id"]

    answers = run_together(4, send)

    assert sorted(code for code, _ in answers) == [200, 200, 200, 201]
    assert len({file_id for _, file_id in answers}) == 1
    assert File.objects.count() == 1
    assert stored_names() - before == {File.objects.get().storage_name}  # the losers' are gone


def test_uploads_racing_on_one_idempotency_key_leave_no_bytes_behind(
    owner: User, client_of: Callable[[User], APIClient]
) -> None:
    """Each racer stores its bytes before its row commits; a racer whose row rolls back with
    the key's transaction must not leave its bytes behind."""
    before = stored_names()

    def send(n: int) -> int:
        data = f"# Racer {n}\n".encode() * 100
        response = upload(client_of(owner), f"racer-{n}.md", data, HTTP_IDEMPOTENCY_KEY="one-key")
        return response.status_code

    codes = run_together(4, send)

    assert codes.count(201) == 1
    assert File.objects.count() == 1
    assert stored_names() - before == {File.objects.get().storage_name}


def stored_names() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in (root / "files").rglob("*") if p.is_file()}
