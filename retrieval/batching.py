"""Chunks of several files embedded together: one forward pass at a time per process.

Indexing runs (the embedded server's job threads, or a worker's) hand their chunks to
``embed_batched``; one thread per embedder takes every request waiting, up to ``max_texts``
chunks, and embeds them in one call (the local runtime sorts them by length and runs batches
of RAG_EMBEDDING_BATCH_SIZE: little padding), then gives each run its rows back. So two files
being indexed at once share forward passes instead of each running a model on every core
(two thread pools fighting for the same cores), and many small files fill a batch together
instead of one pass each.
"""

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class _Request:
    texts: list[str]
    future: Future = field(default_factory=Future)


class Batcher:
    """One embedder's queue and the thread that drains it."""

    def __init__(self, embedder: Any, max_texts: int) -> None:
        self.embedder = embedder
        self.max_texts = max(1, max_texts)
        self.requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self.passes: list[int] = []  # how many requests each call carried (recent ones)
        thread = threading.Thread(target=self._loop, name="embedding-batcher", daemon=True)
        thread.start()

    def embed(self, texts: list[str]) -> np.ndarray:
        request = _Request(list(texts))
        self.requests.put(request)
        return request.future.result()

    def _loop(self) -> None:
        while True:
            taken = [self.requests.get()]
            count = len(taken[0].texts)
            while count < self.max_texts:
                try:
                    more = self.requests.get_nowait()
                except queue.Empty:
                    break
                taken.append(more)
                count += len(more.texts)
            self._run(taken)

    def _run(self, taken: list[_Request]) -> None:
        texts = [text for request in taken for text in request.texts]
        try:
            vectors = self.embedder.embed(texts)
        except BaseException as exc:  # every waiting run gets the error (e.g. unavailable)
            for request in taken:
                request.future.set_exception(exc)
            return
        self.passes = [*self.passes[-99:], len(taken)]
        start = 0
        for request in taken:
            end = start + len(request.texts)
            request.future.set_result(vectors[start:end])
            start = end


_batchers: dict[tuple[Any, ...], Batcher] = {}
_lock = threading.Lock()


def batcher_for(embedder: Any, max_texts: int) -> Batcher:
    """The process's batcher of this embedder (same model, runtime and threads: same one)."""
    key = (type(embedder).__name__, embedder.key, getattr(embedder, "threads", None), max_texts)
    key += (getattr(embedder, "runtime", None), getattr(embedder, "batch_size", None))
    key += (getattr(embedder, "precision", None),)
    with _lock:
        found = _batchers.get(key)
        if found is None:
            found = _batchers[key] = Batcher(embedder, max_texts)
    return found


def embed_batched(embedder: Any, texts: list[str], *, max_texts: int) -> np.ndarray:
    """``embedder.embed(texts)``, sharing forward passes with other runs of this process."""
    return batcher_for(embedder, max_texts).embed(texts)
