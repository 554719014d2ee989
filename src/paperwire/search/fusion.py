"""Fusing the keyword and semantic lists into one ranked list of results: pure functions.

Relevance order is weighted reciprocal-rank fusion of the two ranked lists (weights and k
tuned on SciFact-dev, see bench/relevance.py). Which papers count as results: those holding
every query word, plus those whose meaning is close enough (cosine ≥ ``min_similarity``) and
the few the words rank best when not far in meaning (``keyword_best``) —
so "Newest first" or "Most upvoted" re-orders a set of relevant papers, not the whole corpus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    candidates: int = 200  # taken from each list
    rrf_k: float = 10.0
    keyword_weight: float = 1.0
    semantic_weight: float = 1.0
    min_similarity: float = 0.3
    # The keyword side's best this many count as results with only some of the words from
    # this cosine on, below min_similarity: SciFact-dev nDCG@10 0.7208 → 0.7285 (over the
    # same lists offline: 0.7299 at 5 and 0.15; a floor of 0.2: 0.7266, 0.25: 0.7233; none:
    # a paper at 0.02 that shares "many" and "place" with a query ranked first).
    keyword_best: int = 5
    keyword_best_similarity: float = 0.15
    sorted_closest: int = 30  # by date or upvotes with no all-words paper: this many


@dataclass
class Hit:
    seq: int
    score: float  # fused relevance (higher is better)
    similarity: float | None = None  # cosine with the query
    keyword_rank: int | None = None  # 1-based
    semantic_rank: int | None = None
    all_words: bool = False  # holds every query word
    ranked: bool = True  # False: listed in date or upvote order, ``score`` means nothing
    paper_id: str = ""


def rrf(lists: Sequence[tuple[Sequence[int], float]], k: float) -> dict[int, float]:
    """Weighted reciprocal-rank fusion of ranked lists of ids."""
    out: dict[int, float] = {}
    for ids, weight in lists:
        for rank, seq in enumerate(ids, 1):
            out[seq] = out.get(seq, 0.0) + weight / (k + rank)
    return out


def fuse(
    keyword: Sequence[int],
    all_words: set[int],
    semantic: Sequence[int],
    similarity: Mapping[int, float],
    tuning: Tuning,
    *,
    semantic_ran: bool = False,
) -> tuple[list[Hit], str]:
    """(results best first, how they were found: "hybrid", "semantic" or "keyword").

    ``keyword``: the keyword list, best first; ``all_words``: which of its papers hold every
    word; ``semantic``: the close neighbours, best first; ``similarity``: cosines known for
    any of them. ``semantic_ran``: the semantic side was asked (a semantic-only search with no
    neighbour found nothing, rather than falling back to words)."""
    if semantic or semantic_ran:
        fused = rrf(
            [(keyword, tuning.keyword_weight), (semantic, tuning.semantic_weight)], tuning.rrf_k
        )
        used = "hybrid" if keyword else "semantic"
        # Papers with only some of the words count when close in meaning, or, when the words
        # rank them among the very best (a long query that no paper holds whole), when not
        # far in meaning.
        best_by_words = set(keyword[: tuning.keyword_best])
        members = [
            s
            for s in fused
            if s in all_words
            or (cos := similarity.get(s, -1.0)) >= tuning.min_similarity
            or (s in best_by_words and cos >= tuning.keyword_best_similarity)
        ]
    else:
        fused = rrf([(keyword, 1.0)], tuning.rrf_k)
        used = "keyword"
        members = [s for s in keyword if s in all_words] or list(keyword)
    kw_rank = {s: i for i, s in enumerate(keyword, 1)}
    sem_rank = {s: i for i, s in enumerate(semantic, 1)}
    hits = [
        Hit(
            seq=s,
            score=fused[s],
            similarity=similarity.get(s),
            keyword_rank=kw_rank.get(s),
            semantic_rank=sem_rank.get(s),
            all_words=s in all_words,
        )
        for s in members
    ]
    hits.sort(key=lambda h: (-h.score, h.seq))
    return hits, used
