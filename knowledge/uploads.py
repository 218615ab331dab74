"""Reading an upload as it streams in: size limit, sha256 and a temporary file on disk."""

import hashlib
from typing import Any

from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler

from knowledge.errors import FileTooLarge

FIELD = "file"


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Takes the one multipart field ``file``: streams it to a temporary file while hashing
    it, and raises ``FileTooLarge`` (413) the moment it passes ``limit`` bytes, so an
    oversized upload is never held whole, in memory or on disk. Other file fields are skipped.
    """

    def __init__(self, request: Any, *, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.digest = hashlib.sha256()
        self.raw_name = ""
        self.taken = False

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        if field_name != FIELD or self.taken:
            raise SkipFile()
        self.taken = True
        self.raw_name = file_name
        super().new_file(field_name, file_name, *args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.file.close()  # the temporary file is deleted with it
            raise FileTooLarge(f"The file is larger than the limit of {self.limit:,} bytes.")
        self.digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()
