"""Search: hybrid keyword + semantic retrieval over every indexed paper, similar papers, and
the word matcher shared by search results and topic alerts.

``engine_for(store, settings.search, backends)`` builds the engine from the registered
backends (:mod:`.retrievers`); the built-ins are :mod:`.keyword` and :mod:`.semantic`.
"""

from __future__ import annotations

from .engine import MODES, SORTS, SearchEngine, SearchResult, engine_for
from .fusion import Hit, Tuning

__all__ = ["MODES", "SORTS", "Hit", "SearchEngine", "SearchResult", "Tuning", "engine_for"]
