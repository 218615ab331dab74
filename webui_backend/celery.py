"""The Celery application. On the embedded default tasks run eagerly, in process."""

import os

from celery import Celery

# Their signal handlers: the request id rides into tasks; job outcomes are counted.
import webui_backend.metrics
import webui_backend.observability  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui_backend.settings")

app = Celery("webui_backend")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
