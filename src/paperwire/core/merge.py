"""The merge rule: what a source's record changes in what is already known of a paper.

A newer version overrides everything it states. The same (or an unknown) version overrides
when its source is trusted at least as much as the source that wrote the stored record;
otherwise it only fills gaps. Abstracts are graded (see :mod:`.abstracts`): text that is not
an abstract never replaces one, and unless a newer version brings it, a fuller abstract is
never replaced by a shorter summary and replaces one, whatever the sources' trust. A GitHub
repository is only ever filled in; star counts always move to the latest one. How far each
source is trusted is declared by the source itself when it registers (the
``register_sources`` hook): an unregistered source's record is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .abstracts import abstract_quality
from .errors import UnknownSource
from .records import PaperRecord

MERGED_FIELDS = (
    "version",
    "title",
    "abstract",
    "authors",
    "num_authors",
    "categories",
    "primary_category",
    "published",
    "updated",
    "comment",
    "journal_ref",
    "doi",
    "project_page",
)
# Stored values the rule reads besides MERGED_FIELDS.
KNOWN_FIELDS = (*MERGED_FIELDS, "source", "github_repo", "github_stars")


def trust_of(trust: Mapping[str, int], source: str, *, incoming: bool) -> int:
    """How far ``source`` is trusted. A record arriving from an unregistered source is an
    error; a stored one written by a source no longer installed counts as least trusted."""
    if source in trust:
        return trust[source]
    if incoming:
        known = ", ".join(sorted(trust)) or "none"
        raise UnknownSource(f"records from {source!r}, which no plugin registered ({known})")
    return -1


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def merge(known: Mapping[str, Any], rec: PaperRecord, trust: Mapping[str, int]) -> dict[str, Any]:
    """The fields ``rec`` changes in ``known`` (the stored values of :data:`KNOWN_FIELDS`);
    an empty dict when it brings nothing new."""
    old_v, new_v = known["version"], rec.version
    newer = new_v is not None and (old_v is None or new_v > old_v)
    older = new_v is not None and old_v is not None and new_v < old_v
    trusted = trust_of(trust, rec.source, incoming=True) >= trust_of(
        trust, known["source"], incoming=False
    )
    overrides = newer or (not older and trusted)
    changes: dict[str, Any] = {}
    for name in MERGED_FIELDS:
        if name == "num_authors":
            value: Any = rec.num_authors if rec.authors or rec.num_authors else None
        else:
            value = getattr(rec, name)
        if _empty(value) or (name == "version" and older):
            continue
        if name == "abstract":
            grade = abstract_quality(value, rec.title)
            if grade == 0:
                continue
            # Versions decide between two abstracts, however short; otherwise the fuller
            # text wins, so a summary from a trusted feed never hides the arXiv abstract.
            held = abstract_quality(known["abstract"], known["title"])
            better = 0 if newer or (older and held) else grade - held
            if better < 0:
                continue
            if better > 0:
                changes[name] = value
                continue
        if (overrides or _empty(known[name])) and value != known[name]:
            changes[name] = value
    if rec.github_repo and not known["github_repo"]:
        changes["github_repo"] = rec.github_repo
    if rec.github_stars is not None and rec.github_stars != known["github_stars"]:
        changes["github_stars"] = rec.github_stars
    if changes and overrides:
        changes["source"] = rec.source
    return changes


def known_values(rec: PaperRecord) -> dict[str, Any]:
    """A record as if it were stored: what :func:`merge` compares the next record with."""
    values = {name: getattr(rec, name) for name in KNOWN_FIELDS}
    values["num_authors"] = rec.num_authors or len(rec.authors)
    return values


def combine(prev: PaperRecord, rec: PaperRecord, trust: Mapping[str, int]) -> PaperRecord:
    """Two records of one paper in the same batch, merged (the second wins where it may)."""
    return replace(prev, **merge(known_values(prev), rec, trust))
