"""The local engine: the packaged model, offline, loaded once per process, normalized."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from knowledge.models import File
from retrieval import embedders
from retrieval.embedders import LocalEmbedder, local_model_path
from retrieval.errors import EmbeddingUnavailable
from retrieval.indexing import Page, file_index
from users.models import User


def test_the_model_comes_from_the_installed_package() -> None:
    path = local_model_path()
    assert "site-packages" in str(path)
    assert (path / "model.safetensors").is_file()


def test_vectors_are_normalized_and_the_model_is_loaded_once() -> None:
    first = LocalEmbedder("all-MiniLM-L6-v2", batch_size=2)
    second = LocalEmbedder("all-MiniLM-L6-v2", batch_size=8)

    vectors = first.embed(["one", "two", "three"])
    again = second.embed(["one"])

    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], again[0], atol=1e-5)
    assert len(embedders._models) == 1


def test_an_unknown_local_model_is_refused_clearly(
    owner: User, make_file: Callable[..., File], settings: Any
) -> None:
    settings.RAG_EMBEDDING_MODEL = "someone/model-from-the-hub"
    with pytest.raises(EmbeddingUnavailable, match="no model 'someone/model-from-the-hub'"):
        file_index(file=make_file(owner), pages=[Page("text")])
