"""Chunks of files indexed at the same time share forward passes (retrieval/batching.py)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from retrieval.batching import Batcher
from retrieval.errors import EmbeddingUnavailable


class GatedModel:
    """A model stand-in that records each call's texts; the first call waits for a gate, so
    that requests pile up behind it as they do behind a long forward pass."""

    key = "test:gated"

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.fail = fail

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.gate.wait(10)
        if self.fail and len(self.calls) > 1:
            raise EmbeddingUnavailable("down")
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


def _wait_for(predicate, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    event = threading.Event()
    while not predicate() and not event.wait(0.01):
        timeout -= 0.01
        assert timeout > 0


def test_requests_waiting_behind_a_pass_go_together_and_each_gets_its_rows() -> None:
    model = GatedModel()
    batcher = Batcher(model, max_texts=100)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(batcher.embed, ["a"])
        _wait_for(lambda: len(model.calls) == 1)
        second = pool.submit(batcher.embed, ["bb", "bbb"])
        third = pool.submit(batcher.embed, ["cccc"])
        _wait_for(lambda: batcher.requests.qsize() == 2)
        model.gate.set()
        results = [first.result(10), second.result(10), third.result(10)]

    assert model.calls == [["a"], ["bb", "bbb", "cccc"]]  # two files' chunks in one pass
    assert [r[:, 0].tolist() for r in results] == [[1.0], [2.0, 3.0], [4.0]]


def test_a_pass_stops_taking_requests_once_it_holds_max_texts_and_the_rest_follow() -> None:
    model = GatedModel()
    batcher = Batcher(model, max_texts=3)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.embed, ["a"])
        _wait_for(lambda: len(model.calls) == 1)
        rest = [pool.submit(batcher.embed, [f"{i}x", f"{i}y"]) for i in range(3)]
        _wait_for(lambda: batcher.requests.qsize() == 3)
        model.gate.set()
        first.result(10)
        for future in rest:
            assert future.result(10).shape == (2, 2)

    assert [len(call) for call in model.calls] == [1, 4, 2]


def test_an_error_reaches_every_run_of_the_pass_and_the_batcher_goes_on() -> None:
    model = GatedModel(fail=True)
    batcher = Batcher(model, max_texts=100)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(batcher.embed, ["a"])
        _wait_for(lambda: len(model.calls) == 1)
        failing = [pool.submit(batcher.embed, ["b"]), pool.submit(batcher.embed, ["c"])]
        _wait_for(lambda: batcher.requests.qsize() == 2)
        model.gate.set()
        assert first.result(10).shape == (1, 2)
        for future in failing:
            with pytest.raises(EmbeddingUnavailable):
                future.result(10)
    model.fail = False
    assert batcher.embed(["d"]).shape == (1, 2)
