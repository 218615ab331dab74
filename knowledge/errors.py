from webui_backend.errors import NotFound


class KnowledgeNotFound(NotFound):
    default_detail = "Knowledge collection not found."
    default_code = "knowledge_not_found"


class FileNotFound(NotFound):
    default_detail = "File not found."
    default_code = "file_not_found"
