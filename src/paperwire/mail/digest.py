"""What goes into a digest.

- **Trending digest**: the papers at the top of the site's trending rank at the end of the
  period (the rank of /papers/trending), leaving out those the subscriber already got.
- **Topic alert**: the papers new in the period that the same search would show: a paper
  counts when it holds every word of the query — as the keyword index judges it, exactly as
  for a search — or when it is ``alert_min_similarity`` close on meaning alone. Excluded
  words (``-word``) exclude. Closest in meaning first; each says why.
- **For you**: the papers new in the period ranked for the subscriber's account exactly as
  the site's For-you tab ranks (:mod:`paperwire.rank.foryou`, with the reader's signals
  gathered by :mod:`paperwire.rank.reader`): what they dismissed or liked stays out; each says
  which of their papers it is like. Nothing liked yet, or no search by meaning: no e-mail.

One :class:`Composer` serves a whole run: the trending rank is computed once per period end,
each period's new papers are read, and their vectors stacked, once, and one For-you model
(keeping the papers' terms) ranks for every reader, over the papers of all the run's For-you
windows laid out once (:meth:`Composer.prepare`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from ..core.display import short_date
from ..core.errors import ModelError
from ..core.models import Subscription
from ..core.query import SearchFilters, parse
from ..core.settings import DigestSettings
from ..rank import Ranker, Trend
from ..rank.foryou import ForYou
from ..rank.foryou_many import SharedPapers
from ..rank.reader import reader_inputs
from ..search import SearchEngine
from ..search.matcher import Matcher
from ..search.retrievers import WordJudge
from ..store import Store
from .schedule import Due

SHARED_MAX = 50_000  # papers a run's For-you windows may hold to be laid out together


@dataclass
class Pick:
    paper_id: str
    why: str
    score: float


@dataclass
class _Window:
    ids: list[str]
    seqs: list[int]
    texts: list[str]  # title + abstract
    vectors: np.ndarray | None  # rows of ``ids`` (zeros where a paper has no vector)
    has_vector: np.ndarray | None
    words: WordJudge  # which of these papers hold which words


def trend_reason(t: Trend) -> str:
    """Where a trending score comes from, in words."""
    if t.as_of is not None:  # a quiet instance's list, gone on with earlier activity
        then = trend_reason(replace(t, as_of=None)).replace("recent upvotes", "upvotes")
        # (which is why a lower score can come before it: the walkthrough read 1.0 above
        # 8.8 as a sorting fault)
        return f"{then}, as it stood on {short_date(t.as_of)} (papers active since come first)"
    votes = "recent upvotes" if t.vote_points >= 0.05 else ""
    stars = f"+{t.star_growth} GitHub stars" if t.star_points >= 0.05 else ""
    if votes and stars:
        return (
            f"trending score {t.score:.1f}: {t.vote_points:.1f} from {votes}, "
            f"{t.star_points:.1f} from {stars}"
        )
    return f"trending score {t.score:.1f}, from {votes or stars or 'recent activity'}"


@dataclass
class Composer:
    store: Store
    settings: DigestSettings
    ranker: Ranker
    engine: SearchEngine  # its keyword index judges words; its vectors (if any) meaning
    persist: bool = True  # keep embedded queries on their subscription (off in dry runs)
    _trending: dict[datetime, list[tuple[str, str]]] = field(default_factory=dict)
    _windows: dict[tuple[datetime, datetime], _Window] = field(default_factory=dict)
    foryou: ForYou | None = None  # made at first use
    _shared: dict[tuple[datetime, datetime], SharedPapers] = field(default_factory=dict)
    _all: SharedPapers | None = None  # the papers of every For-you window of the run
    _signals: dict[int, dict[str, list[str]]] = field(default_factory=dict)

    # -- trending ------------------------------------------------------------------------
    def trending_ids(self, end: datetime) -> list[tuple[str, str]]:
        """(paper id, why) by trending rank as of ``end`` (cached per hour)."""
        key = end.replace(minute=0, second=0, microsecond=0)
        if key not in self._trending:
            ranked, _ = self.ranker(self.store, now=end, until=end)
            self._trending[key] = [(t.paper_id, trend_reason(t)) for t in ranked if t.score > 0]
        return self._trending[key]

    # -- topic alerts --------------------------------------------------------------------
    def window(self, start: datetime, end: datetime) -> _Window:
        key = (start, end)
        if key not in self._windows:
            rows = self.store.mail.new_papers(start, end)
            vectors = has = None
            semantic = self.engine.semantic()
            if semantic is not None and rows:
                missing = [r.id for r in rows if semantic.vector(r.seq) is None]
                if missing and self.persist:
                    self.engine.embed_papers(missing)  # fetched since the last index run
                vectors = np.zeros((len(rows), semantic.dim), dtype=np.float32)
                has = np.zeros(len(rows), dtype=bool)
                for i, r in enumerate(rows):
                    v = semantic.vector(r.seq)
                    if v is not None:
                        vectors[i], has[i] = v, True
            self._windows[key] = _Window(
                [r.id for r in rows],
                [r.seq for r in rows],
                [f"{r.title}\n{r.abstract}" for r in rows],
                vectors,
                has,
                self.engine.words([r.seq for r in rows]),
            )
        return self._windows[key]

    def query_vector(self, sub: Subscription) -> np.ndarray | None:
        """The subscription's query embedded (stored on the subscription, made once)."""
        engine = self.engine
        if engine.semantic() is None:
            return None
        if sub.query_vector and sub.query_model == engine.model:
            return np.frombuffer(sub.query_vector, dtype=np.float32)
        vec = engine.embed_query(sub.query or "")
        if vec is None:
            return None
        if self.persist:
            self.store.mail.update_subscription(
                sub.id, query_vector=vec.tobytes(), query_model=engine.model
            )
        sub.query_vector, sub.query_model = vec.tobytes(), engine.model
        return vec

    def topic_matches(
        self, sub: Subscription, start: datetime, end: datetime, limit: int | None = None
    ) -> list[Pick]:
        """The period's papers the alert's query matches, closest first (``limit``: the
        first ones, the only ones explained)."""
        w = self.window(start, end)
        if not w.ids:
            return []
        parsed = parse(sub.query or "")
        qvec = self.query_vector(sub)
        strict = float(self.settings.alert_min_similarity)
        sims: np.ndarray | None = None
        if qvec is not None and w.vectors is not None and w.has_vector is not None:
            sims = w.vectors @ qvec
            sims[~w.has_vector] = -1.0
        # A search shows every paper holding all the words, however far in meaning (one
        # common word is far from most abstracts); meaning alone needs the stricter bar.
        every = w.words.holding_all(parsed, w.seqs) if parsed.units else set()
        close = set() if sims is None else set(np.flatnonzero(sims >= strict).tolist())
        candidates = [i for i, seq in enumerate(w.seqs) if seq in every or i in close]
        if parsed.author or parsed.category:
            # author:"…" or category:… in an alert: only their papers; with no words, every
            # one of them.
            if not parsed.units:
                candidates = list(range(len(w.ids)))
            theirs = self.store.search.allowed_among(
                [w.seqs[i] for i in candidates],
                SearchFilters(author=parsed.author, category=parsed.category),
            )
            candidates = [i for i in candidates if w.seqs[i] in theirs]
        if parsed.excluded and candidates:
            banned = w.words.holding_any(parsed.excluded, [w.seqs[i] for i in candidates])
            candidates = [i for i in candidates if w.seqs[i] not in banned]
        if not candidates:
            return []
        matcher = Matcher(parsed)

        def similarity(i: int) -> float | None:
            has = w.has_vector is not None and bool(w.has_vector[i])
            return float(sims[i]) if sims is not None and has else None

        def score(i: int) -> float:
            share = 1.0 if w.seqs[i] in every else matcher.share(w.texts[i])
            return (similarity(i) or 0.0) + 0.1 * share

        ranked = sorted(((score(i), w.ids[i], i) for i in candidates), key=lambda x: (-x[0], x[1]))
        picks = []
        for n, (value, paper_id, i) in enumerate(ranked):
            why = []
            if limit is None or n < limit:
                matched = matcher.explain(w.texts[i])
                why = [matched] if matched else []
                if (sim := similarity(i)) is not None:
                    why.append(f"similarity {sim:.2f}")
            picks.append(Pick(paper_id, " · ".join(why), value))
        return picks

    # -- For you -------------------------------------------------------------------------
    def for_you_model(self) -> ForYou | None:
        if self.foryou is None:
            vectors = self.engine.semantic()
            if vectors is None:
                return None
            self.foryou = ForYou(self.store, vectors)
        return self.foryou

    def prepare(self, due: list[tuple[Subscription, datetime, datetime]]) -> None:
        """Before composing a run's digests (subscription, window start, end): read the
        For-you readers' signals and topics together, and lay out the papers new in any of
        their windows once. The windows of a dozen time zones and two frequencies overlap
        (two dozen windows, most papers in many), and a liked paper's similarity to every
        paper is then computed once for the run instead of once per window. At most
        SHARED_MAX papers (a run catching up on weeks lays out window by window)."""
        mine = [(s, a, b) for s, a, b in due if s.kind == "foryou" and s.user_id]
        users = sorted({s.user_id for s, _, _ in mine if s.user_id})
        topics = self.store.readers.topics_of(users)
        for uid, signals in self.store.signals.signals_of(users).items():
            self._signals[uid] = {**signals, "topics": topics[uid]}
        model = self.for_you_model() if mine else None
        if model is None:
            return
        papers = self.store.mail.new_papers(min(a for _, a, _ in mine), max(b for _, _, b in mine))
        if len(papers) <= SHARED_MAX:
            try:
                self._all = SharedPapers(model, papers)
            except ModelError:  # a paper to embed and no model: each digest says so
                self._all = None

    def for_you(
        self, sub: Subscription, start: datetime, end: datetime, limit: int | None = None
    ) -> list[Pick]:
        """The period's new papers ranked for the subscriber's account, best first (the best
        ``limit``), each with its reason; raises ModelError when a paper needs embedding and
        the model cannot run."""
        model = self.for_you_model() if sub.user_id is not None else None
        if model is None or sub.user_id is None:
            return []
        w = self.window(start, end)  # (embeds the papers that have no vector yet)
        signals = self._signals.pop(sub.user_id, None)  # (read once: a retry reads anew)
        reader = reader_inputs(self.store, sub.user_id, w.ids, signals)
        if not reader.known or not reader.candidates:
            return []
        shared = self._all
        if shared is None or any(i not in shared.row for i in reader.candidates):
            # (a paper new since prepare(), or windows too wide to lay out together)
            if (start, end) not in self._shared:
                papers = self.store.mail.new_papers(start, end)
                self._shared[(start, end)] = SharedPapers(model, papers)
            shared = self._shared[(start, end)]
        ranked = shared.rank(
            reader.liked, reader.candidates, reader.disliked, limit, topics=reader.topics
        )
        # The rare words a paper shares with the liked one it is closest to, where nothing
        # else says why: as the tab's cards say it.
        picks = model.words_why(ranked.picks[:limit] if limit else ranked.picks, shared.texts)
        return [Pick(p.paper_id, p.reason or "", p.score) for p in picks]

    # -- one subscriber ------------------------------------------------------------------
    def compose(self, sub: Subscription, due: Due, already_sent: set[str]) -> list[Pick]:
        """The papers of this digest, best first; empty when there is nothing new."""
        size = int(self.settings.digest_size)
        if sub.kind == "trending":
            out = []
            for pid, why in self.trending_ids(due.end):
                if pid not in already_sent:
                    out.append(Pick(pid, why, 0.0))
                    if len(out) == size:
                        break
            return out
        if sub.kind == "foryou":  # ranked among all of the period's, as on the tab
            picks = self.for_you(sub, due.start, due.end, size + len(already_sent))
        else:
            picks = self.topic_matches(sub, due.start, due.end, size + len(already_sent))
        return [p for p in picks if p.paper_id not in already_sent][:size]
