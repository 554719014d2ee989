"""What one ingestion run did; the command line prints it and picks its exit code from it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImportReport:
    """Counts of what a run read and wrote, and why records were skipped."""

    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    feed_added: int = 0
    skipped: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped.append(reason)

    def merge(self, other: ImportReport) -> None:
        self.seen += other.seen
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.feed_added += other.feed_added
        self.skipped.extend(other.skipped)

    def summary(self) -> str:
        parts = [
            f"{self.seen} seen",
            f"{self.inserted} new",
            f"{self.updated} updated",
            f"{self.unchanged} unchanged",
        ]
        if self.feed_added:
            parts.append(f"{self.feed_added} added to the feed")
        parts.append(f"{len(self.skipped)} skipped")
        return ", ".join(parts)
