"""Open WebUI's environment variables, read alongside ours.

People moving from Open WebUI bring its ``.env``. Every variable Open WebUI 0.12.4 reads is
listed in ``openwebui_env_names.py`` (taken from its source) and classified here:

- ``SAME``: the same name and meaning as ours; settings.py reads it directly.
- ``MAPPED``: an Open WebUI name (or spelling of a value) that becomes one of ours.
- everything else: not supported, with the reason (``unsupported_reason``); set, it is named
  in one warning at start-up.

``apply`` runs first thing in settings.py: it writes the mapped values under our names into the
environment where ours are not set (ours win), and returns what it read, so that start-up logs
which Open WebUI names were used (``log_report``). docs/moving-from-open-webui.md is the table
of all of them (tests check it lists every name).
"""

import logging
import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from urllib.parse import quote

from webui_backend.openwebui_env_names import NAMES

logger = logging.getLogger("webui_backend.openwebui_env")


def known_names() -> list[str]:
    """Every variable Open WebUI 0.12.4 reads, sorted (openwebui_env_names.py)."""
    return list(NAMES)


# Same name, same meaning: our settings read these themselves (value spellings Open WebUI
# allows and we did not are translated by ``apply``, see VALUE_FIXES).
SAME: dict[str, str] = {
    "DATABASE_URL": "PostgreSQL (`postgresql://…`) or SQLite; Open WebUI's `postgres://` works too",
    "REDIS_URL": "cache, channel layer and Celery broker",
    "DATA_DIR": "our database (`db.sqlite3`) and uploads live here; Open WebUI's `webui.db` is "
    "left alone (import it with `manage.py import_openwebui`)",
    "WEBUI_URL": "base of share links",
    "ENABLE_SIGNUP": "sign-up on or off until an admin saves a choice",
    "DEFAULT_USER_ROLE": "`user` or `pending`; Open WebUI's `admin` is refused at start-up "
    "(every new account an admin)",
    "ENABLE_API_KEYS": "API keys on or off until an admin saves a choice",
    "ENABLE_OPENAI_API": "`false` ignores `OPENAI_API_BASE_URL(S)`",
    "ENABLE_OLLAMA_API": "`false` ignores `OLLAMA_BASE_URL(S)`",
    "OPENAI_API_BASE_URLS": "`;`-separated OpenAI-compatible upstreams",
    "OPENAI_API_KEYS": "their keys, `;`-separated, by position",
    "OLLAMA_BASE_URLS": "`;`-separated Ollama servers",
    "DEFAULT_MODELS": "comma-separated; the first is used by a completion that names no model",
    "RAG_EMBEDDING_ENGINE": "`''` (Open WebUI's local default) and `local` mean the local "
    "MiniLM; `openai` an OpenAI-compatible server; `ollama` Ollama's OpenAI-compatible "
    "`/v1/embeddings` at `RAG_OLLAMA_BASE_URL`",
    "RAG_EMBEDDING_MODEL": "`sentence-transformers/all-MiniLM-L6-v2` (Open WebUI's default "
    "spelling) is our bundled `all-MiniLM-L6-v2`",
    "RAG_OPENAI_API_BASE_URL": "embeddings server of the `openai` engine",
    "RAG_OPENAI_API_KEY": "its key",
    "RAG_EMBEDDING_BATCH_SIZE": "texts per embeddings batch",
    "RAG_EMBEDDING_TIMEOUT": "seconds per embeddings request",
    "RAG_TOP_K": "chunks put into a prompt (at most 50)",
    "CHUNK_SIZE": "read as tokens of the embedding model, capped at what it reads (MiniLM: 254); "
    "Open WebUI's default character splitter counted characters, so its 1000 gives "
    "chunks of the model's full length here",
    "CHUNK_OVERLAP": "tokens, as `CHUNK_SIZE`",
    "RAG_TEMPLATE": "Open WebUI's `{{CONTEXT}}`/`{{QUERY}}` (and older `[context]`/`[query]`) "
    "placeholders are read as our `{context}`/`{query}`",
    "ENABLE_RAG_HYBRID_SEARCH": "default of `hybrid` in `/api/retrieval/query` (ours: true, "
    "Open WebUI's: false; set it to keep Open WebUI's behaviour)",
    "RAG_RERANKING_ENGINE": "`external` sends a hybrid search's best candidates "
    "(`RAG_RERANKING_CANDIDATES`, 40) to `RAG_EXTERNAL_RERANKER_URL`; Open WebUI's local "
    "cross-encoder (`''` with a `RAG_RERANKING_MODEL`) does not run here: no reranking",
    "RAG_RERANKING_MODEL": "the `model` sent to the external reranker",
    "RAG_EXTERNAL_RERANKER_URL": "the reranker's full URL (`…/v1/rerank`; Cohere, Jina and "
    "text-embeddings-inference answers are read)",
    "RAG_EXTERNAL_RERANKER_API_KEY": "its bearer key",
    "RAG_EXTERNAL_RERANKER_TIMEOUT": "seconds per reranker request (ours default to 10; a "
    "failing reranker leaves the search's own order)",
    "SEARXNG_QUERY_URL": "the search URL; Open WebUI's `?q=<query>` suffix is dropped",
    "ENABLE_WEB_SEARCH": "`false` turns web search off even with `SEARXNG_QUERY_URL`",
    "WEB_SEARCH_RESULT_COUNT": "results of a web search",
    "MODELS_CACHE_TTL": "seconds a connection's model list is cached",
    "LOG_FORMAT": "`json` or `text`",
    "S3_ACCESS_KEY_ID": "S3 credentials",
    "S3_SECRET_ACCESS_KEY": "S3 credentials",
    "S3_ENDPOINT_URL": "MinIO, R2, Ceph …",
    "S3_ADDRESSING_STYLE": "`auto`, `path` or `virtual`",
}


@dataclass(frozen=True)
class Mapping:
    ours: str
    note: str
    # The value under our name, from the whole environment (None: nothing to set).
    value: Callable[[MutableMapping[str, str]], str | None]


def _copy(name: str) -> Callable[[MutableMapping[str, str]], str | None]:
    return lambda env: env.get(name)


def _list(name: str) -> Callable[[MutableMapping[str, str]], str | None]:
    return lambda env: ",".join(p.strip() for p in env.get(name, "").split(";") if p.strip())


def _ollama_url(env: MutableMapping[str, str]) -> str | None:
    url = env.get("OLLAMA_BASE_URL") or env.get("OLLAMA_API_BASE_URL") or ""
    url = url.rstrip("/")
    return url.removesuffix("/api") or None


def _storage(env: MutableMapping[str, str]) -> str | None:
    provider = env.get("STORAGE_PROVIDER", "").strip().lower()
    return {"": "local", "local": "local", "s3": "s3"}.get(provider)


def _megabytes(name: str) -> Callable[[MutableMapping[str, str]], str | None]:
    def value(env: MutableMapping[str, str]) -> str | None:
        raw = env.get(name, "").strip()
        return str(int(float(raw) * 1024 * 1024)) if raw.replace(".", "", 1).isdigit() else None

    return value


def _seconds(name: str) -> Callable[[MutableMapping[str, str]], str | None]:
    def value(env: MutableMapping[str, str]) -> str | None:
        raw = env.get(name, "").strip()
        return str(max(1, int(float(raw)))) if raw.replace(".", "", 1).isdigit() else None

    return value


def _database_url(env: MutableMapping[str, str]) -> str | None:
    kind = env.get("DATABASE_TYPE", "").strip().lower()
    if kind not in {"postgresql", "postgres"} or not env.get("DATABASE_HOST"):
        return None
    user = quote(env.get("DATABASE_USER", ""), safe="")
    password = quote(env.get("DATABASE_PASSWORD", ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = env.get("DATABASE_PORT") or "5432"
    return f"postgresql://{auth}{env['DATABASE_HOST']}:{port}/{env.get('DATABASE_NAME', '')}"


def _rag_ollama(key: str) -> Callable[[MutableMapping[str, str]], str | None]:
    def value(env: MutableMapping[str, str]) -> str | None:
        if env.get("RAG_EMBEDDING_ENGINE", "").strip().lower() not in {"ollama"}:
            return None
        raw = env.get(key, "").strip()
        if key == "RAG_OLLAMA_BASE_URL":
            return (raw.rstrip("/") or "http://localhost:11434") + "/v1"
        return raw or None

    return value


MAPPED: dict[str, Mapping] = {
    "WEBUI_SECRET_KEY": Mapping(
        "SECRET_KEY", "signs tokens and sessions", _copy("WEBUI_SECRET_KEY")
    ),
    "WEBUI_JWT_SECRET_KEY": Mapping(
        "SECRET_KEY", "Open WebUI's older name", _copy("WEBUI_JWT_SECRET_KEY")
    ),
    "OPENAI_API_BASE_URL": Mapping(
        "OPENAI_API_BASE_URLS", "one upstream (the singular form)", _copy("OPENAI_API_BASE_URL")
    ),
    "OPENAI_API_KEY": Mapping("OPENAI_API_KEYS", "its key", _copy("OPENAI_API_KEY")),
    "OLLAMA_BASE_URL": Mapping("OLLAMA_BASE_URLS", "one Ollama server", _ollama_url),
    "OLLAMA_API_BASE_URL": Mapping(
        "OLLAMA_BASE_URLS", "Open WebUI's older name (a trailing `/api` is dropped)", _ollama_url
    ),
    "CORS_ALLOW_ORIGIN": Mapping(
        "ALLOWED_ORIGINS",
        "browser origins allowed besides this site (`;` becomes `,`)",
        _list("CORS_ALLOW_ORIGIN"),
    ),
    "GLOBAL_LOG_LEVEL": Mapping("LOG_LEVEL", "root log level", _copy("GLOBAL_LOG_LEVEL")),
    "RAG_OLLAMA_BASE_URL": Mapping(
        "RAG_OPENAI_API_BASE_URL",
        "with `RAG_EMBEDDING_ENGINE=ollama`: Ollama's OpenAI-compatible `…/v1`",
        _rag_ollama("RAG_OLLAMA_BASE_URL"),
    ),
    "RAG_OLLAMA_API_KEY": Mapping(
        "RAG_OPENAI_API_KEY",
        "with `RAG_EMBEDDING_ENGINE=ollama`",
        _rag_ollama("RAG_OLLAMA_API_KEY"),
    ),
    "RAG_EMBEDDING_OPENAI_BATCH_SIZE": Mapping(
        "RAG_EMBEDDING_BATCH_SIZE",
        "Open WebUI's older name",
        _copy("RAG_EMBEDDING_OPENAI_BATCH_SIZE"),
    ),
    "RAG_FILE_MAX_SIZE": Mapping(
        "FILE_MAX_BYTES", "megabytes there, bytes here", _megabytes("RAG_FILE_MAX_SIZE")
    ),
    "AIOHTTP_CLIENT_TIMEOUT": Mapping(
        "UPSTREAM_TIMEOUT",
        "seconds; ours is the longest silence of an upstream, Open WebUI's the whole request",
        _seconds("AIOHTTP_CLIENT_TIMEOUT"),
    ),
    "AIOHTTP_CLIENT_TIMEOUT_MODEL_LIST": Mapping(
        "MODELS_FETCH_TIMEOUT",
        "seconds to list a connection's models",
        _seconds("AIOHTTP_CLIENT_TIMEOUT_MODEL_LIST"),
    ),
    "AIOHTTP_CLIENT_TIMEOUT_OPENAI_MODEL_LIST": Mapping(
        "MODELS_FETCH_TIMEOUT",
        "Open WebUI's older name",
        _seconds("AIOHTTP_CLIENT_TIMEOUT_OPENAI_MODEL_LIST"),
    ),
    "REDIS_KEY_PREFIX": Mapping(
        "CACHE_KEY_PREFIX", "key prefix in Redis", _copy("REDIS_KEY_PREFIX")
    ),
    "DATABASE_POOL_SIZE": Mapping(
        "DB_POOL_MAX_SIZE", "PostgreSQL connections per process", _copy("DATABASE_POOL_SIZE")
    ),
    "DATABASE_POOL_TIMEOUT": Mapping(
        "DB_POOL_TIMEOUT", "seconds to wait for a connection", _copy("DATABASE_POOL_TIMEOUT")
    ),
    "DATABASE_TYPE": Mapping(
        "DATABASE_URL",
        "with `DATABASE_HOST`, `_PORT`, `_USER`, `_PASSWORD`, `_NAME`: a PostgreSQL URL",
        _database_url,
    ),
    "DATABASE_HOST": Mapping("DATABASE_URL", "see `DATABASE_TYPE`", _database_url),
    "DATABASE_PORT": Mapping("DATABASE_URL", "see `DATABASE_TYPE`", _database_url),
    "DATABASE_USER": Mapping("DATABASE_URL", "see `DATABASE_TYPE`", _database_url),
    "DATABASE_PASSWORD": Mapping("DATABASE_URL", "see `DATABASE_TYPE`", _database_url),
    "DATABASE_NAME": Mapping("DATABASE_URL", "see `DATABASE_TYPE`", _database_url),
    "STORAGE_PROVIDER": Mapping(
        "STORAGE_BACKEND", "`local` or `s3` (`gcs` and `azure` are not supported)", _storage
    ),
    "S3_BUCKET_NAME": Mapping("S3_BUCKET", "the bucket", _copy("S3_BUCKET_NAME")),
    "S3_REGION_NAME": Mapping("S3_REGION", "its region", _copy("S3_REGION_NAME")),
    "S3_KEY_PREFIX": Mapping("S3_PREFIX", "key prefix in the bucket", _copy("S3_KEY_PREFIX")),
}


def _fix_engine(value: str) -> str:
    return {"": "local", "ollama": "openai"}.get(value.strip().lower(), value)


def _fix_model(value: str) -> str:
    return value.removeprefix("sentence-transformers/")


def _fix_template(value: str) -> str:
    for theirs, ours in (
        ("{{CONTEXT}}", "{context}"),
        ("{{QUERY}}", "{query}"),
        ("[context]", "{context}"),
        ("[query]", "{query}"),
    ):
        value = value.replace(theirs, ours)
    return value


def _fix_searxng(value: str) -> str:
    return value.split("?")[0]


# Open WebUI spellings of values of shared names, rewritten in place.
VALUE_FIXES: dict[str, Callable[[str], str]] = {
    "RAG_EMBEDDING_ENGINE": _fix_engine,
    "RAG_EMBEDDING_MODEL": _fix_model,
    "RAG_TEMPLATE": _fix_template,
    "SEARXNG_QUERY_URL": _fix_searxng,
}

# Not settings of Open WebUI's own: its container's or libraries' environment. Listed in the
# table, never warned about.
NOT_SETTINGS: dict[str, str] = {
    "DOCKER": "marks Open WebUI's container image",
    "USE_CUDA_DOCKER": "Open WebUI's image build",
    "USE_OLLAMA_DOCKER": "Open WebUI's image build",
    "USE_SLIM_DOCKER": "Open WebUI's image build",
    "K8S_FLAG": "Open WebUI's Helm chart",
    "ENV": "Open WebUI's dev/prod switch (ours: `DEBUG`)",
    "FROM_INIT_PY": "internal to Open WebUI's launcher",
    "HF_HUB_CACHE": "Hugging Face library cache (we download no models)",
    "HF_HUB_OFFLINE": "Hugging Face library (we are always offline: the model is bundled)",
    "SENTENCE_TRANSFORMERS_HOME": "sentence-transformers cache (our model is bundled)",
    "TIKTOKEN_CACHE_DIR": "tiktoken's cache (we do not use tiktoken)",
    "LD_LIBRARY_PATH": "the dynamic loader's",
    "TZ": "the process time zone (we store UTC)",
    "FORWARDED_ALLOW_IPS": "uvicorn's; ours is `TRUSTED_PROXY_COUNT`",
    "LICENSE_KEY": "Open WebUI's enterprise licence",
    "LICENSE_BLOB_PATH": "Open WebUI's enterprise licence",
    "LICENSE_PUBLIC_KEY": "Open WebUI's enterprise licence",
}

# Reasons for the unsupported ones, by name prefix (first match wins), then one by name.
_PREFIX_REASONS: list[tuple[tuple[str, ...], str]] = [
    (
        (
            "AUDIO_",
            "WHISPER_",
            "DEEPGRAM_",
            "ELEVENLABS_",
            "ENABLE_VOICE",
            "VOICE_MODE",
            "REALTIME_CALL",
            "REALTIME_TTS",
            "USER_PERMISSIONS_CHAT_STT",
            "USER_PERMISSIONS_CHAT_TTS",
            "USER_PERMISSIONS_CHAT_CALL",
            "BYPASS_PYDUB",
        ),
        "speech (STT/TTS, voice calls) is not part of this server",
    ),
    (
        (
            "IMAGE",
            "COMFYUI_",
            "AUTOMATIC1111_",
            "GEMINI_",
            "ENABLE_IMAGE",
            "ENABLE_OPENAI_IMAGE",
            "FILE_IMAGE_",
            "ENABLE_CHAT_RESPONSE_BASE64",
            "USER_PERMISSIONS_FEATURES_IMAGE",
        ),
        "image generation and editing are not part of this server",
    ),
    (
        (
            "OAUTH_",
            "ENABLE_OAUTH",
            "GOOGLE_CLIENT",
            "GOOGLE_OAUTH",
            "GOOGLE_REDIRECT",
            "GITHUB_",
            "MICROSOFT_CLIENT",
            "MICROSOFT_OAUTH",
            "MICROSOFT_REDIRECT",
            "OPENID_",
            "FEISHU_",
            "LDAP_",
            "ENABLE_LDAP",
            "SCIM_",
            "ENABLE_SCIM",
            "WEBUI_AUTH_TRUSTED",
            "MFA_",
            "ENABLE_MFA",
        ),
        "single sign-on (OAuth/OIDC, LDAP, SCIM, trusted headers) and MFA are not supported: "
        "accounts sign in with email and password or an API key",
    ),
    (
        (
            "CHROMA_",
            "MILVUS_",
            "ENABLE_MILVUS",
            "QDRANT_",
            "ENABLE_QDRANT",
            "OPENSEARCH_",
            "ELASTICSEARCH_",
            "PINECONE_",
            "WEAVIATE_",
            "ORACLE_",
            "OPENGAUSS_",
            "MARIADB_VECTOR",
            "PGVECTOR_",
            "VALKEY_",
            "S3_VECTOR",
            "VECTOR_DB",
            "AZURE_AI_SEARCH",
        ),
        "vectors live in our own database (pgvector on PostgreSQL, in process on SQLite); no "
        "other vector store",
    ),
    (
        (
            "RAG_RERANKING",
            "RAG_EXTERNAL_RERANKER",
            "RAG_TOP_K_RERANKER",
            "SENTENCE_TRANSFORMERS_",
            "RAG_HYBRID_BM25",
            "ENABLE_RAG_HYBRID_SEARCH_ENRICHED",
            "RAG_RELEVANCE_THRESHOLD",
            "RAG_EMBEDDING_MODEL_",
            "RAG_EMBEDDING_CONTENT_PREFIX",
            "RAG_EMBEDDING_QUERY_PREFIX",
            "RAG_EMBEDDING_PREFIX_FIELD",
            "RAG_EMBEDDING_CONCURRENT",
            "RAG_AZURE_",
            "RAG_TEXT_SPLITTER",
            "RAG_TOKENIZER_MODEL",
            "CHUNK_MIN_SIZE",
            "ENABLE_MARKDOWN_HEADER",
            "RAG_FULL_CONTEXT",
            "RAG_SYSTEM_CONTEXT",
            "RAG_SOURCE_METADATA",
            "RAG_METADATA",
            "RAG_FILE_CONTENT",
            "RAG_FILE_MAX_COUNT",
            "RAG_ALLOWED_FILE",
            "ENABLE_RAG_CSV",
            "ENABLE_ASYNC_EMBEDDING",
            "AUXILIARY_EMBEDDING",
            "BYPASS_EMBEDDING",
            "ENABLE_RETRIEVAL",
            "ENABLE_KB_EXEC",
            "ENABLE_KNOWLEDGE_FILE",
            "BYPASS_RETRIEVAL",
            "FOLDER_MAX_FILE",
        ),
        "retrieval is fixed here: MiniLM or an OpenAI-compatible embedder, token chunks, hybrid "
        "vector + full-text search, an external reranker only (docs/retrieval.md)",
    ),
    (
        (
            "CONTENT_EXTRACTION",
            "TIKA_",
            "DOCLING_",
            "DOCUMENT_INTELLIGENCE",
            "MISTRAL_OCR",
            "DATALAB_",
            "MINERU_",
            "PADDLEOCR",
            "RAPIDOCR",
            "EXTERNAL_DOCUMENT_LOADER",
            "PDF_",
            "YOUTUBE_LOADER",
        ),
        "text is extracted in process (pypdf, python-docx, plain text, Markdown, HTML); no "
        "external extraction engine",
    ),
    (
        (
            "WEB_SEARCH_ENGINE",
            "BYPASS_WEB_SEARCH",
            "ENABLE_WEB_SEARCH_CONFIRMATION",
            "WEB_SEARCH_CONFIRMATION",
            "WEB_SEARCH_CONCURRENT",
            "WEB_SEARCH_DOMAIN",
            "WEB_SEARCH_TRUST",
            "WEB_LOADER",
            "ENABLE_WEB_LOADER",
            "WEB_FETCH_FILTER",
            "WEB_FETCH_MAX_CONTENT",
            "ENABLE_LOCAL_WEB_FETCH",
            "ENABLE_RAG_LOCAL_WEB_FETCH",
            "PLAYWRIGHT_",
            "FIRECRAWL_",
            "EXTERNAL_WEB",
            "TAVILY_",
            "EXA_",
            "BING_",
            "BRAVE_",
            "BOCHA_",
            "GOOGLE_PSE",
            "JINA_",
            "KAGI_",
            "LINKUP_",
            "MOJEEK_",
            "OPENSERP_",
            "PERPLEXITY_",
            "SEARCHAPI_",
            "SERPAPI_",
            "SERPER_",
            "SERPHOUSE_",
            "SERPLY_",
            "SERPSTACK_",
            "SOUGOU_",
            "STAAN_",
            "YACY_",
            "YANDEX_",
            "YDC_",
            "YOUCOM_",
            "DDGS_",
            "SEARXNG_CLIENT",
            "SEARXNG_LANGUAGE",
            "MICROSOFT_WEB_IQ",
        ),
        "web search is SearxNG only (`SEARXNG_QUERY_URL`), fetched through our SSRF guard "
        "(`WEB_FETCH_*`)",
    ),
    (
        (
            "CODE_EXECUTION",
            "CODE_INTERPRETER",
            "ENABLE_CODE",
            "USER_PERMISSIONS_FEATURES_CODE",
            "ENABLE_PYODIDE",
            "TERMINAL_",
        ),
        "no code interpreter; user functions run in our sandbox (`FUNCTIONS_*`)",
    ),
    (
        (
            "ENABLE_FUNCTIONS",
            "ENABLE_TOOLS",
            "ENABLE_TOOL_",
            "TOOL_SERVER",
            "ENABLE_DIRECT",
            "TOOL_SEARCH",
            "MCP_",
            "ENABLE_PIP",
            "PIP_",
            "ENABLE_PLUGINS",
            "SAFE_MODE",
            "ENABLE_VALVE",
            "TOOLS_FUNCTION_CALLING",
            "CHAT_RESPONSE_MAX_TOOL",
            "USER_PERMISSIONS_CHAT_VALVES",
            "USER_PERMISSIONS_FEATURES_DIRECT",
            "ENABLE_API_OUTLET",
            "SUBAGENTS",
            "ENABLE_SUBAGENTS",
            "SKILL_",
            "ENABLE_SKILL",
            "TRUSTED_SIGNATURE",
        ),
        "Open WebUI's plugins (functions, tools, tool servers, MCP, skills) do not run here: our "
        "functions are single sandboxed Python functions, switched by `FUNCTIONS_USERS_CAN_*`",
    ),
    (
        (
            "TASK_MODEL",
            "TITLE_GENERATION",
            "ENABLE_TITLE",
            "TAGS_GENERATION",
            "ENABLE_TAGS",
            "AUTOCOMPLETE",
            "ENABLE_AUTOCOMPLETE",
            "FOLLOW_UP",
            "ENABLE_FOLLOW_UP",
            "QUERY_GENERATION",
            "ENABLE_SEARCH_QUERY",
            "ENABLE_RETRIEVAL_QUERY",
            "IMAGE_PROMPT",
            "CONTEXT_COMPACTION",
            "ENABLE_CONTEXT_COMPACTION",
        ),
        "background tasks that call a model (titles, tags, follow-ups, query generation, "
        "compaction) are the frontend's to run here",
    ),
    (
        (
            "ENABLE_CHANNELS",
            "ENABLE_ENCRYPTED",
            "CHANNEL_",
            "ENABLE_NOTES",
            "ENABLE_MEMOR",
            "MEMORIES_",
            "ENABLE_CALENDAR",
            "CALENDAR_",
            "ENABLE_AUTOMATIONS",
            "AUTOMATION",
            "SCHEDULER_",
            "TIMER_",
            "ENABLE_APPS",
            "APP_",
            "ENABLE_FOLDERS",
            "ENABLE_USER_STATUS",
            "ENABLE_USER_WEBHOOKS",
            "WEBHOOK_URL",
            "ENABLE_MESSAGE_RATING",
            "ENABLE_EVALUATION",
            "EVALUATION_",
            "ENABLE_COMMUNITY",
            "ENABLE_GOOGLE_DRIVE",
            "GOOGLE_DRIVE",
            "ENABLE_ONEDRIVE",
            "ONEDRIVE_",
            "ENABLE_ADMIN",
            "ENABLE_PUBLIC_ACTIVE",
            "ENABLE_EASTER",
            "ENABLE_RESPONSES",
            "ENABLE_OPENAI_API_PASSTHROUGH",
            "ENABLE_REALTIME_CHAT",
            "ENABLE_CHAT_RESPONSE",
            "CHAT_RESPONSE",
            "CHAT_STREAM",
            "ENABLE_CUSTOM_MODEL",
            "ENABLE_BASE_MODELS",
            "ENABLE_FORWARD",
            "FORWARD_",
            "GOOGLE_APPLICATION",
            "OLLAMA_CLOUD",
            "OPENAI_API_CONFIGS",
            "OLLAMA_API_CONFIGS",
            "DEFAULT_MODEL_",
            "DEFAULT_PINNED",
            "MODEL_ORDER",
            "DEFAULT_GROUP",
            "DEFAULT_PROMPT",
            "DEFAULT_INTERFACE",
            "DEFAULT_LOCALE",
            "USER_PERMISSIONS_",
            "BYPASS_",
            "RESPONSE_WATERMARK",
            "ENABLE_FOLDER",
        ),
        "an Open WebUI feature or permission this server does not have (channels, notes, memories, "
        "calendar, automations, apps, groups and per-feature permissions, evaluations, cloud "
        "drives, per-connection configs)",
    ),
    (
        (
            "WEBUI_NAME",
            "CUSTOM_NAME",
            "WEBUI_BANNERS",
            "PENDING_USER_OVERLAY",
            "SHOW_ADMIN",
            "UI_VISIBILITY",
            "EXTERNAL_PWA",
            "FRONTEND_BUILD",
            "STATIC_DIR",
            "IFRAME_CSP",
            "WEBUI_BUILD",
            "ENABLE_VERSION_UPDATE",
            "ENABLE_LOGIN_FORM",
            "ENABLE_PASSWORD_CHANGE",
            "ENABLE_SIGNUP_PASSWORD",
            "WEBUI_AUTH_SIGNOUT",
            "PROFILE_IMAGE_",
        ),
        "the frontend's (this is a backend: it serves no web app and no branding)",
    ),
    (
        ("WEBUI_ADMIN_", "ADMIN_EMAIL", "ENABLE_INITIAL_ADMIN"),
        "the first account to sign up becomes the admin (or `manage.py createsuperuser`)",
    ),
    (
        (
            "WEBUI_AUTH",
            "ENABLE_PASSWORD_AUTH",
            "WEBUI_SESSION_COOKIE",
            "JWT_EXPIRES_IN",
            "ENABLE_STAR_SESSIONS",
            "API_KEYS_ALLOWED",
            "API_KEY_ALLOWED",
            "ENABLE_API_KEYS_ENDPOINT",
            "ENABLE_API_KEY_ENDPOINT",
            "CUSTOM_API_KEY_HEADER",
            "WEBUI_SECRET_KEY_LENGTH",
            "PASSWORD_",
            "ENABLE_PASSWORD_VALIDATION",
        ),
        "authentication is always on: short-lived JWTs with refresh tokens (`JWT_ACCESS_TTL`, "
        "`JWT_REFRESH_TTL`), API keys with scopes, Django's password validators",
    ),
    (
        ("DATABASE_", "ENABLE_DB_MIGRATIONS", "ENABLE_QUERIES_CACHE"),
        "our database settings are `DATABASE_URL` and `DB_*` (migrations: `manage.py migrate`)",
    ),
    (
        (
            "REDIS_",
            "WEBSOCKET_",
            "ENABLE_WEBSOCKET",
            "UVICORN_",
            "THREAD_POOL",
            "AIOHTTP_",
            "ENABLE_COMPRESSION",
            "ENABLE_ORJSON",
            "REQUESTS_VERIFY",
            "SSL_ASSERT",
            "USER_AGENT",
            "INSTANCE_ID",
            "DEPLOYMENT_ID",
            "MAX_BODY_LOG",
            "LOGURU_",
            "OFFLINE_MODE",
            "ENABLE_PERSISTENT_CONFIG",
            "RESET_CONFIG",
        ),
        "process and transport tuning of Open WebUI's own stack; ours is `REDIS_URL`, "
        "`REALTIME_*`, `UPSTREAM_*` and the server's command line (docs/operations.md)",
    ),
    (
        ("AUDIT_", "ENABLE_AUDIT"),
        "our audit log records admin actions in the database (`/api/admin/audit`)",
    ),
    (("OTEL_", "ENABLE_OTEL"), "metrics are Prometheus (`METRICS_TOKEN`); no OpenTelemetry"),
    (
        ("STORAGE_", "GCS_", "AZURE_STORAGE", "S3_ENABLE_TAGGING", "S3_USE_ACCELERATE"),
        "files are stored locally or in S3 (`STORAGE_BACKEND`, `S3_*`)",
    ),
    (
        ("CORS_ALLOW_CUSTOM",),
        "`ALLOWED_ORIGINS` (mapped from `CORS_ALLOW_ORIGIN`) takes whole "
        "origins, whatever their scheme",
    ),
    (("ENABLE_PROFILE_IMAGE",), "the frontend's (this is a backend: it serves no web app)"),
    (("TIKTOKEN_",), "chunks are counted in the embedding model's own tokens, not tiktoken's"),
]


def unsupported_reason(name: str) -> str:
    if name in NOT_SETTINGS:
        return NOT_SETTINGS[name]
    for prefixes, reason in _PREFIX_REASONS:
        if name.startswith(prefixes):
            return reason
    return "an Open WebUI setting with no counterpart here"


def status_of(name: str) -> str:
    """``same``, ``mapped``, ``not_a_setting`` or ``unsupported``."""
    if name in SAME:
        return "same"
    if name in MAPPED:
        return "mapped"
    if name in NOT_SETTINGS:
        return "not_a_setting"
    return "unsupported"


@dataclass
class Report:
    read: list[str] = field(default_factory=list)  # Open WebUI names that gave us a value
    shadowed: list[str] = field(default_factory=list)  # ...set, but ours was set too
    fixed: list[str] = field(default_factory=list)  # shared names whose value was rewritten
    unsupported: list[str] = field(default_factory=list)


def apply(
    env: MutableMapping[str, str], *, ours: set[str] | frozenset[str] = frozenset()
) -> Report:
    """Write Open WebUI's values under our names into ``env`` where ours are not set.

    ``ours`` are our own variable names (never reported as unsupported even where Open WebUI
    has one of the same name).
    """
    report = Report()
    originally_set = set(env)
    for name, mapping in MAPPED.items():
        if name not in env:
            continue
        if mapping.ours in originally_set:
            report.shadowed.append(name)
            continue
        value = mapping.value(env)
        if not value:  # unset in effect (an .env often carries empty lines like OPENAI_API_KEY=)
            continue
        if mapping.ours not in env:
            env[mapping.ours] = value
        report.read.append(name)
    for name, fix in VALUE_FIXES.items():
        if name in env:
            value = fix(env[name])
            if value != env[name]:
                env[name] = value
                report.fixed.append(name)
    known = set(known_names())
    report.unsupported = sorted(
        name for name in env.keys() & known if status_of(name) == "unsupported" and name not in ours
    )
    return report


def log_report(report: Report) -> None:
    if report.read:
        logger.info(
            "Read Open WebUI settings: %s.",
            ", ".join(f"{n} as {MAPPED[n].ours}" for n in report.read),
        )
    if report.fixed:
        logger.info("Read Open WebUI spellings of: %s.", ", ".join(report.fixed))
    if report.shadowed:
        logger.info(
            "Open WebUI settings not used because ours are set: %s.",
            ", ".join(f"{n} ({MAPPED[n].ours})" for n in report.shadowed),
        )
    if report.unsupported:
        logger.warning(
            "Open WebUI settings this server does not support (ignored; see "
            "docs/moving-from-open-webui.md): %s.",
            ", ".join(report.unsupported),
        )


def apply_to_process() -> Report:
    return apply(os.environ)


def markdown_table() -> str:
    """The tables of docs/moving-from-open-webui.md: every Open WebUI variable and its fate.

    Regenerate them with ``.venv/bin/python -c "from webui_backend.openwebui_env import
    markdown_table; print(markdown_table())"`` (a test checks the docs match)."""
    names = known_names()
    out = ["### Supported as is (the same name here)", "", "| variable | how |", "|---|---|"]
    out += [f"| `{n}` | {SAME[n]} |" for n in names if status_of(n) == "same"]
    out += ["", "### Mapped to ours", "", "| Open WebUI | ours | how |", "|---|---|---|"]
    out += [
        f"| `{n}` | `{MAPPED[n].ours}` | {MAPPED[n].note} |"
        for n in names
        if status_of(n) == "mapped"
    ]
    out += ["", "### Not Open WebUI's own settings (never warned about)", "", "| variable | what |"]
    out += ["|---|---|"]
    out += [f"| `{n}` | {NOT_SETTINGS[n]} |" for n in names if status_of(n) == "not_a_setting"]
    grouped: dict[str, list[str]] = {}
    for name in names:
        if status_of(name) == "unsupported":
            grouped.setdefault(unsupported_reason(name), []).append(name)
    out += ["", "### Not supported (named in the start-up warning when set)", ""]
    out += ["| why | variables |", "|---|---|"]
    out += [
        f"| {reason} | {', '.join(f'`{n}`' for n in group)} |" for reason, group in grouped.items()
    ]
    return "\n".join(out)
