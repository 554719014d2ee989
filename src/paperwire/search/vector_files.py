"""Vectors in and out of the store as plain files, so that embedding can happen elsewhere:
``vectors.npy`` (float32, one row per paper) with ``ids.txt`` (the arXiv ids, same order)
and ``meta.json`` (the model key and what the vectors must be); ``texts.jsonl`` holds the
texts exactly as the model reads them, for a machine with a GPU to embed.

A directory written by :func:`export_vectors` is read back by :func:`import_vectors`
(another store, another backend, a backup); one holding :func:`export_texts`'s texts plus a
``vectors.npy`` computed from them (and ``ids.txt``) is read the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import StoreError
from ..store import Store
from .model import paper_text
from .model_build import DIM, MODEL_NAME

VECTORS, IDS, META, TEXTS = "vectors.npy", "ids.txt", "meta.json", "texts.jsonl"
BATCH = 2000  # vectors stored per transaction on import


@dataclass(frozen=True)
class Imported:
    stored: int  # vectors stored (replacing older ones of the same papers)
    unknown: list[str]  # ids the store does not hold (left out)


def _meta(model_key: str, count: int, **extra: Any) -> dict[str, Any]:
    return {
        "model": model_key,
        "dim": DIM,
        "count": count,
        "embedder": f"sentence-transformers/{MODEL_NAME}",
        "how": "mean pooling over at most 256 tokens, L2-normalised, float32",
        "text": "title + '. ' + abstract, whitespace collapsed (texts.jsonl has it ready)",
        **extra,
    }


def export_vectors(store: Store, model_key: str, directory: Path) -> int:
    """Write every stored vector of ``model_key`` to ``directory``; how many."""
    directory.mkdir(parents=True, exist_ok=True)
    n = store.embeddings.state(model_key)[0]
    out = np.lib.format.open_memmap(directory / VECTORS, mode="w+", dtype="<f4", shape=(n, DIM))
    written = 0
    with (directory / IDS).open("w", encoding="utf-8") as ids:
        for batch_ids, vecs in store.embeddings.export_rows(model_key):
            take = min(len(batch_ids), n - written)  # vectors stored while exporting: left out
            out[written : written + take] = vecs[:take]
            ids.writelines(f"{pid}\n" for pid in batch_ids[:take])
            written += take
            if written == n:
                break
    out.flush()
    del out
    (directory / META).write_text(json.dumps(_meta(model_key, written), indent=2) + "\n")
    return written


def export_texts(store: Store, model_key: str, directory: Path, missing_only: bool) -> int:
    """Write the texts the model reads (every paper's, or only those without a vector) as
    JSON lines ``{"id", "text"}``, with the ``meta.json`` the vectors must come back with."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    with (directory / TEXTS).open("w", encoding="utf-8") as out:
        for p in store.embeddings.texts(model_key, missing_only):
            text = paper_text(p.title, p.abstract)
            out.write(json.dumps({"id": p.id, "text": text}, ensure_ascii=False) + "\n")
            count += 1
    (directory / META).write_text(json.dumps(_meta(model_key, count), indent=2) + "\n")
    return count


def import_vectors(
    store: Store,
    model_key: str,
    directory: Path,
    progress: Callable[[int], None] | None = None,
) -> Imported:
    """Store the vectors of ``directory`` under ``model_key``. Refused (StoreError, nothing
    stored) when the files are missing, disagree, or were made for another model."""
    meta = _read_meta(directory)
    if meta.get("model") != model_key:
        raise StoreError(
            f"{directory / META} names the model {meta.get('model')!r}; this site embeds with "
            f"{model_key!r}: vectors of another model cannot be searched together"
        )
    try:  # no pickles: a file from elsewhere runs no code
        vecs = np.load(directory / VECTORS, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {directory / VECTORS}: {exc}") from None
    if vecs.ndim != 2 or vecs.shape[1] != DIM or vecs.dtype.kind != "f":
        raise StoreError(f"{VECTORS} must hold float rows of {DIM}, not {vecs.dtype} {vecs.shape}")
    try:
        ids = (directory / IDS).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read {directory / IDS}: {exc}") from None
    if len(ids) != len(vecs):
        raise StoreError(f"{IDS} names {len(ids)} papers but {VECTORS} holds {len(vecs)} rows")
    for start in range(0, len(ids), BATCH):  # every row checked before any is stored
        norms = np.linalg.norm(np.asarray(vecs[start : start + BATCH], dtype="<f4"), axis=1)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise StoreError(f"{VECTORS} rows {start}..{start + len(norms)} hold a zero or NaN")
    seqs = store.embeddings.seqs_of(ids)
    unknown = [pid for pid in ids if pid not in seqs]
    stored = 0
    for start in range(0, len(ids), BATCH):
        chunk = np.asarray(vecs[start : start + BATCH], dtype="<f4")
        norms = np.linalg.norm(chunk, axis=1)
        # unit length, as searched; rows that are already so are kept to the bit
        chunk = chunk / np.where(np.abs(norms - 1) > 1e-5, norms, 1.0).astype("<f4")[:, None]
        rows = [
            (seqs[pid], vec)
            for pid, vec in zip(ids[start : start + BATCH], chunk, strict=True)
            if pid in seqs
        ]
        stored += store.embeddings.save(model_key, rows)
        if progress:
            progress(len(chunk))
    return Imported(stored, unknown)


def _read_meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {directory / META}: {exc}") from None
    if not isinstance(meta, dict):
        raise StoreError(f"{directory / META} is not a JSON object")
    return meta
