"""What the benchmarks share: the source tree on the path, the trust of the records they
write (the built-in sources', plus ``bench`` for synthetic ones), the built-in search engine,
and writing figures as JSON beside the printed ones, so that runs can be compared."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from paperwire import plugins  # noqa: E402
from paperwire.core.settings import SearchSettings  # noqa: E402
from paperwire.search import SearchEngine  # noqa: E402
from paperwire.search.keyword import DatabaseKeywords  # noqa: E402
from paperwire.search.retrievers import KeywordRetriever  # noqa: E402
from paperwire.search.semantic import IndexVectors  # noqa: E402
from paperwire.store import Store  # noqa: E402

# ../shared beside the checkout, or PAPERWIRE_SHARED (a git worktree elsewhere)
SHARED = Path(os.environ.get("PAPERWIRE_SHARED") or HERE.parents[1] / "shared")
TRUST = {**plugins.sources().trust, "bench": 0}  # "bench": records made up by a benchmark


def engine(
    store: Store,
    index_dir: Path | None = None,
    refresh_seconds: float = 2.0,
    window: int = SearchSettings().search_rank_window,
    keywords: str = "database",
) -> SearchEngine:
    """The built-in engine (database keywords, vector index) with default settings;
    ``window``: the keyword side's ranking window (0: rank every match); ``keywords``
    "tantivy": the Tantivy index beside the store (built first when there is none)."""
    keyword: KeywordRetriever = DatabaseKeywords(store, window)
    if keywords == "tantivy":
        from paperwire.search.tantivy_keywords import TantivyKeywords, words_dir_for

        keyword = TantivyKeywords(store, words_dir_for(SearchSettings(), store), keyword)
        t = time.perf_counter()
        print(keyword.update(), f"({time.perf_counter() - t:.1f} s)")
    return SearchEngine(
        store, keyword, IndexVectors(store, index_dir, refresh_seconds=refresh_seconds)
    )


def write_json(name: str, figures: dict[str, Any], path: str | Path | None = None) -> Path:
    """Write ``figures`` to ``path`` (default: bench/results/NAME-TIMESTAMP.json)."""
    out = Path(path) if path else HERE / "results" / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "figures": figures,
    }
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"figures written to {out}")
    return out


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
