"""Spelling suggestions for search words ("Did you mean …?"), from the papers' own words.

The vocabulary is the words of the newest ``SAMPLE`` papers' titles and abstracts (lowercase,
letters only), each with its document frequency: how many of those papers hold it. A word a
search looks for is replaced by the vocabulary word closest to it, then the most frequent,
within one edit (two for words of six letters or more: Elasticsearch's "AUTO" fuzziness; a
swap of two neighbouring letters counts as one edit, as in Damerau's distance), when that
word is held by ``RATIO`` times as many papers as the typed one: in the sample, and in the
whole store (the typed word counted by the store's keyword index; the replacement's count
scaled up from the sample). Never replaced: a word ``COMMON_DF`` sampled papers hold, words
of 1-3 letters, words with digits, stopwords, words left out (``-word``), ``author:`` and
``category:`` operators, links and arXiv ids, and the words of a quoted phrase that matched.

Why 1,000 times and the whole store (bench/spelling.py, the 74,728 real papers, the newest
20,000 sampled): common misspellings ("tranformer", "seperate", "langauge") are held by no
sampled paper and by at most 4 of them all, while a real word a sample lacks is often close
to a common one ("polyak" to "polar", "braid" to "brain"). Judged by the sample alone at 20
times, 62 % of the 3,290 words only older papers hold got a suggestion, and 28 % of the
38,417 words 1-9 sampled papers hold; with the store's count and 1,000 times, 5.8 % and 3.4 %,
while 87 % of 3,000 made-up typos (one or two edits) of words 30 sampled papers hold still
get their word back (10 % get another: "generatve" gets "generate", as close as
"generative" and more frequent).

Lookup is SymSpell's (Wolf Garbe, 2012): every vocabulary word's deletions of up to two
letters from its first ``PREFIX`` letters are kept, as hashes, in one sorted array; a typed
word's own deletions find its candidates by binary search, and only those are measured.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ..core.edits import edit_distance
from ..core.query import STOPWORDS, query_words
from ..store import Store

log = logging.getLogger(__name__)

SAMPLE = 20_000  # the newest papers whose words make the vocabulary (rank.foryou's IDF_SAMPLE)
MIN_LETTERS = 4  # shorter words are abbreviations as often as typos: never corrected
MAX_LETTERS = 32  # longer "words" are formulas, sequences, URLs run together
CANDIDATE_DF = 3  # a replacement is held by at least this many sampled papers
RATIO = 1000  # ... and by this many times as many papers as the typed word (see above)
COMMON_DF = 10  # a typed word this many sampled papers hold is meant as typed
PREFIX = 7  # SymSpell's prefix: deletions are taken from a word's first 7 letters only
REBUILD_SHARE = 20  # rebuilt once the papers added since are 1/20 of those it counted,
MAX_AGE = 3600.0  # ... or any were added and it is an hour old
CHECK_EVERY = 30.0  # seconds between two looks at the store for new papers, after a change
READ_AT_ONCE = 2000  # papers read from the store at a time while building

_WORD = re.compile(r"\w+")
# Tokens that are addresses, identifiers or operators rather than words: a link, an arXiv
# id (arXiv:2601.21579, hep-th/9901001), an e-mail address, title:…, a DOI.
_NOT_WORDS = re.compile(r"[:/@\d]")

# How many papers of the whole store hold a word, counting up to a cap.
Holding = Callable[[str, int], int]


def max_edits(word: str) -> int:
    """How many edits a typed word may be from its replacement (Elasticsearch's "AUTO":
    one for four or five letters, two from six on)."""
    return 1 if len(word) < 6 else 2


def distance(a: str, b: str, limit: int = 2) -> int:
    """Edits from ``a`` to ``b`` (insert, delete or substitute a letter, or swap two
    neighbours: the optimal string alignment form of Damerau-Levenshtein), or ``limit + 1``
    when more than ``limit``."""
    return int(edit_distance(a, b, limit=limit))


def _deletions(word: str, edits: int) -> set[str]:
    """The word's first PREFIX letters with up to ``edits`` of them taken out (none too)."""
    head = word[:PREFIX]
    out = {head}
    for n in range(1, min(edits, len(head) - 1) + 1):
        for gone in combinations(range(len(head)), n):
            out.add("".join(c for i, c in enumerate(head) if i not in gone))
    return out


def _hashes(strings: Iterable[str]) -> np.ndarray:
    return np.fromiter((hash(s) for s in strings), dtype=np.int64)


class Vocabulary:
    """The words of a sample of papers, their document frequencies, and the deletions
    index that finds the words within two edits of any word. ``papers``: how many papers
    the whole store holds (the sample's own count when it is all of them)."""

    def __init__(self, texts: Iterable[str], papers: int = 0):
        counts: Counter[str] = Counter()
        docs = 0
        for text in texts:
            counts.update(set(_WORD.findall(text.lower())))
            docs += 1
        self.docs, self.papers = docs, max(papers, docs)
        fits = range(MIN_LETTERS, MAX_LETTERS + 1)
        kept = [(w, n) for w, n in counts.items() if len(w) in fits and w.isalpha()]
        del counts
        # Held by two papers or more: the words and their frequencies. Held by one: their
        # hashes only, enough to tell a rare word from one no paper holds.
        self._df = {w: n for w, n in kept if n > 1}
        self._once = np.sort(_hashes(w for w, n in kept if n == 1))
        # The replacements, most frequent first; their deletions' hashes, sorted, and the
        # replacement each belongs to.
        self._words = sorted(
            (w for w, n in kept if n >= CANDIDATE_DF), key=lambda w: (-self._df[w], w)
        )
        keys: list[int] = []
        owners: list[int] = []
        for i, word in enumerate(self._words):
            for d in _deletions(word, 2):
                keys.append(hash(d))
                owners.append(i)
        order = np.argsort(np.array(keys, dtype=np.int64), kind="stable")
        self._keys = np.array(keys, dtype=np.int64)[order]
        self._owners = np.array(owners, dtype=np.int32)[order]

    def __len__(self) -> int:
        """Words two sampled papers or more hold."""
        return len(self._df)

    def df(self, word: str) -> int:
        """How many sampled papers hold ``word`` (lowercase)."""
        n = self._df.get(word)
        if n is not None:
            return n
        key = hash(word)
        at = int(np.searchsorted(self._once, key))
        return int(at < len(self._once) and self._once[at] == key)

    def closest(self, word: str, floor: int = CANDIDATE_DF) -> tuple[str, int] | None:
        """The word within ``max_edits(word)`` edits of ``word`` that is closest, then held
        by the most sampled papers, of those held by ``floor`` papers or more; with the
        number of them. None when there is none."""
        edits = max_edits(word)
        probes = np.unique(_hashes(_deletions(word, edits)))
        lo = np.searchsorted(self._keys, probes, side="left").tolist()
        hi = np.searchsorted(self._keys, probes, side="right").tolist()
        found = [self._owners[a:b] for a, b in zip(lo, hi, strict=True) if b > a]
        best: tuple[int, str, int] | None = None
        for i in np.unique(np.concatenate(found)).tolist() if found else ():
            candidate = self._words[i]  # the most frequent first
            n = self._df[candidate]
            if n < floor:
                break
            if candidate == word or abs(len(candidate) - len(word)) > edits:
                continue
            d = distance(word, candidate, edits)
            if d <= edits and (best is None or d < best[0]):
                best = (d, candidate, n)
                if d == 1:
                    break  # none is closer, and the rest are rarer
        return None if best is None else (best[1], best[2])

    def correction(self, word: str, holding: Holding | None = None) -> str | None:
        """The word to search instead of ``word`` (lowercase), or None when it stands as
        typed. ``holding``: how many papers of the whole store hold a word; without it, the
        sample is all there is."""
        held = self.df(word)
        if held >= COMMON_DF:
            return None
        found = self.closest(word, max(CANDIDATE_DF, RATIO * held))
        if found is None:
            return None
        candidate, n = found
        if holding is not None and self.papers > self.docs:
            expected = n * self.papers / self.docs  # the replacement's papers in the store
            if RATIO * holding(word, int(expected / RATIO) + 1) > expected:
                return None
        return candidate


@dataclass(frozen=True)
class Suggestion:
    """A search's query with its misspelled words corrected."""

    text: str  # the whole query, corrected: what the suggestion's link searches
    parts: tuple[tuple[str, bool], ...]  # its pieces in order, each with whether corrected

    @property
    def corrected(self) -> list[str]:
        return [piece for piece, fixed in self.parts if fixed]


def _as_typed(typed: str, word: str) -> str:
    """``word`` in the typed word's case: UPPER, Capitalized or lower."""
    if len(typed) > 1 and typed.isupper():
        return word.upper()
    return word.capitalize() if typed[:1].isupper() else word


def suggest(
    vocabulary: Vocabulary,
    text: str,
    keep_phrases: bool = False,
    holding: Holding | None = None,
) -> Suggestion | None:
    """The query ``text`` (as ``ParsedQuery.text`` keeps it) with its misspelled words
    corrected, every other character as typed; None when no word needs it. A quoted
    phrase's words are corrected only when no sampled paper holds them, and not at all
    with ``keep_phrases`` (the search found papers holding every word and phrase)."""
    parts: list[tuple[str, bool]] = []
    at = 0
    for word in query_words(text):
        typed = text[word.start : word.end]
        lower = typed.lower()
        if (
            not MIN_LETTERS <= len(typed) <= MAX_LETTERS
            or not typed.isalpha()
            or lower in STOPWORDS
            or (word.quoted and (keep_phrases or vocabulary.df(lower)))
            or (not word.quoted and _NOT_WORDS.search(word.token))
        ):
            continue
        fixed = vocabulary.correction(lower, holding)
        if fixed is not None:
            parts += [(text[at : word.start], False), (_as_typed(typed, fixed), True)]
            at = word.end
    if not parts:
        return None
    parts.append((text[at:], False))
    kept = tuple(p for p in parts if p[0])
    return Suggestion("".join(piece for piece, _ in kept), kept)


class Speller:
    """One process's vocabulary, made from the store off the request path: the first
    suggestion asked for starts building it in a background thread (and there is none
    until it is built); after a data change, the next one looks for new papers (at most
    every CHECK_EVERY seconds, and at least every MAX_AGE) and rebuilds it in the
    background once enough came, the old one answering meanwhile."""

    def __init__(
        self,
        store: Store,
        sample: int = SAMPLE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store, self.sample, self.clock = store, sample, clock
        self.vocabulary: Vocabulary | None = None
        self._newest = 0  # the store's highest seq when it was built
        self._built = self._checked = float("-inf")
        self._building = threading.Lock()
        self._changed = False

    @property
    def ready(self) -> bool:
        """Whether a vocabulary is there to answer (none before the first is built)."""
        return self.vocabulary is not None

    def suggest(self, text: str, keep_phrases: bool = False) -> Suggestion | None:
        """See :func:`suggest`; a typed word is also counted in the whole store (one
        capped count, only for a word that has a replacement). None while the first
        vocabulary is being built."""
        vocabulary = self.vocabulary
        since = self.clock() - self._checked
        if vocabulary is None or (self._changed and since >= CHECK_EVERY) or since >= MAX_AGE:
            self._refresh_in_background()
        if vocabulary is None:
            return None
        return suggest(vocabulary, text, keep_phrases, self._holding)

    def suggest_now(self, text: str) -> Suggestion | None:
        """:func:`suggest`, with the vocabulary built first in this thread when there is
        none (a command's one search: nothing to wait in the background for)."""
        return suggest(self.refresh(), text, holding=self._holding)

    def data_changed(self) -> None:
        """The store's data changed (a vote as often as a new paper): look at the next use."""
        self._changed = True

    def refresh(self) -> Vocabulary:
        """Build the vocabulary now, in this thread, when there is none or enough papers
        came since it was built; return it either way."""
        with self._building:
            return self._refresh()

    def _holding(self, word: str, cap: int) -> int:
        return self.store.search.word_count(word, cap)

    def _refresh_in_background(self) -> None:
        if not self._building.acquire(blocking=False):
            return  # being built

        def run() -> None:
            try:
                self._refresh()
            except Exception as exc:  # noqa: BLE001 - searches go on without suggestions
                log.warning("Spelling: could not build the vocabulary: %s", exc)
            finally:
                self._building.release()

        threading.Thread(target=run, daemon=True, name="speller").start()

    def _refresh(self) -> Vocabulary:
        self._changed, self._checked = False, self.clock()
        newest = self.store.papers.size_estimate()  # the highest seq: microseconds
        old = self.vocabulary
        if old is not None:
            added = newest - self._newest
            if added < max(1, old.docs // REBUILD_SHARE) and not (
                added > 0 and self.clock() - self._built >= MAX_AGE
            ):
                return old
        vocabulary = Vocabulary(self._texts(newest), newest)
        self.vocabulary, self._newest, self._built = vocabulary, newest, self.clock()
        return vocabulary

    def _texts(self, newest: int) -> Iterator[str]:
        """The titles and abstracts of the newest ``sample`` papers, read READ_AT_ONCE at a
        time (at 74,728 papers, a build peaked at 76 MB reading all 20,000 at once, 39 MB so)."""
        left, before = self.sample, newest + 1
        while left > 0:
            papers = self.store.papers.texts_before(before, min(left, READ_AT_ONCE))
            if not papers:
                return
            yield from (f"{p.title}\n{p.abstract}" for p in papers)
            left, before = left - len(papers), papers[-1].seq
