"""The IANA time zones people choose from, and checking a chosen one."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

UNKNOWN = "Unknown time zone {!r}: choose one from the list, such as Europe/Paris or UTC."

# Old aliases kept by tzdata for compatibility ("US/Eastern", "Etc/GMT+5" with its inverted
# sign); still accepted when typed, but not offered in the list.
_LEGACY_PREFIXES = ("Etc/", "US/", "Canada/", "Mexico/", "Brazil/", "Chile/", "SystemV/")


@lru_cache(maxsize=1)
def _known() -> dict[str, str]:
    names = set(zoneinfo.available_timezones()) | {"UTC"}
    return {n.lower(): n for n in names}


@lru_cache(maxsize=1)
def choices() -> tuple[str, ...]:
    """Zones for a picker: UTC first, then every Area/City zone in alphabetical order."""
    zones = sorted(n for n in _known().values() if "/" in n and not n.startswith(_LEGACY_PREFIXES))
    return ("UTC", *zones)


def canonical_names() -> set[str]:
    """Every zone name ``canonical`` gives (the API's schema lists them)."""
    return set(_known().values())


def canonical(name: str) -> str | None:
    """The zone's exact name (``europe/paris`` → ``Europe/Paris``), or None when the tz
    database has no such zone."""
    return _known().get(name.strip().lower()) if name and len(name) <= 64 else None
