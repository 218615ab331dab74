"""Multipart requests with too many files or fields: 400, and one warning line in the log."""

import logging
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from users.models import User

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("what", ["files", "fields"])
def test_too_many_parts_is_400_and_one_warning_line(
    owner: User,
    client_of: Callable[[User], APIClient],
    caplog: pytest.LogCaptureFixture,
    settings: object,
    what: str,
) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3  # type: ignore[attr-defined]
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3  # type: ignore[attr-defined]
    if what == "files":
        body = {f"file{i}": SimpleUploadedFile(f"a{i}.txt", b"x") for i in range(4)}
    else:
        body = {f"field{i}": "x" for i in range(4)}

    with caplog.at_level(logging.INFO):
        response = client_of(owner).post("/api/files/", body, format="multipart")

    assert response.status_code == 400
    assert response.json()["code"] == "too_many_parts"
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1
    assert problems[0].levelno == logging.WARNING
    assert problems[0].exc_info is None
    assert "\n" not in problems[0].getMessage()
