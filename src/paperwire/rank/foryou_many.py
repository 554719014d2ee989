"""For you for many readers over the same papers (a digest run: thousands of readers, one
period's new papers): the papers' vectors and tf-idf terms are laid out once, and each
reader is scored by :meth:`ForYou.picks <paperwire.rank.foryou.ForYou.picks>` on the same
inputs :meth:`ForYou.rank <paperwire.rank.foryou.ForYou.rank>` builds, so the ranking is the tab's
(tested against it); only the word similarities come from the papers' terms laid out by
term once, instead of from each reader's candidates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.models import PaperText
from .foryou import ForYou, Pick, Ranked, distinct_topics, split_words


class SharedPapers:
    """Papers that many readers' candidates are drawn from, ready to rank for any of them."""

    def __init__(self, model: ForYou, papers: Sequence[PaperText]):
        self.model = model
        self.papers = list({p.id: p for p in papers}.values())
        self.row = {p.id: i for i, p in enumerate(self.papers)}
        self._texts = {p.id: p for p in self.papers}  # and the liked ones read since
        vectors = model._vectors([p.seq for p in self.papers])
        dim = next(iter(vectors.values())).shape[0] if vectors else 0
        self.matrix = (
            np.stack([vectors[p.seq] for p in self.papers])
            if self.papers
            else np.zeros((0, dim), np.float32)
        )
        # each paper's vector and terms, by id (and the liked ones', once read)
        self._vec = {p.id: self.matrix[i] for i, p in enumerate(self.papers)}
        self._doc = {p.id: model._terms_of(p) for p in self.papers}
        docs = list(self._doc.values())
        lengths = np.array([len(d[0]) for d in docs], dtype=np.int64)
        ids = np.concatenate([d[0] for d in docs]) if docs else np.zeros(0, np.int64)
        vals = np.concatenate([d[1] for d in docs]) if docs else np.zeros(0)
        rows = np.repeat(np.arange(len(docs)), lengths)
        order = np.argsort(ids, kind="stable")  # every paper's terms, by term
        self._term, self._row, self._val = ids[order], rows[order], vals[order]

    def word_similarity(self, against: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """:func:`paperwire.rank.foryou.word_similarity` of every paper here against these
        unit tf-idf vectors, (papers, len(against)), from the terms they share only."""
        docs, k, size = against, len(against), len(self.papers)
        if not k or not size:
            return np.zeros((size, k))
        ids = np.concatenate([d[0] for d in docs])
        val = np.concatenate([d[1] for d in docs])
        col = np.repeat(np.arange(k), [len(d[0]) for d in docs])
        lo = np.searchsorted(self._term, ids, "left")
        n = np.searchsorted(self._term, ids, "right") - lo
        # every (paper here, term, other paper) sharing a term, with the product of weights
        at = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        weight = np.repeat(val, n) * self._val[at]
        cell = self._row[at] * k + np.repeat(col, n)
        return np.bincount(cell, weights=weight, minlength=size * k).reshape(size, k)

    def rank(
        self,
        liked: Sequence[str],
        candidates: Sequence[str],
        disliked: Sequence[str] = (),
        limit: int | None = None,
        topics: Sequence[str] = (),
    ) -> Ranked:
        """As :meth:`ForYou.rank`, for candidates among these papers (others are left out, as
        unknown); the liked and disliked papers may be any. ``limit``: only the best so
        many picks (the scores are those of the whole ranking)."""
        model = self.model
        given = list(dict.fromkeys([*liked, *disliked]))
        missing = [i for i in given if i not in self._texts]
        if missing:
            self._texts.update(model.store.papers.texts_by_id(missing))
        texts = {i: self._texts[i] for i in given if i in self._texts}
        cands = [i for i in dict.fromkeys(candidates) if i in self.row]
        unknown = [i for i in given if i not in texts]
        unknown += [i for i in dict.fromkeys(candidates) if i not in self.row]
        pos = [i for i in dict.fromkeys(liked) if i in texts]
        neg = [i for i in dict.fromkeys(disliked) if i in texts and i not in set(pos)]
        tops = distinct_topics(topics)
        if not cands or not (pos or tops):
            return Ranked([Pick(i, 0.0) for i in cands], unknown)
        new = [i for i in [*pos, *neg] if i not in self._vec]
        if new:
            vecs = model._vectors([texts[i].seq for i in new])
            self._vec.update({i: vecs[texts[i].seq] for i in new})
            self._doc.update({i: model._terms_of(texts[i]) for i in new})
        rows = np.array([self.row[i] for i in cands])
        C = self.matrix[rows]
        L = np.stack([self._vec[i] for i in pos]) if pos else np.zeros((0, C.shape[1]))
        N = np.stack([self._vec[i] for i in neg]) if neg else None
        words, topic_words = None, None
        if model.tuning.words:
            tt = [model.topic_terms(x) for x in tops]
            both = self.word_similarity([*(self._doc[i] for i in [*pos, *neg]), *tt])[rows]
            words, topic_words = split_words(both, pos, neg)
        about = model.topic_likeness(tops, C, topic_words)
        picks = model.picks(self._texts, cands, pos, C, L, N, words, limit, topics=about)
        return Ranked(picks, unknown)
