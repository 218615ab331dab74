"""Request parsers that refuse oversized bodies before reading them into memory."""

import io
from typing import Any

from django.conf import settings
from rest_framework import parsers

from webui_backend.errors import PayloadTooLarge
from webui_backend.jsondepth import JsonTooDeep, check_parsed


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the body capped at DATA_UPLOAD_MAX_MEMORY_SIZE (413 past it) and
    its nesting at JSON_MAX_DEPTH (400 ``json_too_deep`` past it, never a RecursionError).

    DRF reads the raw stream, which bypasses Django's own cap on ``request.body``. A view
    that takes larger bodies uses a subclass naming another setting in ``limit_setting``.
    """

    limit_setting = "DATA_UPLOAD_MAX_MEMORY_SIZE"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = getattr(settings, self.limit_setting)
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge()
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge()
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:  # the parser ran out of stack: far deeper than the limit
            raise JsonTooDeep() from None
        return check_parsed(data, body)
