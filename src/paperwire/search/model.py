"""The embedding model at work: all-MiniLM-L6-v2 run by onnxruntime (no torch), with
sentence-transformers' mean pooling and L2 normalisation done in numpy. The graph it runs is
built once per machine by :mod:`paperwire.search.model_build`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from .model_build import (
    DIM,
    INSTALL_RUNTIME,
    default_cache_dir,
    ensure_onnx,
    model_key,
    package_dir,
)


def paper_text(title: str, abstract: str) -> str:
    """What the model reads for a paper."""
    title = " ".join((title or "").split())
    abstract = " ".join((abstract or "").split())
    return f"{title}. {abstract}" if abstract else title


class Embedder:
    """Sentence embeddings (unit-length float32, 384-d) for queries and papers."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        threads: int = 0,
        max_tokens: int = 256,
        quantize: bool = True,
        spin: bool = False,
    ):
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelError(f"search by meaning needs {exc.name}: {INSTALL_RUNTIME}") from None
        self.key = model_key(quantize)
        self.dim = DIM
        self.max_tokens = max_tokens
        path = ensure_onnx(cache_dir, quantize)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        # After a run ORT's threads spin waiting for more work: good for bulk embedding
        # (83 vs 63 abstracts/s), bad for queries, whose vector search then finds the cores
        # busy (measured 3 → 9 ms). Only `paperwire index` spins.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self._session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(package_dir() / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._session.run(["hidden"], {"input_ids": ids, "attention_mask": mask})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed(
        self,
        texts: Sequence[str],
        batch_size: int = 1,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed ``texts``. One text per run by default: int8 dynamic quantisation scales
        activations per run, so in a batch a text's vector would depend on its neighbours
        (and padding); alone it is the same vector a query gets, and it is as fast on two
        cores (measured 28 vs 28 texts/s at batch 1 and 32). Larger batches are formed from
        texts of similar length."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._run([texts[i] or " " for i in idx])
            if progress:
                progress(len(idx))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self._run([text or " "])[0]


_shared: dict[tuple, Embedder] = {}
_shared_lock = threading.Lock()


def shared_embedder(
    cache_dir: Path | None = None, quantize: bool = True, spin: bool = False
) -> Embedder:
    """One embedder per process, model file and use: the ONNX session is thread-safe, and
    loading it costs a few hundred milliseconds."""
    key = (str(cache_dir or default_cache_dir()), quantize, spin)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Embedder(cache_dir=cache_dir, quantize=quantize, spin=spin)
        return _shared[key]
