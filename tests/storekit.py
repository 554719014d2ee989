"""What store tests share: how far the built-in sources are trusted (as registered through
the plugin hooks), for writing records directly."""

import threading

from paperwire import plugins

TRUST = plugins.sources().trust


def search_engine(store, index_dir=None, *, embedder=None, refresh_seconds=2.0, semantic=True):
    """The built-in engine: the database's keyword index and, unless ``semantic`` is off,
    the vector index (``embedder``: a shared test model, to build it once per run)."""
    from paperwire.search import SearchEngine
    from paperwire.search.keyword import DatabaseKeywords
    from paperwire.search.semantic import IndexVectors

    vectors = (
        IndexVectors(store, index_dir, embedder=embedder, refresh_seconds=refresh_seconds)
        if semantic
        else None
    )
    return SearchEngine(store, DatabaseKeywords(store), vectors)


def site_engine(store, settings):
    """The engine a site with these settings builds (from the registered backends)."""
    from paperwire.search import engine_for

    return engine_for(store, settings.search, plugins.search_backends())


def trending_ranker():
    return plugins.rankers().get("trending")


class MemoEmbedder:
    """The real embedder, remembering each text's vector for the whole test run: fixtures
    that embed the same papers for every test pay for the model once."""

    def __init__(self, embedder):
        self._embedder = embedder
        self.key, self.dim = embedder.key, embedder.dim
        self._seen: dict[str, object] = {}

    def embed(self, texts, batch_size=1, progress=None):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if missing:
            for text, vec in zip(missing, self._embedder.embed(missing), strict=True):
                self._seen[text] = vec
        if progress:
            progress(len(texts))
        return np.stack([self._seen[t] for t in texts]) if texts else self._embedder.embed([])

    def embed_query(self, text):
        return self._embedder.embed_query(text)


def race(work, users: list[int], threads: int) -> None:
    """``work(uid)`` for every user, from ``threads`` threads released at once (each takes
    every threads-th user); any exception in a thread fails the caller."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(chunk: list[int]) -> None:
        try:
            barrier.wait()
            for uid in chunk:
                work(uid)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(users[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
