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

from paperwire.demo import load_demo  # noqa: E402
from paperwire.search.engine import SearchEngine  # noqa: E402
from paperwire.store import Store  # noqa: E402

OUT = ROOT / "src/paperwire/demo/data/demo-embeddings.npz"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/demo.db")
        store.upgrade()
        load_demo(store, embeddings=False)
        engine = SearchEngine(store, None)
        n = engine.embed_missing()
        ids, vecs = [], []
        for _, seqs, block in store.iter_embeddings(engine.model):
            names = store.seq_ids(seqs.tolist())
            ids.extend(names[int(s)] for s in seqs)
            vecs.append(block)
        np.savez_compressed(
            OUT,
            ids=np.array(ids),
            vectors=np.concatenate(vecs).astype(np.float16),
            model=np.array(engine.model),
        )
        store.close()
    print(f"{n} papers embedded -> {OUT} ({OUT.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
