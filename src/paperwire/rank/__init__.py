"""Ranking the feed: rankers registered through the ``register_rankers`` hook (the built-in
is :mod:`.trending`, the documented trending formula); the ``trending_ranker`` setting picks
the one behind /papers/trending, its API and Atom feed, and trending digests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..core.errors import ConfigError
from ..store import Store


@dataclass(frozen=True)
class Trend:
    """One paper's place in a ranking, with where its score comes from."""

    paper_id: str
    score: float
    vote_points: float = 0.0
    star_points: float = 0.0
    star_growth: int = 0
    # Set when a quiet instance's list went on with earlier activity: the moment this paper
    # was ranked for, instead of the ranking's own.
    as_of: datetime | None = None


Ranking = tuple[list[Trend], datetime]  # best first, and the moment ranked for
RankFunction = Callable[..., Ranking]  # (store, now=None, until=None) -> Ranking


@dataclass(frozen=True)
class Ranker:
    """A named ranking: ``rank(store, now=None, until=None)`` ranks the feed as of ``now``
    (default: the present, or the last activity of an idle instance); with ``until``, what
    happened after it is left out (the rank as it was)."""

    name: str
    description: str
    rank: RankFunction

    def __call__(
        self, store: Store, now: datetime | None = None, until: datetime | None = None
    ) -> Ranking:
        return self.rank(store, now=now, until=until)


@dataclass
class Rankers:
    """The rankers plugins registered, by name."""

    by_name: dict[str, Ranker] = field(default_factory=dict)

    def add(self, ranker: Ranker) -> None:
        if ranker.name in self.by_name:
            raise ConfigError(f"two rankers are called {ranker.name!r}")
        self.by_name[ranker.name] = ranker

    def get(self, name: str) -> Ranker:
        if name not in self.by_name:
            known = ", ".join(sorted(self.by_name)) or "none"
            raise ConfigError(
                f"trending_ranker is {name!r}, but the rankers installed are: {known}"
            )
        return self.by_name[name]
