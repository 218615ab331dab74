from rest_framework import status

from webui_backend.errors import AppError, Conflict, Forbidden, NotFound, PayloadTooLarge


class KnowledgeNotFound(NotFound):
    default_detail = "Knowledge collection not found."
    default_code = "knowledge_not_found"


class FileNotFound(NotFound):
    default_detail = "File not found."
    default_code = "file_not_found"


class FileRequired(AppError):
    default_detail = "Send the file as the multipart form field `file`."
    default_code = "file_required"


class EmptyFile(AppError):
    default_detail = "The file is empty (zero bytes)."
    default_code = "empty_file"


class FileTooLarge(PayloadTooLarge):
    default_detail = "The file is larger than the limit."
    default_code = "file_too_large"


class UnsupportedFileType(AppError):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_detail = (
        "Unsupported file type: PDF, DOCX, TXT, Markdown, HTML, CSV and JSON are accepted."
    )
    default_code = "unsupported_file_type"


class KnowledgeReadOnly(Forbidden):
    default_detail = "Only the owner of this knowledge collection can change it."
    default_code = "knowledge_read_only"


class NoActiveJob(Conflict):
    default_detail = "No processing job is running for this file."
    default_code = "no_active_job"


class ExtractionFailed(AppError):
    """A file whose text cannot be extracted; its processing job fails with this detail."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The file's text could not be extracted."
    default_code = "extraction_failed"
