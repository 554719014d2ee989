"""For you: one reader's candidate papers ranked by the papers they liked (and disliked), over
the stored embeddings, each with the liked paper it is most like (the reason a card shows).

The model: a candidate's score is a soft maximum of its cosine similarities to the liked
papers (a paper very like one of them beats one vaguely like all), less a weighted soft
maximum over the disliked papers.
Pure numpy and per call: nothing is trained ahead, so feedback counts from the next ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.errors import ModelError
from ..search.retrievers import VectorRetriever
from ..store import Store


@dataclass(frozen=True)
class Tuning:
    """The model's constants (their values: the best on recs-dev)."""

    tau: float = 0.05  # temperature of the soft maximum over the liked papers
    centroid: float = 0.0  # weight of the similarity to the liked papers' mean
    disliked: float = 0.5  # weight of the soft maximum over the disliked papers


@dataclass(frozen=True)
class Pick:
    """A candidate's place: its score and the liked paper it is most like."""

    paper_id: str
    score: float
    because: str | None = None  # the liked paper's id (None: nothing liked yet)
    because_title: str | None = None


@dataclass(frozen=True)
class Ranked:
    picks: list[Pick]  # every known candidate, best first
    unknown: list[str]  # ids given (liked, disliked or candidates) that the store lacks


def soft_max(sims: np.ndarray, tau: float) -> np.ndarray:
    """Per row, a smooth maximum of the similarities: tau·log Σ exp(s/tau) (the largest
    dominates; several close ones add a little)."""
    top = sims.max(axis=1, keepdims=True)
    return top[:, 0] + tau * np.log(np.exp((sims - top) / tau).sum(axis=1))


def scores(
    candidates: np.ndarray,
    liked: np.ndarray,
    disliked: np.ndarray | None = None,
    tuning: Tuning | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(score per candidate, index of the liked paper each is most like), from unit vectors:
    ``candidates`` (n, d), ``liked`` (k ≥ 1, d), ``disliked`` (m, d) or None."""
    tuning = tuning or Tuning()
    sims = candidates @ liked.T
    out = soft_max(sims, tuning.tau)
    if tuning.centroid:
        mean = liked.mean(axis=0)
        out = out + tuning.centroid * (candidates @ (mean / max(np.linalg.norm(mean), 1e-9)))
    if disliked is not None and len(disliked) and tuning.disliked:
        out = out - tuning.disliked * soft_max(candidates @ disliked.T, tuning.tau)
    return out, sims.argmax(axis=1)


class ForYou:
    """Rankings for readers, from the store's papers and the vector retriever's embeddings
    (papers without one are embedded on the spot, and the vector kept)."""

    def __init__(self, store: Store, vectors: VectorRetriever, tuning: Tuning | None = None):
        self.store = store
        self.vectors = vectors
        self.tuning = tuning or Tuning()

    def rank(
        self,
        liked: Sequence[str],
        candidates: Sequence[str],
        disliked: Sequence[str] = (),
    ) -> Ranked:
        """``candidates`` best first for a reader who liked ``liked`` and disliked
        ``disliked``; without any liked paper, in the order given."""
        asked = list(dict.fromkeys([*liked, *disliked, *candidates]))
        texts = self.store.papers.texts_by_id(asked)
        unknown = [i for i in asked if i not in texts]
        cands = [i for i in dict.fromkeys(candidates) if i in texts]
        pos = [i for i in dict.fromkeys(liked) if i in texts]
        neg = [i for i in dict.fromkeys(disliked) if i in texts and i not in set(pos)]
        if not cands or not pos:
            return Ranked([Pick(i, 0.0) for i in cands], unknown)
        vecs = self._vectors([texts[i].seq for i in dict.fromkeys([*pos, *neg, *cands])])
        L = np.stack([vecs[texts[i].seq] for i in pos])
        N = np.stack([vecs[texts[i].seq] for i in neg]) if neg else None
        C = np.stack([vecs[texts[i].seq] for i in cands])
        score, near = scores(C, L, N, self.tuning)
        order = np.argsort(-score, kind="stable")
        picks = [
            Pick(cands[k], float(score[k]), pos[near[k]], texts[pos[near[k]]].title)
            for k in order.tolist()
        ]
        return Ranked(picks, unknown)

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
