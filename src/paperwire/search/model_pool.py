"""Bulk embedding in several processes: one single-threaded model per core, each text
embedded alone as :meth:`Embedder.embed` does, so the vectors are the very same bytes.

On two cores, two processes of one thread each embedded SciFact abstracts 17 % faster than
one process of two threads (83 vs 71 texts/s): a text alone is too small a piece of work
for two threads to share well.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType

import numpy as np

from ..core.errors import ModelError
from .model import Embedder
from .model_build import DIM

_worker: Embedder | None = None


def _start(cache_dir: Path | None, quantize: bool) -> None:
    global _worker
    _worker = Embedder(cache_dir=cache_dir, threads=1, quantize=quantize, spin=True)


def _embed(texts: list[str]) -> np.ndarray:
    assert _worker is not None, "the process was not started by EmbedderPool"
    return _worker.embed(texts)


def default_processes(texts: int, cores: int | None = None) -> int:
    """Processes worth starting for ``texts`` texts: one per core, unless there are too few
    texts for a process's start (about a second, loading the model) to pay off."""
    cores = cores or len(os.sched_getaffinity(0))
    return max(1, min(cores, texts // 500))


class EmbedderPool:
    """``processes`` model processes (started now, stopped by :meth:`close`); ``embed``
    shares the texts out among them. Same interface as :class:`Embedder` for bulk work."""

    def __init__(self, processes: int, cache_dir: Path | None = None, quantize: bool = True):
        self.processes = processes
        # spawn, not fork: a forked copy of a process holding onnxruntime's or the
        # database driver's threads and locks may hang
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(cache_dir, quantize),
        )

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Vectors of ``texts`` in order. Each process gets every n-th text by length, so
        they have the same work and finish together."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = [order[k :: self.processes] for k in range(self.processes)]
        futures: dict[Future[np.ndarray], list[int]] = {
            self._pool.submit(_embed, [texts[i] for i in part]): part for part in parts if part
        }
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                try:
                    out[futures[f]] = f.result()
                except BrokenProcessPool as exc:  # killed (out of memory?) or failed to start
                    raise ModelError(f"a model process stopped: {exc}") from None
                if progress:
                    progress(len(futures[f]))
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> EmbedderPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
