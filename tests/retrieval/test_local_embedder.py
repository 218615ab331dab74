"""The local engine: the packaged model, offline, loaded once per process, normalized."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knowledge.models import File
from retrieval import onnx
from retrieval.embedders import LocalEmbedder, local_model_path
from retrieval.errors import EmbeddingUnavailable
from retrieval.indexing import Page, file_index
from users.models import User


def test_the_model_comes_from_the_installed_package() -> None:
    path = local_model_path()
    assert "site-packages" in str(path)
    assert (path / "model.safetensors").is_file()


def test_vectors_are_normalized_and_the_model_is_loaded_once() -> None:
    first = LocalEmbedder("all-MiniLM-L6-v2", batch_size=2, threads=1)
    second = LocalEmbedder("all-MiniLM-L6-v2", batch_size=8, threads=1)

    vectors = first.embed(["one", "two", "three"])
    again = second.embed(["one"])

    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], again[0], atol=1e-5)
    assert [key for key in onnx._sessions if key[1] == 1] == [(first.path, 1)]


def test_the_onnx_model_is_exported_once_into_the_cache_and_gives_torchs_vectors(
    settings: Any,
) -> None:
    texts = ["A short one.", "A longer sentence about retrieval and chunks " * 12, "x"]
    on_onnx = LocalEmbedder("all-MiniLM-L6-v2", batch_size=2, runtime="onnx").embed(texts)
    on_torch = LocalEmbedder("all-MiniLM-L6-v2", batch_size=2, runtime="torch").embed(texts)

    exported = list(Path(settings.RAG_MODEL_CACHE_DIR).glob("model-*.onnx"))
    assert len(exported) == 1
    assert onnx.model_file(local_model_path()) == exported[0]  # found again, not re-exported
    assert np.allclose(on_onnx, on_torch, atol=1e-4)  # the same vector space, either runtime


def test_a_query_embeds_on_one_thread_and_indexing_on_every_core(settings: Any) -> None:
    settings.RAG_EMBEDDING_THREADS = 1
    settings.RAG_INDEXING_THREADS = 0
    indexing = LocalEmbedder("all-MiniLM-L6-v2", batch_size=8)

    assert indexing.threads == (os.cpu_count() or 1)
    assert indexing.for_query().threads == 1
    assert indexing.for_query().key == indexing.key


def test_an_unknown_local_model_is_refused_clearly(
    owner: User, make_file: Callable[..., File], settings: Any
) -> None:
    settings.RAG_EMBEDDING_MODEL = "someone/model-from-the-hub"
    with pytest.raises(EmbeddingUnavailable, match="no model 'someone/model-from-the-hub'"):
        file_index(file=make_file(owner), pages=[Page("text")])
