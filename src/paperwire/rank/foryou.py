"""For you: one reader's candidate papers ranked by the papers they liked (and disliked), from
the stored embeddings and the papers' words, each with the liked paper it is most like (the
reason a card shows).

The model (chosen on the recs-dev benchmark, bench/recs.py; README "For you ranking"): a
candidate's score adds three standardised parts, a soft maximum of its cosine similarities to
the liked papers' embeddings and the same over tf-idf vectors of the words (unigrams and
bigrams; idf from the newest papers, raised to the power 1.5) and of the words' character
4-grams (case kept, at half weight), so that a paper very like one liked paper beats one
vaguely like all, and a reader's own terms (a method's name, a data set, the way they write
it) count. Disliked papers subtract the same parts, weighted, and so, as the negatives of a
Rocchio classifier, does the likeness to the mean of the papers the store added before the
feed (what the reader saw those days). Pure numpy, per call: nothing is trained ahead, so
feedback counts from the next ranking. README "For you ranking" has the figures on recs-dev
(arxiv-sanity-lite's tf-idf + LinearSVC 0.292).

Topics a reader describes in their own words (the cold start, and a part of the ranking
after it) add a third part of the same shape: the soft maximum of a candidate's similarity
to the topics' query embeddings (as search by meaning embeds a query), plus the same over
the topics' words, standardised and weighted like the liked papers' part. A card's reason is
the liked paper it is most like, or the topic when that part explains it better.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from ..core.errors import ModelError
from ..core.models import PaperText
from ..store import Store
from .links import common_keys, paper_keys

# English function words (and arXiv boilerplate) that say nothing about a subject.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how however
    i if in into is it its itself just me more most my myself no nor not now of off on once
    only or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through thus to too under
    until up very via was we were what when where which while who whom why will with would
    you your yours yourself yourselves""".split()
)
_WORD = re.compile(r"(?u)\b\w\w+\b")
BUCKETS = 1 << 22  # hashed term space (crc32 of the term)
TOPIC_CACHE = 10_000  # topics whose query embedding a ForYou keeps
TERM_CACHE = 20_000  # papers whose terms a ForYou keeps (a day's candidates, many readers)
PHRASE_CACHE = 4_096  # papers whose rare words a ForYou keeps for reasons (a digest's)
IDF_SAMPLE = 20_000  # the newest papers, whose words give the idf
BACKGROUND = 256  # papers listed before the candidates: what the reader's feed usually holds
BACKGROUND_CACHE = 32  # backgrounds a ForYou keeps (by the feed's first paper; a digest run
# ranks the windows of two dozen time zones and frequencies, each with its own)
LAYOUTS = 4  # candidate sets a ForYou keeps laid out by term (a day's feed, many readers)
LAYOUT_SPARE = 4  # a kept set serves candidates at least a quarter (1/this) of its size
MAX_DF = 0.1  # terms in more of those papers than this share count for nothing
LINK_MAX_SHARE = 0.01  # links (rank.links) in more of those papers than this say nothing,
LINK_FLOOR = 20  # ... nor in more than this many (a small site: 20 of its papers)
GRAM_MAX_DF = 0.2  # the same for character 4-grams
IDF_POWER = 1.5  # idf raised to this: a reader's rarest words (a method's name) count more
GRAM = 4  # characters in a gram
_MIX = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F], np.uint64)
_ASCII_WORD = np.array([chr(c).isalnum() or c == 95 for c in range(128)])


class Vectors(Protocol):
    """What the model needs of the search layer's vector retriever (rank may not import
    search: the engine's ``semantic()`` is passed in)."""

    @property
    def problem(self) -> str | None: ...

    def available(self) -> bool: ...

    def vector(self, seq: int) -> np.ndarray | None: ...

    def embed_query(self, text: str) -> np.ndarray | None: ...

    def embed_seqs(self, seqs: Sequence[int]) -> int: ...

    def catch_up(self) -> None: ...


@dataclass(frozen=True)
class Tuning:
    """The model's constants (their values: the best on recs-dev)."""

    tau: float = 0.05  # temperature of the soft maxima over liked (and disliked) papers
    word_tau: float = 0.03  # the same over the words' similarities (smaller: sharper)
    words: float = 1.0  # weight of the words' part beside the embeddings' (1)
    grams: float = 0.5  # weight of the character 4-grams' part
    gram_tau: float = 0.02  # temperature of its soft maxima
    disliked: float = 0.5  # weight of the disliked papers' parts
    background: float = 0.3  # weight of the likeness to the papers listed before (subtracted)
    topics: float = 1.0  # weight of the reader's topics' part beside the liked papers' (1)
    # Added for a candidate that links a code-host account or a site that one of the liked
    # papers links too (rank.links): most often the same group's new work. The other parts
    # are standardised sums of a few units, so this puts those candidates first, in their
    # own order. recs-dev nDCG@10: 5 → 0.351, 8 → 0.353, 12 → 0.357, 30 → 0.358 (0 → 0.339).
    links: float = 12.0
    # A card names the liked paper (or topic) it is most like only when it is like it: a
    # cosine of the embeddings at least this. Two random papers of the demo's 4,000 (mostly
    # machine learning) have a median cosine of 0.34 with this model, 0.51 at the 90th
    # percentile; a paper's nearest neighbour, 0.71 (median); two crowd-counting papers
    # 0.54, crop labels and Gaussian splatting 0.39. A short topic's query embedding
    # reaches 0.3 for about the top 1 % of papers, 0.45 for the closest.
    reason_cosine: float = 0.5
    reason_topic_cosine: float = 0.3


@dataclass(frozen=True)
class Pick:
    """A candidate's place: its score and why (the liked paper it is most like, or the
    reader's topic it is about)."""

    paper_id: str
    score: float
    because: str | None = None  # the liked paper's id (None: nothing liked yet)
    because_title: str | None = None
    because_topic: str | None = None  # the topic, when it explains the paper better
    because_link: str | None = None  # the account or site it links, as the liked paper does
    closest: str | None = None  # the liked paper it is most like, even when not much
    because_words: tuple[str, ...] = ()  # rare words it shares with that paper (see words_why)

    @property
    def reason(self) -> str | None:
        """Why, in words (a card's or a digest's line)."""
        if self.because_words:
            shared = ", ".join(f"“{w}”" for w in self.because_words)
            return f"shares {shared} with “{self.because_title}”, one of yours"
        if self.because_link:
            return f"links {self.because_link}, like “{self.because_title}”, one of yours"
        if self.because_topic:
            return f"about “{self.because_topic}”, one of your topics"
        if self.because_title:
            return f"like “{self.because_title}”, one of yours"
        return None


@dataclass(frozen=True)
class Ranked:
    picks: list[Pick]  # every known candidate, best first
    unknown: list[str]  # ids given (liked, disliked or candidates) that the store lacks


def soft_max(sims: np.ndarray, tau: float) -> np.ndarray:
    """Per row, a smooth maximum of the similarities: tau·log Σ exp(s/tau) (the largest
    dominates; several close ones add a little)."""
    top = sims.max(axis=1, keepdims=True)
    return np.asarray(top[:, 0] + tau * np.log(np.exp((sims - top) / tau).sum(axis=1)))


def standardised(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit deviation across the candidates (all zeros when they are equal)."""
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


def term_counts(text: str) -> Counter[str]:
    """A text's words and word pairs, stop words left out, with their counts."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
    counts = Counter(words)
    counts.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return counts


def term_ids(found: Iterable[str]) -> np.ndarray:
    """Terms as their hashed ids."""
    return np.array([zlib.crc32(t.encode()) % BUCKETS for t in found], np.int64)


def terms(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(hashed term ids, counts) of a text's words and word pairs, stop words left out."""
    counts = term_counts(text)
    ids = np.fromiter((zlib.crc32(t.encode()) % BUCKETS for t in counts), np.int64, len(counts))
    n = np.fromiter(counts.values(), np.float64, len(counts))
    return ids, n


def grams(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(hashed ids, counts) of the text's character 4-grams within words, case kept: each
    word (letters, digits, ``_``) padded with a space at both ends, as scikit-learn's
    ``char_wb`` analyser does, so "Splatting" gives " Spl", "Spla", …, "ing "; a word of
    two or three characters gives one or two grams, a word of one none."""
    cp = np.frombuffer(f" {text} ".encode("utf-32-le"), np.uint32).astype(np.uint64)
    if len(cp) < GRAM:
        return np.zeros(0, np.int64), np.zeros(0)
    word = np.where(cp < 128, _ASCII_WORD[np.minimum(cp, 127)], True)
    other = [c for c in np.unique(cp[cp >= 128]).tolist() if not chr(c).isalnum()]
    if other:
        word &= ~np.isin(cp, other)
    cp = np.where(word, cp, 32)  # any other character is a word's end: a space
    m = len(cp) - GRAM + 1
    inner = word[1 : m + 1] & word[2 : m + 2]  # the middle two are in one word
    h = sum((cp[j : j + m] * _MIX[j] for j in range(GRAM)), np.zeros(m, np.uint64))
    h = ((h * np.uint64(0x165667B1)) & np.uint64(0xFFFFFFFF)) >> np.uint64(10)
    ids, n = np.unique((h[inner] % BUCKETS).astype(np.int64), return_counts=True)
    return ids, n.astype(np.float64)


@dataclass(frozen=True)
class DocumentFrequencies:
    """In how many of ``docs`` sample papers each hashed term occurs (sorted term ids)."""

    terms: np.ndarray
    counts: np.ndarray
    docs: int
    max_df: float = MAX_DF  # terms in more than this share of the papers count for nothing

    @classmethod
    def of(
        cls, docs: Sequence[tuple[np.ndarray, np.ndarray]], max_df: float = MAX_DF
    ) -> DocumentFrequencies:
        ids = np.concatenate([d[0] for d in docs]) if docs else np.zeros(0, np.int64)
        found, counts = np.unique(ids, return_counts=True)
        return cls(found, counts, len(docs), max_df)

    def count(self, ids: np.ndarray) -> np.ndarray:
        """In how many of the sample papers each term is."""
        at = np.searchsorted(self.terms, ids)
        at[at >= len(self.terms)] = 0
        return np.where(self.terms[at] == ids, self.counts[at], 0) if len(self.terms) else 0 * ids

    def share(self, ids: np.ndarray) -> np.ndarray:
        """The share of the sample papers each term is in."""
        return np.asarray(self.count(ids) / max(1, self.docs))

    def idf(self, ids: np.ndarray) -> np.ndarray:
        """Smoothed idf of each term, to the power IDF_POWER; 0 for terms in more than
        ``max_df`` of the papers (they say nothing of a subject)."""
        df = self.count(ids)
        idf = (np.log((1 + self.docs) / (1 + df)) + 1) ** IDF_POWER
        return np.where(df > self.max_df * self.docs, 0.0, idf)


def unit_vector(
    doc: tuple[np.ndarray, np.ndarray], frequencies: DocumentFrequencies
) -> tuple[np.ndarray, np.ndarray]:
    """A document's tf-idf vector (sublinear tf), unit length: (sorted distinct term ids,
    weights); of two words that hash alike the later one counts, and terms too common to
    count (weight 0) are left out."""
    ids, tf = doc
    order = np.argsort(ids, kind="stable")
    ids, tf = ids[order], tf[order]
    val = (1 + np.log(tf)) * frequencies.idf(ids)
    keep = val != 0
    keep[:-1] &= ids[1:] != ids[:-1]
    ids, val = ids[keep].astype(np.int32), val[keep]  # (kept in 8 bytes a term)
    norm = float(np.sqrt(val @ val))
    return ids, (val / norm if norm > 0 else val).astype(np.float32)


def word_similarity(rows: Sequence[Sparse], against: Sequence[Sparse]) -> np.ndarray:
    """Dot products of unit tf-idf vectors (see :func:`unit_vector`), a (len(rows),
    len(against)) matrix, summed over the terms each pair shares only."""
    return ByTerm(rows).similarity(against)


class ByTerm:
    """Unit tf-idf vectors laid out by term, for their dot products with others."""

    def __init__(self, docs: Sequence[Sparse]):
        self.size = len(docs)
        lengths = np.array([len(d[0]) for d in docs], dtype=np.int64)
        ids = np.concatenate([d[0] for d in docs]) if docs else np.zeros(0, np.int32)
        vals = np.concatenate([d[1] for d in docs]) if docs else np.zeros(0)
        rows = np.repeat(np.arange(len(docs)), lengths)
        order = np.argsort(ids, kind="stable")  # every vector's terms, by term
        self._term, self._row, self._val = ids[order], rows[order], vals[order]

    def similarity(self, against: Sequence[Sparse]) -> np.ndarray:
        """Dot products of every vector here with these unit tf-idf vectors, (vectors,
        len(against)), summed over the terms they share only: each term of ``against`` is
        looked up here (a few thousand binary searches, however many vectors are here)."""
        docs, k, size = against, len(against), self.size
        if not k or not size:
            return np.zeros((size, k))
        ids = np.concatenate([d[0] for d in docs])
        val = np.concatenate([d[1] for d in docs]).astype(np.float64)
        col = np.repeat(np.arange(k), [len(d[0]) for d in docs])
        lo = np.searchsorted(self._term, ids, "left")
        n = np.searchsorted(self._term, ids, "right") - lo
        # every (vector here, term, other vector) sharing a term, with the product of weights
        at = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        weight = np.repeat(val, n) * self._val[at]
        cell = self._row[at] * k + np.repeat(col, n)
        return np.bincount(cell, weights=weight, minlength=size * k).reshape(size, k)


def mean_terms(docs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The mean of unit tf-idf vectors (see :func:`unit_vector`): (sorted term ids, weights)."""
    if not docs:
        return np.zeros(0, np.int64), np.zeros(0)
    found, at = np.unique(np.concatenate([d[0] for d in docs]), return_inverse=True)
    total = np.zeros(len(found))
    np.add.at(total, at, np.concatenate([d[1] for d in docs]))
    return found, total / len(docs)


def word_likeness(
    rows: Sequence[tuple[np.ndarray, np.ndarray]], to: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Dot product of each row's tf-idf vector with one sparse vector ``to`` (sorted ids)."""
    if not rows or not len(to[0]):
        return np.zeros(len(rows))
    ids = np.concatenate([d[0] for d in rows])
    val = np.concatenate([d[1] for d in rows])
    at = np.minimum(np.searchsorted(to[0], ids), len(to[0]) - 1)
    hit = np.where(to[0][at] == ids, to[1][at], 0.0) * val
    ends = np.cumsum([len(d[0]) for d in rows])
    sums = np.concatenate([[0.0], np.cumsum(hit)])
    return np.asarray(sums[ends] - sums[np.concatenate([[0], ends[:-1]])])


def _likeness(
    sims: np.ndarray, words: np.ndarray | None, grams: np.ndarray | None, tuning: Tuning
) -> tuple[np.ndarray, np.ndarray]:
    """(standardised soft maximum of the similarities to some papers or topics, plus those
    of their word and 4-gram similarities, weighted; index of the one each candidate is
    nearest)."""
    out = standardised(soft_max(sims, tuning.tau))
    if words is not None and tuning.words:
        out = out + tuning.words * standardised(soft_max(words, tuning.word_tau))
        sims = sims + words
    if grams is not None and tuning.grams:
        out = out + tuning.grams * standardised(soft_max(grams, tuning.gram_tau))
    return out, sims.argmax(axis=1)


def scores(
    candidates: np.ndarray,
    liked: np.ndarray,
    disliked: np.ndarray | None = None,
    words: tuple[np.ndarray, np.ndarray | None] | None = None,
    tuning: Tuning | None = None,
    background: np.ndarray | None = None,
    topics: tuple[np.ndarray, np.ndarray | None] | None = None,
    grams: tuple[np.ndarray, np.ndarray | None] | None = None,
    topic_grams: np.ndarray | None = None,
    linked: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score per candidate, index of the liked paper each is most like, index of the topic
    that explains it better than any liked paper or -1), from unit vectors ``candidates``
    (n, d), ``liked`` (k, d) and ``disliked`` (m, d) or None, and ``words``: the
    candidates' word similarities to the liked papers (n, k) and to the disliked ones
    (n, m) or None (see :func:`word_similarity`). ``background``: how like each candidate
    is to the papers listed before them (n,), the negatives of a Rocchio classifier: what
    is like everything the reader saw scores less than what is like only their papers.
    ``topics``: the candidates' similarities to the reader's topics' query embeddings
    (n, t) and their word similarities to the topics (n, t) or None. ``grams`` and
    ``topic_grams``: the same as ``words`` and the topics' word similarities over character
    4-grams (``background`` holds their part already). ``linked``: 1 for a candidate that
    links what a liked paper links (see :mod:`paperwire.rank.links`), else 0 (n,). Without
    a liked paper (k = 0) the index of the liked paper is -1, and the topics must be
    given."""
    tuning = tuning or Tuning()
    n = len(candidates)
    out, near = np.zeros(n), np.full(n, -1)
    if len(liked):
        out, near = _likeness(
            candidates @ liked.T, words[0] if words else None, grams[0] if grams else None, tuning
        )
    about = np.full(n, -1)
    if topics is not None and topics[0].shape[1] and tuning.topics:
        part, nearest = _likeness(topics[0], topics[1], topic_grams, tuning)
        about = np.where(part > out if len(liked) else True, nearest, -1)
        out = out + tuning.topics * part
    if disliked is not None and len(disliked) and tuning.disliked:
        bad, _ = _likeness(
            candidates @ disliked.T,
            words[1] if words else None,
            grams[1] if grams else None,
            tuning,
        )
        out = out - tuning.disliked * bad
    if background is not None and tuning.background:
        out = out - tuning.background * standardised(background)
    if linked is not None and tuning.links:
        out = out + tuning.links * linked
    return out, near, about


REASON_SHARE = 0.005  # a word named in a reason is in fewer than this share of the papers
REASON_WORDS = 3  # at most this many named


@dataclass(frozen=True)
class RarePhrases:
    """A paper's words and word pairs (:func:`phrases`) rare enough to name in a reason (in
    under REASON_SHARE of the papers), compact enough to keep for thousands of papers (a few
    kilobytes each): their crc32s, sorted, each one's share, and the phrases themselves as
    the lines of one string, in the same order."""

    keys: np.ndarray
    shares: np.ndarray
    lines: str

    @classmethod
    def of(cls, paper: PaperText, df: DocumentFrequencies) -> RarePhrases:
        found = list(phrases(paper))
        keys = np.array([zlib.crc32(t.encode()) for t in found], np.int64)
        share = df.share(keys % BUCKETS)  # (the terms' ids: term_ids)
        kept = [i for i in np.argsort(keys, kind="stable").tolist() if share[i] < REASON_SHARE]
        return cls(keys[kept], share[kept].astype(np.float32), "\n".join(found[i] for i in kept))

    def shared(self, other: RarePhrases) -> tuple[str, ...]:
        """The rarest words and word pairs both papers hold, none inside another
        ("speculative decoding", not also "decoding"); none unless a pair or at least two
        words are shared."""
        _, mine, theirs = np.intersect1d(self.keys, other.keys, return_indices=True)
        if not len(mine):
            return ()
        lines, others = self.lines.split("\n"), other.lines.split("\n")
        both = [
            (float(self.shares[i]), " " not in lines[i], lines[i])
            for i, j in zip(mine.tolist(), theirs.tolist(), strict=True)
            if lines[i] == others[j]
        ]
        # (rarest first; pairs before single words at equal rarity: "speculative decoding",
        # then not "decoding")
        picked: list[str] = []
        for _, _, term in sorted(both):
            if len(picked) == REASON_WORDS:
                break
            if not any(term in p or p in term for p in picked):
                picked.append(term)
        if len(picked) < 2 and not any(" " in t for t in picked):
            return ()
        return tuple(picked)


def phrases(paper: PaperText) -> frozenset[str]:
    """A paper's words and word pairs as :func:`terms` counts them, but pairs only within a
    clause (a reason never names "model propose" from "… a model. We propose …")."""
    out: set[str] = set()
    for clause in re.split(r"[.;:!?,()\[\]]+\s", f"{paper.title}. {paper.abstract or ''}"):
        out.update(term_counts(clause))
    return frozenset(out)


TopicLikeness = tuple[list[str], np.ndarray]
"""A reader's topics and the candidates' similarities to their query embeddings (n, t)."""

Sparse = tuple[np.ndarray, np.ndarray]
"""A unit tf-idf vector: (sorted distinct term ids, weights) (see :func:`unit_vector`)."""

Features = tuple[Sparse, Sparse]
"""A text's words and character 4-grams, as unit tf-idf vectors."""


@dataclass(frozen=True)
class TextSims:
    """The candidates' similarities over words and over 4-grams to the liked papers (n, k)
    and the disliked ones (n, m) or None, and to the topics (n, t); None for a part the
    tuning leaves out."""

    words: tuple[np.ndarray, np.ndarray | None] | None = None
    grams: tuple[np.ndarray, np.ndarray | None] | None = None
    topic_words: np.ndarray | None = None
    topic_grams: np.ndarray | None = None


def split_words(
    both: np.ndarray, liked: Sequence[str], disliked: Sequence[str]
) -> tuple[tuple[np.ndarray, np.ndarray | None], np.ndarray]:
    """Word similarities to the liked papers, the disliked ones and the topics, in that
    order of columns, as :func:`scores` takes them: ((liked, disliked or None), topics)."""
    k, m = len(liked), len(disliked)
    return (both[:, :k], both[:, k : k + m] if m else None), both[:, k + m :]


def distinct_topics(topics: Sequence[str]) -> list[str]:
    """The topics with surrounding space trimmed, empty and repeated ones (ignoring case)
    left out."""
    seen: dict[str, str] = {}
    for topic in topics:
        text = " ".join(topic.split())
        if text:
            seen.setdefault(text.casefold(), text)
    return list(seen.values())


TermsKey = tuple[int, int, int]
"""A paper's seq and the hashes of its title and abstract: its words, as last read."""

Background = tuple[np.ndarray | None, tuple[Sparse, Sparse], dict[TermsKey, tuple[float, float]]]
"""The mean embedding and the mean words and 4-grams tf-idf vectors of the papers listed
before a feed, and the likeness to the latter two of each candidate ranked so far (by
:func:`terms_key`)."""

BackgroundLikeness = tuple[np.ndarray | None, np.ndarray, np.ndarray]
"""Papers' likeness to the background: to its mean embedding (None without vectors), over
words and over 4-grams."""


Layout = tuple[dict[TermsKey, int], tuple[ByTerm, ByTerm]]
"""Papers' rows (by :func:`terms_key`) and their words and 4-grams laid out by term."""


def terms_key(paper: PaperText) -> TermsKey:
    return (paper.seq, hash(paper.title), hash(paper.abstract))


class ForYou:
    """Rankings for readers, from the store's papers and the vector retriever's embeddings
    (papers without one are embedded on the spot, and the vector kept). Thread-safe; keeps
    the terms of the papers it read (a day's candidates serve many readers)."""

    def __init__(self, store: Store, vectors: Vectors, tuning: Tuning | None = None):
        self.store = store
        self.vectors = vectors
        self.tuning = tuning or Tuning()
        self._terms: OrderedDict[TermsKey, Features] = OrderedDict()
        self._phrase_sets: OrderedDict[TermsKey, RarePhrases] = OrderedDict()
        self._lock = threading.Lock()
        self._df: tuple[DocumentFrequencies, DocumentFrequencies] | None = None
        self._background: OrderedDict[int, Background] = OrderedDict()
        self._topics: OrderedDict[str, np.ndarray] = OrderedDict()
        self._layouts: OrderedDict[tuple[TermsKey, ...], Layout] = OrderedDict()
        self._common: frozenset[str] | None = None  # links too many papers give
        self._links: OrderedDict[tuple[int, int], frozenset[str]] = OrderedDict()

    def rank(
        self,
        liked: Sequence[str],
        candidates: Sequence[str],
        disliked: Sequence[str] = (),
        topics: Sequence[str] = (),
    ) -> Ranked:
        """``candidates`` best first for a reader who liked ``liked``, disliked ``disliked``
        and described ``topics``; without a liked paper or a topic, in the order given."""
        asked = list(dict.fromkeys([*liked, *disliked, *candidates]))
        texts = self.store.papers.texts_by_id(asked)
        unknown = [i for i in asked if i not in texts]
        cands = [i for i in dict.fromkeys(candidates) if i in texts]
        pos = [i for i in dict.fromkeys(liked) if i in texts]
        neg = [i for i in dict.fromkeys(disliked) if i in texts and i not in set(pos)]
        tops = distinct_topics(topics)
        if not cands or not (pos or tops):
            return Ranked([Pick(i, 0.0) for i in cands], unknown)
        vecs = self._vectors([texts[i].seq for i in dict.fromkeys([*pos, *neg, *cands])])
        C = np.stack([vecs[texts[i].seq] for i in cands])
        L = np.stack([vecs[texts[i].seq] for i in pos]) if pos else np.zeros((0, C.shape[1]))
        N = np.stack([vecs[texts[i].seq] for i in neg]) if neg else None
        parts, rows = self._layout([texts[i] for i in cands])
        sims = self.text_sims(
            lambda part, against: parts[part].similarity(against)[rows],
            [self._features(texts[i]) for i in [*pos, *neg]],
            pos,
            neg,
            tops,
        )
        about = self.topic_likeness(tops, C)
        return Ranked(self.picks(texts, cands, pos, C, L, N, sims, topics=about), unknown)

    def text_sims(
        self,
        similarity: Callable[[int, list[Sparse]], np.ndarray],
        given: list[Features],
        pos: list[str],
        neg: list[str],
        topics: list[str],
    ) -> TextSims:
        """The candidates' :class:`TextSims`, from ``similarity(part, against)``: their
        similarities over part 0 (words) or 1 (4-grams) to unit vectors ``against`` (n,
        len(against)); ``given``: the features of the liked papers ``pos``, then of the
        disliked ones ``neg``."""
        found: list[tuple[tuple[np.ndarray, np.ndarray | None] | None, np.ndarray | None]] = []
        given = given + [self.topic_features(x) for x in topics]
        for part, weight in enumerate((self.tuning.words, self.tuning.grams)):
            if not weight:
                found.append((None, None))
                continue
            against = [d[part] for d in given]
            found.append(split_words(similarity(part, against), pos, neg))
        (words, topic_words), (grams_, topic_grams) = found
        return TextSims(words, grams_, topic_words, topic_grams)

    def picks(
        self,
        texts: dict[str, PaperText],
        cands: list[str],
        pos: list[str],
        C: np.ndarray,
        L: np.ndarray,
        N: np.ndarray | None,
        sims: TextSims,
        limit: int | None = None,
        topics: TopicLikeness | None = None,
        near_background: BackgroundLikeness | None = None,
    ) -> list[Pick]:
        """The candidates best first (the best ``limit``), scored by :func:`scores` with the
        background part, each with the liked paper it is most like or the topic it is
        about: the end of every ranking (:meth:`rank`, and the digest's
        ``foryou_many.SharedPapers``), so that both rank alike. ``texts`` holds the liked
        papers and the candidates; ``near_background``: the candidates'
        :meth:`background_likeness`, when known already."""
        background = None
        if self.tuning.background:
            if near_background is None:
                first = self.background_first(texts, cands)
                near_background = self.background_likeness(texts, cands, C, first)
            background = self._background_score(near_background)
        names, likeness = (topics[0], (topics[1], sims.topic_words)) if topics else ([], None)
        via = self.shared_links(texts, cands, pos)
        linked = np.array([v is not None for v in via], float) if any(via) else None
        score, near, about = scores(
            C, L, N, sims.words, self.tuning, background, likeness, sims.grams, sims.topic_grams,
            linked,
        )  # fmt: skip
        # Reasons only where the likeness is real: a weak best match explains nothing.
        liked_close = (C @ L.T).max(axis=1) if len(L) else np.zeros(len(cands))
        topic_close = topics[1].max(axis=1) if topics else np.zeros(len(cands))
        out = []
        for k in np.argsort(-score, kind="stable")[:limit].tolist():
            if (shared := via[k]) is not None:
                key, liked = shared
                out.append(Pick(cands[k], float(score[k]), liked, texts[liked].title, None, key))
            elif about[k] >= 0 and topic_close[k] >= self.tuning.reason_topic_cosine:
                out.append(Pick(cands[k], float(score[k]), because_topic=names[about[k]]))
            elif near[k] >= 0 and liked_close[k] >= self.tuning.reason_cosine:
                liked = pos[near[k]]
                out.append(Pick(cands[k], float(score[k]), liked, texts[liked].title))
            else:
                closest = pos[near[k]] if near[k] >= 0 else None
                out.append(Pick(cands[k], float(score[k]), closest=closest))
        return out

    def words_why(
        self, picks: Sequence[Pick], texts: Mapping[str, PaperText] | None = None
    ) -> list[Pick]:
        """``picks`` (a page of them), those without a reason given one where they share
        rare words with the liked paper they are closest to: a card ranked high by its words
        says so ("shares “draft model”, “speculative” with *Paper X*"). ``texts``: papers
        read already (a digest's); the others are read from the store."""
        asked = [p for p in picks if p.reason is None and p.closest]
        if not asked:
            return list(picks)
        ids = [x for p in asked for x in (p.paper_id, p.closest or "")]
        known = texts or {}
        read = {i: known[i] for i in ids if i in known}
        if len(read) < len(set(ids)):
            read.update(self.store.papers.texts_by_id([i for i in ids if i not in read]))
        words, _ = self._frequencies()
        found: dict[str, Pick] = {}
        for p in asked:
            mine, theirs = read.get(p.paper_id), read.get(p.closest or "")
            if mine is None or theirs is None:
                continue
            shared = self._rare(mine, words).shared(self._rare(theirs, words))
            if shared:
                found[p.paper_id] = replace(
                    p, because=p.closest, because_title=theirs.title, because_words=shared
                )
        return [found.get(p.paper_id, p) for p in picks]

    def shared_links(
        self, texts: dict[str, PaperText], cands: list[str], pos: list[str]
    ) -> list[tuple[str, str] | None]:
        """Per candidate, an account or site it links that a liked paper links too, and
        that paper (the first of ``pos`` to link it), or None."""
        if not self.tuning.links or not pos:
            return [None] * len(cands)
        mine: dict[str, str] = {}
        for i in pos:
            for key in sorted(self.links_of(texts[i])):
                mine.setdefault(key, i)
        if not mine:
            return [None] * len(cands)
        out: list[tuple[str, str] | None] = []
        for i in cands:
            links = self.links_of(texts[i])
            shared = min(links & mine.keys()) if links and not links.isdisjoint(mine) else None
            out.append((shared, mine[shared]) if shared else None)
        return out

    def links_of(self, paper: PaperText) -> frozenset[str]:
        """The accounts and sites the paper links (:mod:`paperwire.rank.links`), less those
        too many papers link; kept (by paper and text), as its words are."""
        text = (paper.title, paper.abstract, paper.comment, paper.github_repo, paper.project_page)
        key = (paper.seq, hash(text))
        with self._lock:
            got = self._links.get(key)
        if got is None:
            got = paper_keys(paper)
            got = got - self._common_links() if got else got
            with self._lock:
                self._links[key] = got
                while len(self._links) > TERM_CACHE:
                    self._links.popitem(last=False)
        return got

    def _common_links(self) -> frozenset[str]:
        if self._common is None:
            keys = [paper_keys(p) for p in self.store.papers.newest_texts(IDF_SAMPLE)]
            self._common = common_keys(keys, LINK_MAX_SHARE, LINK_FLOOR)
        return self._common

    def warm(self, paper_ids: Sequence[str]) -> None:
        """Count these papers' words and 4-grams now (a new day's candidates) and lay them
        out by term, and the document frequencies at first use, so that the first reader to
        rank them does not wait (~0.2 ms a paper: ~180 ms for a day)."""
        self._layout(list(self.store.papers.texts_by_id(paper_ids).values()))

    def topic_vectors(self, topics: Sequence[str]) -> np.ndarray:
        """The topics' query embeddings (t, d), as search by meaning embeds a query (kept)."""
        out = []
        for topic in topics:
            with self._lock:
                got = self._topics.get(topic)
            if got is None:
                got = self.vectors.embed_query(topic)
                if got is None:
                    raise ModelError(self.vectors.problem or "the embedding model is unavailable")
                with self._lock:
                    self._topics[topic] = got
                    while len(self._topics) > TOPIC_CACHE:
                        self._topics.popitem(last=False)
            out.append(got)
        return np.stack(out)

    def topic_likeness(self, topics: list[str], C: np.ndarray) -> TopicLikeness | None:
        """What :meth:`picks` takes of the reader's topics (None without any), given the
        candidates' vectors ``C``."""
        return (topics, C @ self.topic_vectors(topics).T) if topics else None

    def topic_features(self, topic: str) -> Features:
        """A topic's words and 4-grams as unit tf-idf vectors (see :func:`unit_vector`)."""
        words, grams_ = self._frequencies()
        return unit_vector(terms(topic), words), unit_vector(grams(topic), grams_)

    def background_first(self, texts: dict[str, PaperText], cands: list[str]) -> int:
        """The seq the candidates' background ends at: the feed's first paper (the lowest
        tenth of seqs left aside: an old paper listed again)."""
        return int(np.percentile([texts[i].seq for i in cands], 10, method="lower"))

    def background_likeness(
        self, texts: dict[str, PaperText], papers: list[str], C: np.ndarray, first: int
    ) -> BackgroundLikeness:
        """Each of ``papers``' likeness (embedding ``C``'s rows, words, 4-grams) to the mean
        of the BACKGROUND papers the store added before seq ``first``: what
        :meth:`picks` weighs, as for the liked papers, and subtracts."""
        with self._lock:
            got = self._background.get(first)
        if got is None:
            before = self.store.papers.texts_before(first, BACKGROUND)
            vecs = [v for p in before if (v := self.vectors.vector(p.seq)) is not None]
            mean_vec = np.mean(vecs, axis=0) if vecs else None
            docs = [self._features(p) for p in before]
            means = (mean_terms([d[0] for d in docs]), mean_terms([d[1] for d in docs]))
            got = (mean_vec, means, {})
            with self._lock:
                self._background[first] = got
                while len(self._background) > BACKGROUND_CACHE:
                    self._background.popitem(last=False)
        mean_vec, means, known = got
        keys = [terms_key(texts[i]) for i in papers]
        new = [(k, texts[i]) for k, i in zip(keys, papers, strict=True) if k not in known]
        if new:  # (a day's candidates are the same for many readers: kept, by text)
            docs = [self._features(p) for _, p in new]
            words, grams_ = (word_likeness([d[part] for d in docs], means[part]) for part in (0, 1))
            pairs = zip(words.tolist(), grams_.tolist(), strict=True)
            known.update(zip([k for k, _ in new], pairs, strict=True))
        near = np.array([known[k] for k in keys]).reshape(len(keys), 2)
        return (C @ mean_vec if mean_vec is not None else None), near[:, 0], near[:, 1]

    def _background_score(self, likeness: BackgroundLikeness) -> np.ndarray:
        """What :func:`scores` subtracts: the :meth:`background_likeness` parts, each
        standardised across the candidates and weighted as the liked papers' parts."""
        vec, *near = likeness
        out = standardised(vec) if vec is not None else np.zeros(len(near[0]))
        for part, weight in enumerate((self.tuning.words, self.tuning.grams)):
            if weight:
                out = out + weight * standardised(near[part])
        return np.asarray(out)

    def _frequencies(self) -> tuple[DocumentFrequencies, DocumentFrequencies]:
        """Document frequencies of the newest papers' words and 4-grams, counted at first
        use."""
        if self._df is None:
            sample = [
                f"{p.title}. {p.abstract or ''}" for p in self.store.papers.newest_texts(IDF_SAMPLE)
            ]
            words = DocumentFrequencies.of([terms(t) for t in sample])
            grams_ = DocumentFrequencies.of([grams(t) for t in sample], GRAM_MAX_DF)
            with self._lock:
                self._df = self._df or (words, grams_)
        return self._df

    def _rare(self, paper: PaperText, df: DocumentFrequencies) -> RarePhrases:
        """The paper's :class:`RarePhrases`, kept (by paper and text): a digest names the
        words of the same few thousand papers for many readers."""
        key = terms_key(paper)
        with self._lock:
            got = self._phrase_sets.get(key)
        if got is None:
            got = RarePhrases.of(paper, df)
            with self._lock:
                self._phrase_sets[key] = got
                while len(self._phrase_sets) > PHRASE_CACHE:
                    self._phrase_sets.popitem(last=False)
        return got

    def _terms_of(self, paper: PaperText) -> Sparse:
        """The paper's words as a unit tf-idf vector, kept (by paper and text)."""
        return self._features(paper)[0]

    def _layout(self, papers: list[PaperText]) -> tuple[tuple[ByTerm, ByTerm], np.ndarray]:
        """The papers' words and 4-grams laid out by term, and each paper's row there: a
        kept layout of a day's papers (every reader's candidates are most of them) or a new
        one, kept (laying out costs more than the similarities)."""
        keys = [terms_key(p) for p in papers]
        with self._lock:
            for at, (row, parts) in self._layouts.items():
                if len(row) <= LAYOUT_SPARE * len(keys) and all(k in row for k in keys):
                    self._layouts.move_to_end(at)
                    return parts, np.array([row[k] for k in keys], dtype=np.int64)
        docs = [self._features(p) for p in papers]
        parts = (ByTerm([d[0] for d in docs]), ByTerm([d[1] for d in docs]))
        with self._lock:
            self._layouts[tuple(keys)] = ({k: i for i, k in enumerate(keys)}, parts)
            while len(self._layouts) > LAYOUTS:
                self._layouts.popitem(last=False)
        return parts, np.arange(len(keys))

    def _features(self, paper: PaperText) -> Features:
        """The paper's words and 4-grams as unit tf-idf vectors, kept (by paper and text)."""
        key = terms_key(paper)
        with self._lock:
            got = self._terms.get(key)
        if got is None:
            text = f"{paper.title}. {paper.abstract or ''}"
            words, grams_ = self._frequencies()
            got = (unit_vector(terms(text), words), unit_vector(grams(text), grams_))
            with self._lock:
                self._terms[key] = got
                while len(self._terms) > TERM_CACHE:
                    self._terms.popitem(last=False)
        return got

    def _vectors(self, seqs: list[int]) -> dict[int, np.ndarray]:
        out = {s: v for s in seqs if (v := self.vectors.vector(s)) is not None}
        missing = [s for s in seqs if s not in out]
        if missing:
            if not self.vectors.available():
                raise ModelError(self.vectors.problem or "the embedding model is unavailable")
            self.vectors.embed_seqs(missing)
            self.vectors.catch_up()
            for s in missing:
                v = self.vectors.vector(s)
                if v is None:
                    raise ModelError(f"paper {s} could not be embedded")
                out[s] = v
        return out
