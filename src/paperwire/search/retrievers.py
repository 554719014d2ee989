"""What a search backend is: the keyword and vector retriever protocols, and the backends
plugins register (``register_search_backends``) with a factory for each.

The built-ins are ``database`` (:mod:`paperwire.search.keyword`) and ``vector-index``
(:mod:`paperwire.search.semantic`); a plugin may add, say, a Tantivy keyword retriever or an
HNSW vector index, chosen with the ``keyword_backend`` / ``vector_backend`` settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..core.errors import ConfigError
from ..core.query import ParsedQuery, SearchFilters
from ..core.settings import SearchSettings

if TYPE_CHECKING:
    from ..store import Store


class WordJudge(Protocol):
    """Which papers hold which words, as the keyword index judges it."""

    def holding_all(self, query: ParsedQuery, seqs: Sequence[int]) -> set[int]:
        """Which of ``seqs`` hold every unit of ``query`` and none of its excluded words."""
        ...

    def holding_any(self, phrases: list[list[str]], seqs: Sequence[int]) -> set[int]:
        """Which of ``seqs`` hold any of the ``phrases``."""
        ...


class KeywordRetriever(Protocol):
    """Papers by their words."""

    def retrieve(
        self, query: ParsedQuery, filters: SearchFilters, k: int
    ) -> tuple[list[tuple[int, float]], set[int]]:
        """The best ``k`` (seq, score) for ``query``, and which of them hold every unit.
        When no paper holds them all, papers holding some may be ranked instead."""
        ...

    def judge(self, seqs: Sequence[int] | None = None) -> WordJudge:
        """A judge of words for questions about ``seqs`` (None: any paper); it may prepare
        itself for those papers, as topic alerts ask many questions about one window."""
        ...

    def catch_up(self) -> object:
        """The stored papers changed: bring an index kept beside the store up to date now."""
        ...


class VectorRetriever(Protocol):
    """Papers by meaning: an embedding model and an index of stored paper vectors."""

    model: str  # key the vectors are stored under
    dim: int

    @property
    def problem(self) -> str | None:
        """Why the retriever cannot work here (model missing, …), as found so far."""
        ...

    def available(self) -> bool:
        """Whether it works here (it may load its model to find out)."""
        ...

    def embed_query(self, text: str) -> np.ndarray | None: ...

    def catch_up(self) -> None:
        """The stored data changed: bring the index up to date now."""
        ...

    def nearest(
        self, vector: np.ndarray, k: int, filters: SearchFilters | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(seqs, cosines) of the ``k`` closest papers the filters allow, best first."""
        ...

    def similarity(self, vector: np.ndarray, seqs: Sequence[int]) -> dict[int, float]:
        """Cosine of ``vector`` with each of ``seqs`` that has a vector."""
        ...

    def vector(self, seq: int) -> np.ndarray | None: ...

    def size(self) -> int:
        """How many papers have a vector."""
        ...

    def embed_seqs(self, seqs: Sequence[int]) -> int:
        """Embed these papers now (a new submission should be findable at once)."""
        ...

    def embed_missing(
        self,
        limit: int | None = None,
        batch: int = 256,
        progress: Callable[[int], None] | None = None,
        dry_run: bool = False,
        processes: int = 1,
    ) -> int:
        """Embed every paper that has no vector yet (in ``processes`` processes where the
        backend can); returns how many."""
        ...

    def save(self, rebuild: bool = False) -> Path | None:
        """Write the index so that the next process starts from it."""
        ...

    def describe(self) -> str:
        """A line for people: size and kind of the index."""
        ...

    def warm(self) -> None: ...


KeywordFactory = Callable[["Store", SearchSettings], KeywordRetriever]
VectorFactory = Callable[["Store", SearchSettings], VectorRetriever]


@dataclass(frozen=True)
class KeywordBackend:
    name: str
    description: str
    factory: KeywordFactory


@dataclass(frozen=True)
class VectorBackend:
    name: str
    description: str
    factory: VectorFactory


@dataclass
class SearchBackends:
    """The search backends plugins registered, by name."""

    keyword: dict[str, KeywordBackend] = field(default_factory=dict)
    vector: dict[str, VectorBackend] = field(default_factory=dict)

    def add(self, backend: KeywordBackend | VectorBackend) -> None:
        table: dict[str, Any] = self.keyword if isinstance(backend, KeywordBackend) else self.vector
        if backend.name in table:
            raise ConfigError(f"two search backends are called {backend.name!r}")
        table[backend.name] = backend

    def keyword_retriever(self, store: Store, settings: SearchSettings) -> KeywordRetriever:
        return self._pick(self.keyword, settings.keyword_backend, "keyword_backend").factory(
            store, settings
        )

    def vector_retriever(self, store: Store, settings: SearchSettings) -> VectorRetriever | None:
        if not settings.semantic_search:
            return None
        return self._pick(self.vector, settings.vector_backend, "vector_backend").factory(
            store, settings
        )

    @staticmethod
    def _pick(table: dict[str, Any], name: str, setting: str) -> Any:
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise ConfigError(f"{setting} is {name!r}, but the backends installed are: {known}")
        return table[name]
