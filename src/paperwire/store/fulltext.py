"""Full-text query text for each backend, built from a parsed query: an SQLite FTS5 MATCH
expression, or a PostgreSQL tsquery made of bound parameters (never string-pasted)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.query import ParsedQuery

ALL, ANY = "all", "any"


def _fts5_unit(words: list[str]) -> str:
    # Every word is quoted, so nothing the user typed is read as FTS5 syntax.
    return '"' + " ".join(words) + '"'


def fts5(parsed: ParsedQuery, mode: str) -> str | None:
    """An FTS5 MATCH expression. ``all``: every unit must match; ``any``: at least one.
    Excluded words are applied in both modes."""
    if not parsed.units:
        return None
    parts = []
    for unit in parsed.units:
        alts = [_fts5_unit(a) for a in unit.alternatives]
        parts.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
    expr = (" AND " if mode == ALL else " OR ").join(parts)
    if parsed.excluded:
        expr = f"({expr}) NOT (" + " OR ".join(_fts5_unit(e) for e in parsed.excluded) + ")"
    return expr


@dataclass
class TsQuery:
    """A tsquery expression over bound parameters. ``units``: each unit's own tsquery with
    its weight, when the query is to be ranked by a weighted sum of per-unit ranks."""

    expr: str
    params: dict[str, str]
    units: list[tuple[str, float]] = field(default_factory=list)


def tsquery(
    parsed: ParsedQuery, mode: str, weights: Sequence[float] | None = None
) -> TsQuery | None:
    """``weights`` (one per unit, e.g. inverse document frequencies): PostgreSQL's ranking
    has no notion of how rare a word is, so a paper is then scored by the weighted sum of its
    per-unit ranks instead."""
    if not parsed.units:
        return None
    params: dict[str, str] = {}

    def phrase(words: list[str]) -> str:
        name = f"w{len(params)}"
        params[name] = " ".join(words)
        return f"phraseto_tsquery('english', :{name})"

    parts = []
    for unit in parsed.units:
        alts = [phrase(a) for a in unit.alternatives]
        parts.append("(" + " || ".join(alts) + ")")
    expr = (" && " if mode == ALL else " || ").join(parts)
    if parsed.excluded:
        expr = f"({expr}) && !!(" + " || ".join(phrase(e) for e in parsed.excluded) + ")"
    units = [(p, float(w)) for p, w in zip(parts, weights, strict=True)] if weights else []
    return TsQuery(expr, params, units)
