"""What store tests share: how far the built-in sources are trusted (as registered through
the plugin hooks), for writing records directly."""

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
