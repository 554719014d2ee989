"""What the For-you ranking learns from for one reader, and which papers it ranks: their
liked and disliked papers (from ``store.signals``), the topics they described (from
``store.readers``) and the candidates less the papers they liked or disliked (what they
dismissed stays hidden, what they liked they know already). Shared by the For-you tab and
the For-you e-mail digest, so that both rank the same way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..store import Store


@dataclass(frozen=True)
class Reader:
    liked: list[str]
    disliked: list[str]
    topics: list[str]
    candidates: list[str]  # the ones given, in order, less liked and disliked

    @property
    def known(self) -> bool:
        """Whether there is anything to rank by (a liked paper or a topic)."""
        return bool(self.liked or self.topics)


def reader_inputs(
    store: Store,
    user_id: int,
    candidates: Iterable[str],
    signals: dict[str, Any] | None = None,
    liked: Sequence[str] | None = None,
) -> Reader:
    """``signals``: the reader's ``store.signals.signals`` and ``topics``, when already read
    (a digest run reads its readers' together). ``liked``: rank by these papers instead of
    everything the reader liked, and without their topics (a collection's papers)."""
    if signals is None:
        signals = {**store.signals.signals(user_id), "topics": store.readers.topics(user_id)}
    disliked = list(signals["negatives"])
    positives = list(signals["positives"] if liked is None else liked)
    topics = list(signals["topics"]) if liked is None else []
    hidden = {*positives, *disliked}
    return Reader(positives, disliked, topics, [c for c in candidates if c not in hidden])
