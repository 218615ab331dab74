"""Logs and request ids: one JSON object per line (``LOG_FORMAT=json``) or plain text, each
carrying the id of the request (or Celery task) it belongs to.

A request keeps a sane ``X-Request-ID`` it arrives with, or gets a new one; the response
returns it. The id lives in a contextvar, so it follows the request into threads
(``sync_to_async`` copies the context), into tasks it starts (asyncio copies it too) and, through
a message header, into the Celery tasks it sends: the worker's log lines of that task carry the
same id.
"""

import contextvars
import json
import logging
import re
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

from celery import signals

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "request_id"
# What an incoming id may look like: a proxy's or client's uuid, hex or similar token.
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
task_var: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "celery_task", default=None
)


def request_id_from(incoming: str | None) -> str:
    """The incoming id if it is sane (at most 128 plain characters), else a new one."""
    if incoming and _SANE_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


# --- logging --------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Puts the request id (and the Celery task, in a worker) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        task = task_var.get()
        record.task_id, record.task_name = task if task else ("", "")
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "task_id",
    "task_name",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (tracebacks included, newlines escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id and request_id != "-":
            out["request_id"] = request_id
        if getattr(record, "task_id", ""):
            out["task_id"] = record.task_id  # type: ignore[attr-defined]
            out["task"] = record.task_name  # type: ignore[attr-defined]
        for key, value in vars(record).items():  # fields passed with extra={...}
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    """Django's LOGGING for ``LOG_FORMAT`` (json or text)."""
    text = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "webui_backend.observability.ContextFilter"}},
        "formatters": {
            "text": {"format": text},
            "json": {"()": "webui_backend.observability.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.request": {"level": "ERROR"},
            # One line per request comes from our middleware (with the route and the id).
            "django.channels.server": {"level": "WARNING"},
        },
    }


# --- Celery: the id rides along in a message header -----------------------------------------


@signals.before_task_publish.connect
def _publish_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = request_id_var.get()
    if request_id and headers is not None and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


_task_tokens: dict[str, tuple[contextvars.Token[str], contextvars.Token[Any]]] = {}


@signals.task_prerun.connect
def _task_context(task_id: str = "", task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    incoming = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        TASK_HEADER
    )
    # An eager task runs inside the request that sent it: its id is already set.
    request_id = request_id_var.get() or request_id_from(incoming)
    _task_tokens[task_id] = (
        request_id_var.set(request_id),
        task_var.set((task_id, getattr(task, "name", ""))),
    )


@signals.task_postrun.connect
def _task_context_end(task_id: str = "", **_: Any) -> None:
    tokens = _task_tokens.pop(task_id, None)
    if tokens is not None:
        request_id_var.reset(tokens[0])
        task_var.reset(tokens[1])
