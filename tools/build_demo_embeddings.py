"""Embed the bundled demo papers once and store the vectors beside them, so that
`paperwire demo` searches by meaning without a minute of embedding on first start.

    python tools/build_demo_embeddings.py

Writes src/paperwire/demo/data/demo-embeddings.npz: paper ids, float16 vectors and the model
key they were made with (the demo loader ignores them if the model key changed).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from paperwire import plugins  # noqa: E402
from paperwire.core.settings import SearchSettings  # noqa: E402
from paperwire.demo import load_demo  # noqa: E402
from paperwire.search import engine_for  # noqa: E402
from paperwire.store import Store  # noqa: E402

OUT = ROOT / "src/paperwire/demo/data/demo-embeddings.npz"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/demo.db")
        store.db.upgrade()
        load_demo(store, plugins.sources().trust, embeddings=False)
        vectors = engine_for(store, SearchSettings(), plugins.search_backends()).indexer()
        n = vectors.embed_missing()
        ids, vecs = [], []
        for _, seqs, block in store.embeddings.rows_after(vectors.model):
            names = store.papers.ids_of(seqs.tolist())
            ids.extend(names[int(s)] for s in seqs)
            vecs.append(block)
        np.savez_compressed(
            OUT,
            ids=np.array(ids),
            vectors=np.concatenate(vecs).astype(np.float16),
            model=np.array(vectors.model),
        )
        store.close()
    print(f"{n} papers embedded -> {OUT} ({OUT.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
