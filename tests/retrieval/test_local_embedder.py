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
    # One session of one thread at this precision, whatever other tests loaded before.
    mine = [key for key in onnx._sessions if key[1] == first.precision and key[2] == 1]
    assert mine == [(first.path, first.precision, 1)]


def test_the_onnx_model_is_exported_once_into_the_cache_and_gives_torchs_vectors(
    settings: Any,
) -> None:
    texts = ["A short one.", "A longer sentence about retrieval and chunks " * 12, "x"]
    on_onnx = LocalEmbedder(
        "all-MiniLM-L6-v2", batch_size=2, runtime="onnx", precision="fp32"
    ).embed(texts)
    on_torch = LocalEmbedder("all-MiniLM-L6-v2", batch_size=2, runtime="torch").embed(texts)

    exported = [
        path
        for path in Path(settings.RAG_MODEL_CACHE_DIR).glob("model-*.onnx")
        if "-int8-" not in path.name
    ]
    assert len(exported) == 1
    assert onnx.model_file(local_model_path()) == exported[0]  # found again, not re-exported
    assert np.allclose(on_onnx, on_torch, atol=1e-4)  # the same vector space, either runtime


def test_the_int8_model_is_made_once_and_stays_close_to_fp32(settings: Any) -> None:
    texts = [
        "How do I cancel a running task?",
        "Celery workers acknowledge a task after it has run when acks_late is set.",
        "SQLite keeps the whole database in a single file on disk.",
    ]
    fp32 = LocalEmbedder("all-MiniLM-L6-v2", batch_size=8, precision="fp32").embed(texts)
    int8 = LocalEmbedder("all-MiniLM-L6-v2", batch_size=8, precision="int8").embed(texts)

    quantized = list(Path(settings.RAG_MODEL_CACHE_DIR).glob("model-*-int8-*.onnx"))
    assert len(quantized) == 1
    assert onnx.model_file(local_model_path(), "int8") == quantized[0]
    assert quantized[0].stat().st_size < onnx.model_file(local_model_path()).stat().st_size
    assert not np.allclose(int8, fp32, atol=1e-4)  # it is another model...
    assert np.all((int8 * fp32).sum(axis=1) > 0.85)  # ...whose vectors point the same way
    similarities = int8 @ int8.T
    assert similarities[0, 1] > similarities[0, 2]  # and rank as fp32's do


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


def test_passes_are_cut_by_rows_and_by_padded_tokens_shortest_first() -> None:
    lengths = [5, 300, 40, 6, 41, 7, 120]

    passes = onnx.batches(lengths, max_rows=3, max_tokens=128)

    assert sorted(i for picked in passes for i in picked) == list(range(len(lengths)))
    assert passes[0] == [0, 3, 5]  # the shortest together, cut at 3 rows
    for picked in passes:
        width = max(lengths[i] for i in picked)
        assert len(picked) <= 3
        assert len(picked) == 1 or len(picked) * width <= 128
    assert [1] in passes  # longer than the whole budget: it runs alone
    flat = [lengths[i] for picked in passes for i in picked]
    assert flat == sorted(flat)


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_a_texts_vector_does_not_depend_on_the_pass_it_ran_in(precision: str) -> None:
    texts = ["short", "a medium sentence about indexing " * 3, "long text " * 60, "mid " * 20]
    folder = local_model_path()
    shapes = {"threads": 1, "precision": precision}

    one_by_one = np.vstack(
        [onnx.embed(folder, [t], batch_size=1, batch_tokens=1, **shapes) for t in texts]
    )
    together = onnx.embed(folder, texts, batch_size=64, batch_tokens=100_000, **shapes)
    tight = onnx.embed(folder, texts, batch_size=64, batch_tokens=64, **shapes)

    assert np.allclose(together, one_by_one, atol=1e-5)  # in the order given, whatever the pass
    assert np.allclose(tight, one_by_one, atol=1e-5)
