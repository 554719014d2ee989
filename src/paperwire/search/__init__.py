"""Search: the embedding model, the vector index, hybrid keyword + semantic search."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .engine import SearchEngine, SearchResult, Tuning

__all__ = ["SearchEngine", "SearchResult", "Tuning", "engine_for", "index_dir_for"]


def index_dir_for(config, store) -> Path:
    """Where this deployment keeps its vector index snapshot."""
    if config.index_dir:
        return Path(config.index_dir)
    if store.sqlite_path is not None:
        return store.sqlite_path.with_name(store.sqlite_path.name + ".index")
    from .model import default_cache_dir

    digest = hashlib.sha256(store.url.encode()).hexdigest()[:12]
    return default_cache_dir().parent / "index" / digest


def engine_for(config, store) -> SearchEngine:
    return SearchEngine(
        store,
        index_dir_for(config, store),
        semantic=config.semantic_search,
        model_cache=Path(config.model_cache_dir) if config.model_cache_dir else None,
        ann_threshold=config.ann_threshold,
        nprobe=config.ann_nprobe,
        tuning=Tuning(
            candidates=config.search_candidates, min_similarity=config.search_min_similarity
        ),
    )
