"""Prometheus metrics at ``GET /metrics`` (Bearer ``METRICS_TOKEN``; 404 while it is unset).

Each web process exposes its own requests, sockets, streams and upstream calls: scrape every
process (Kubernetes: every pod) directly, not through the load balancer. Celery job outcomes
are counted by the workers in Redis and the queue depths are read from the broker when the
page is scraped, so any web process shows the whole cluster's jobs.
"""

import contextlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

from celery import signals
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from webui_backend.errors import page_not_found

REQUEST_LATENCY = Histogram(
    "webui_http_request_duration_seconds",
    "Time from the request to the response's headers, per route pattern.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OPEN_SOCKETS = Gauge(
    "webui_open_sockets", "Authenticated Socket.IO and /ws/ connections this process holds."
)
OPEN_EVENT_STREAMS = Gauge(
    "webui_open_event_streams", "Chat event streams (SSE, /api/chats/{id}/events) open here."
)
ACTIVE_COMPLETIONS = Gauge(
    "webui_active_completions",
    "Completion turns consuming an upstream in this process.",
    ["stream"],
)
UPSTREAM_LATENCY = Histogram(
    "webui_upstream_latency_seconds",
    "Time from sending a completion upstream to its response's headers, per connection.",
    ["connection"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
UPSTREAM_ERRORS = Counter(
    "webui_upstream_errors_total",
    "Completion calls that failed, per connection and error code.",
    ["connection", "code"],
)
DRAINING = Gauge("webui_draining", "1 while this process shuts down gracefully.")

# Route labels come from the resolved URL pattern, never the raw path (unbounded).
UNMATCHED = "<unmatched>"


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else UNMATCHED


def observe_request(request: HttpRequest, status: int, started: float) -> float:
    elapsed = time.perf_counter() - started
    REQUEST_LATENCY.labels(request.method or "", route_of(request), str(status)).observe(elapsed)
    return elapsed


class UpstreamCall:
    """Times one upstream call up to its headers and counts its failure."""

    __slots__ = ("connection", "started")

    def __init__(self, connection: str) -> None:
        self.connection = connection
        self.started = time.perf_counter()

    def answered(self) -> None:
        UPSTREAM_LATENCY.labels(self.connection).observe(time.perf_counter() - self.started)

    def failed(self, exc: BaseException) -> None:
        code = getattr(exc, "default_code", None) or type(exc).__name__
        UPSTREAM_ERRORS.labels(self.connection, str(code)).inc()


# --- Celery: outcomes counted in Redis by the workers, queue depth read at scrape -----------

_OUTCOMES_KEY = "metrics:celery_tasks"
_local_outcomes: dict[tuple[str, str], int] = {}  # the embedded default: tasks run in-process
_redis: Any = None


def _broker_redis() -> Any:
    """A Redis client on the broker (None on the embedded default or another broker)."""
    global _redis
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    return _redis


def _outcomes_key() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{_OUTCOMES_KEY}"


def task_outcome_record(task_name: str, outcome: str) -> None:
    client = _broker_redis()
    if client is None:
        key = (task_name, outcome)
        _local_outcomes[key] = _local_outcomes.get(key, 0) + 1
        return
    with contextlib.suppress(Exception):  # a metric must never fail a job
        client.hincrby(_outcomes_key(), f"{task_name}|{outcome}", 1)


@signals.task_success.connect
def _on_success(sender: Any = None, **_: Any) -> None:
    task_outcome_record(getattr(sender, "name", "?"), "success")


@signals.task_failure.connect
def _on_failure(sender: Any = None, **_: Any) -> None:
    task_outcome_record(getattr(sender, "name", "?"), "failure")


@signals.task_retry.connect
def _on_retry(sender: Any = None, **_: Any) -> None:
    task_outcome_record(getattr(sender, "name", "?"), "retry")


def _queues() -> list[str]:
    queues = getattr(settings, "CELERY_TASK_QUEUES", None)
    names = [q.name for q in queues] if queues else []
    return names or [getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")]


class CeleryCollector(Collector):
    def describe(self) -> list[Any]:
        return []  # registered at import, before Django's settings may be read

    def collect(self) -> Iterator[Any]:
        outcomes = CounterMetricFamily(
            "webui_celery_tasks",
            "Celery jobs finished, per task and outcome.",
            labels=["task", "outcome"],
        )
        depth = GaugeMetricFamily(
            "webui_celery_queue_length", "Jobs waiting in each Celery queue.", labels=["queue"]
        )
        client = _broker_redis()
        if client is None:
            for (task, outcome), count in _local_outcomes.items():
                outcomes.add_metric([task, outcome], count)
            yield outcomes
            return
        try:
            with client.pipeline(transaction=False) as pipe:
                pipe.hgetall(_outcomes_key())
                queues = _queues()
                for queue in queues:
                    pipe.llen(queue)
                counts, *lengths = pipe.execute()
        except Exception:
            return  # Redis down: the scrape shows the process metrics, /health shows the rest
        for field, count in counts.items():
            task, _, outcome = field.decode().rpartition("|")
            outcomes.add_metric([task, outcome], int(count))
        for queue, length in zip(queues, lengths, strict=True):
            depth.add_metric([queue], length)
        yield outcomes
        yield depth


REGISTRY.register(CeleryCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format; 404 unless METRICS_TOKEN is set, 401 without it."""
    token = settings.METRICS_TOKEN
    if not token:
        return page_not_found(request)
    sent = request.headers.get("Authorization", "")
    if not secrets.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        response = HttpResponse(
            b'{"detail":"A valid metrics token is needed.","code":"not_authenticated"}',
            status=401,
            content_type="application/json",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
