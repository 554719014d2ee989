"""For you for many readers over the same papers (a digest run: thousands of readers, one
period's new papers): the papers' vectors and tf-idf terms are laid out once, and each
reader is scored by :meth:`ForYou.picks <paperwire.rank.foryou.ForYou.picks>` on the same
inputs :meth:`ForYou.rank <paperwire.rank.foryou.ForYou.rank>` builds, so the ranking is the tab's
(tested against it); only the word and 4-gram similarities come from the papers' terms laid
out by term once, instead of from each reader's candidates."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from ..core.models import PaperText
from .foryou import (
    BackgroundLikeness,
    ByTerm,
    ForYou,
    Pick,
    Ranked,
    Sparse,
    distinct_topics,
)

COLUMNS = 8192  # similarity columns a SharedPapers keeps (liked papers and topics, by part)
COLUMN_BYTES = 256 << 20  # and at most this much of them (a column: 8 bytes a paper)
BACKGROUNDS = 64  # backgrounds whose likeness to every paper a SharedPapers keeps


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
        # each paper's vector and features, by id (and the liked ones', once read)
        self._vec = {p.id: self.matrix[i] for i, p in enumerate(self.papers)}
        self._doc = {p.id: model._features(p) for p in self.papers}
        docs = list(self._doc.values())
        self.parts = (ByTerm([d[0] for d in docs]), ByTerm([d[1] for d in docs]))
        # every paper's similarity to a liked paper or topic (by part and vector): many
        # readers like the same papers, and a column is laid out once for all of them
        self._columns: OrderedDict[tuple[int, bytes, bytes], np.ndarray] = OrderedDict()
        # every paper's likeness to a background (by the seq it ends at): the same for the
        # readers whose candidates start alike
        self._near: OrderedDict[int, BackgroundLikeness] = OrderedDict()
        self.columns = min(COLUMNS, max(64, COLUMN_BYTES // (8 * max(len(self.papers), 1))))

    @property
    def texts(self) -> Mapping[str, PaperText]:
        """These papers and the liked ones read since, by id."""
        return self._texts

    def similarity(self, part: int, against: Sequence[Sparse]) -> np.ndarray:
        """Every paper's similarity over words (``part`` 0) or 4-grams (1) to these unit
        tf-idf vectors, (papers, len(against)), each column computed once and kept (the
        same numbers as computed together: a cell sums its own terms' products in order)."""
        keys = [(part, d[0].tobytes(), d[1].tobytes()) for d in against]
        if not keys:
            return np.zeros((len(self.papers), 0))
        missing = list(dict.fromkeys(k for k in keys if k not in self._columns))
        if missing:
            at = {k: j for j, k in enumerate(keys)}
            found = self.parts[part].similarity([against[at[k]] for k in missing])
            for c, key in enumerate(missing):
                self._columns[key] = np.ascontiguousarray(found[:, c])
        out = np.stack([self._columns[k] for k in keys], axis=1)
        for key in keys:  # the least recently used columns go first
            self._columns.move_to_end(key)
        while len(self._columns) > self.columns:
            self._columns.popitem(last=False)
        return out

    def near_background(self, first: int) -> BackgroundLikeness:
        """Every paper's :meth:`ForYou.background_likeness` to the background ending at seq
        ``first``, computed once (a few kept)."""
        got = self._near.get(first)
        if got is None:
            ids = [p.id for p in self.papers]
            got = self.model.background_likeness(self._texts, ids, self.matrix, first)
            self._near[first] = got
            while len(self._near) > BACKGROUNDS:
                self._near.popitem(last=False)
        self._near.move_to_end(first)
        return got

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
            self._doc.update({i: model._features(texts[i]) for i in new})
        rows = np.array([self.row[i] for i in cands])
        C = self.matrix[rows]
        L = np.stack([self._vec[i] for i in pos]) if pos else np.zeros((0, C.shape[1]))
        N = np.stack([self._vec[i] for i in neg]) if neg else None
        sims = model.text_sims(
            lambda part, against: self.similarity(part, against)[rows],
            [self._doc[i] for i in [*pos, *neg]],
            pos,
            neg,
            tops,
        )
        about = model.topic_likeness(tops, C)
        near: BackgroundLikeness | None = None
        if model.tuning.background:
            vec, words, grams = self.near_background(model.background_first(self._texts, cands))
            near = (None if vec is None else vec[rows], words[rows], grams[rows])
        picks = model.picks(
            self._texts, cands, pos, C, L, N, sims, limit, topics=about, near_background=near
        )
        return Ranked(picks, unknown)
