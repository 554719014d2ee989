"""Edit distance between two words: how many letters to insert, delete, change or swap (the
optimal string alignment form of Damerau-Levenshtein), for "did you mean …?" offers."""

from __future__ import annotations


def edit_distance(a: str, b: str, swap: float = 1.0, limit: int | None = None) -> float:
    """Edits from ``a`` to ``b``: inserting, deleting or changing a letter costs 1, swapping
    two neighbours ``swap``. With a ``limit`` (whole edits; ``swap`` 1), any distance above
    it is ``limit + 1``, known as soon as no alignment can stay within it."""
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[float] = []
    row = [float(j) for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        current = [float(i)] + [0.0] * len(b)
        for j in range(1, len(b) + 1):
            d = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d = min(d, before[j - 2] + swap)
            current[j] = d
        if limit is not None and min(current) > limit:
            return limit + 1
        before, row = row, current
    return row[-1] if limit is None else min(row[-1], limit + 1)
