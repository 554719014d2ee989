"""The fixed set of comment reactions: a stable ASCII name (stored, used in URLs and forms),
the emoji shown, and the words a screen reader says."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reaction:
    name: str
    emoji: str
    label: str


REACTIONS: tuple[Reaction, ...] = (
    Reaction("thumbs_up", "👍", "Thumbs up"),
    Reaction("heart", "❤️", "Heart"),
    Reaction("tada", "🎉", "Hooray"),
    Reaction("thinking", "🤔", "Thinking"),
    Reaction("eyes", "👀", "Eyes"),
    Reaction("rocket", "🚀", "Rocket"),
)
BY_NAME = {r.name: r for r in REACTIONS}
# Emoji typed or pasted may come with or without the variation selector (U+FE0F).
_BY_EMOJI = {r.emoji.replace("\ufe0f", ""): r for r in REACTIONS}


def parse_reaction(value: str) -> Reaction | None:
    """A reaction from its name (``thumbs_up``) or its emoji (``👍``); None otherwise."""
    value = value.strip()
    return BY_NAME.get(value.lower()) or _BY_EMOJI.get(value.replace("\ufe0f", ""))
