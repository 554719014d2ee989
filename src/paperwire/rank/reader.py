"""What the For-you ranking learns from for one reader, and which papers it ranks: their
liked and disliked papers (from ``store.signals``) and the candidates less those two (what
they dismissed stays hidden, what they liked they know already). Shared by the For-you tab
and the For-you e-mail digest, so that both rank the same way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..store import Store


@dataclass(frozen=True)
class Reader:
    liked: list[str]
    disliked: list[str]
    candidates: list[str]  # the ones given, in order, less liked and disliked


def reader_inputs(
    store: Store,
    user_id: int,
    candidates: Iterable[str],
    signals: dict[str, list[str]] | None = None,
) -> Reader:
    """``signals``: the reader's ``store.signals.signals``, when already read (a digest run
    reads its readers' together)."""
    signals = signals if signals is not None else store.signals.signals(user_id)
    liked, disliked = signals["positives"], signals["negatives"]
    hidden = {*liked, *disliked}
    return Reader(liked, disliked, [c for c in candidates if c not in hidden])
