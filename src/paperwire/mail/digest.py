"""What goes into a digest.

- **Trending digest**: the papers at the top of the site's trending rank at the end of the
  period (the rank of /papers/trending), leaving out those the subscriber already got.
- **Topic alert**: the papers new in the period that match the saved query, by the same
  hybrid judgement as search: a paper counts when it holds every word of the query and is at
  least ``search_min_similarity`` close in meaning, or when it is ``alert_min_similarity``
  close on meaning alone. Excluded words (``-word``) exclude. Best first; each says why.

One :class:`Composer` serves a whole run: the trending rank is computed once per period end,
and each period's new papers are read, and their vectors stacked, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ..rank.trending import trending
from ..search import query as Q
from .schedule import Due


@dataclass
class Pick:
    paper_id: str
    why: str
    score: float


@dataclass
class _Window:
    ids: list[str]
    texts: list[str]  # title + abstract, lower case
    vectors: np.ndarray | None  # rows of ``ids`` (zeros where a paper has no vector)
    has_vector: np.ndarray | None


def _unit_pattern(unit: Q.Unit) -> re.Pattern:
    alts = []
    for words in unit.alternatives:
        alts.append(r"\W+".join(re.escape(Q.stem(w)) + r"\w*" for w in words))
    return re.compile(r"\b(?:" + "|".join(alts) + ")")


def embed_topic(engine, query: str | None) -> np.ndarray | None:
    """A topic alert's query as the model reads it, or None (no model, nothing to read)."""
    if engine is None or engine.embedder is None:
        return None
    semantic = Q.parse(query or "").semantic
    if not semantic:
        return None
    return np.asarray(engine.embedder.embed_query(semantic), dtype=np.float32)


@dataclass
class Composer:
    store: object
    config: object
    engine: object | None = None  # a SearchEngine; None: keyword matching only
    persist: bool = True  # keep embedded queries on their subscription (off in dry runs)
    _trending: dict = field(default_factory=dict)
    _windows: dict = field(default_factory=dict)

    # -- trending ------------------------------------------------------------------------
    def trending_ids(self, end: datetime) -> list[tuple[str, str]]:
        """(paper id, why) by trending rank as of ``end`` (cached per hour)."""
        key = end.replace(minute=0, second=0, microsecond=0)
        if key not in self._trending:
            ranked, _ = trending(self.store, now=end, until=end)
            picks = []
            for t in ranked:
                if t.score <= 0:
                    continue
                votes = "recent upvotes" if t.vote_points >= 0.05 else ""
                stars = f"+{t.star_growth} GitHub stars" if t.star_points >= 0.05 else ""
                if votes and stars:
                    why = (f"trending score {t.score:.1f}: {t.vote_points:.1f} from {votes}, "
                           f"{t.star_points:.1f} from {stars}")  # fmt: skip
                else:
                    source = votes or stars or "recent activity"
                    why = f"trending score {t.score:.1f}, from {source}"
                picks.append((t.paper_id, why))
            self._trending[key] = picks
        return self._trending[key]

    # -- topic alerts --------------------------------------------------------------------
    def window(self, start: datetime, end: datetime) -> _Window:
        key = (start, end)
        if key not in self._windows:
            rows = self.store.new_papers(start, end)
            ids = [r["id"] for r in rows]
            texts = [f"{r['title']}\n{r['abstract']}".lower() for r in rows]
            vectors = has = None
            engine = self.engine
            if engine is not None and engine.embedder is not None and rows:
                index = engine.index()
                missing = [r["id"] for r in rows if index.vector(r["seq"]) is None]
                if missing and self.persist:  # fetched since the last index run: embed now
                    engine.embed_papers(missing)
                    index = engine.index()
                vectors = np.zeros((len(rows), index.dim), dtype=np.float32)
                has = np.zeros(len(rows), dtype=bool)
                for i, r in enumerate(rows):
                    v = index.vector(r["seq"])
                    if v is not None:
                        vectors[i], has[i] = v, True
            self._windows[key] = _Window(ids, texts, vectors, has)
        return self._windows[key]

    def query_vector(self, sub: dict) -> np.ndarray | None:
        """The subscription's query embedded (stored on the subscription, made once)."""
        engine = self.engine
        if engine is None or engine.embedder is None:
            return None
        if sub.get("query_vector") and sub.get("query_model") == engine.model:
            return np.frombuffer(sub["query_vector"], dtype=np.float32)
        vec = embed_topic(engine, sub["query"])
        if vec is None:
            return None
        if self.persist:
            self.store.update_subscription(
                sub["id"], query_vector=vec.tobytes(), query_model=engine.model
            )
        sub["query_vector"], sub["query_model"] = vec.tobytes(), engine.model
        return vec

    def topic_matches(self, sub: dict, start: datetime, end: datetime) -> list[Pick]:
        w = self.window(start, end)
        if not w.ids:
            return []
        parsed = Q.parse(sub["query"] or "")
        units = [_unit_pattern(u) for u in parsed.units]
        excluded = [_unit_pattern(Q.Unit([e])) for e in parsed.excluded]
        qvec = self.query_vector(sub)
        loose = float(self.config.search_min_similarity)
        strict = float(self.config.alert_min_similarity)
        if qvec is not None and w.vectors is not None:
            sims = w.vectors @ qvec
            sims[~w.has_vector] = -1.0
            # Only papers close enough on some rule are worth reading (and those without a
            # vector yet, by their words).
            candidates = np.flatnonzero((sims >= min(loose, strict)) | ~w.has_vector).tolist()
        else:
            sims = None
            candidates = range(len(w.ids))
        picks = []
        for i in candidates:
            text = w.texts[i]
            if any(p.search(text) for p in excluded):
                continue
            matched = [u for u, p in zip(parsed.units, units, strict=True) if p.search(text)]
            every = bool(units) and len(matched) == len(units)
            sim = float(sims[i]) if sims is not None and w.has_vector[i] else None
            if sim is None:
                ok = every
            else:
                ok = (every and sim >= loose) or sim >= strict
            if not ok:
                continue
            why = []
            if matched:
                words = ", ".join(" ".join(u.alternatives[0]) for u in matched)
                why.append(f"matches {words}")
            if sim is not None:
                why.append(f"similarity {sim:.2f}")
            frac = len(matched) / len(units) if units else 0.0
            picks.append(Pick(w.ids[i], " · ".join(why), (sim or 0.0) + 0.1 * frac))
        picks.sort(key=lambda p: (-p.score, p.paper_id))
        return picks

    # -- one subscriber ------------------------------------------------------------------
    def compose(self, sub: dict, due: Due, already_sent: set[str]) -> list[Pick]:
        """The papers of this digest, best first; empty when there is nothing new."""
        size = int(self.config.digest_size)
        if sub["kind"] == "trending":
            out = []
            for pid, why in self.trending_ids(due.end):
                if pid not in already_sent:
                    out.append(Pick(pid, why, 0.0))
                    if len(out) == size:
                        break
            return out
        picks = self.topic_matches(sub, due.start, due.end)
        return [p for p in picks if p.paper_id not in already_sent][:size]
