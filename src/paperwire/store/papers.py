"""The catalogue: papers as their sources describe them (merged by the rule of
:mod:`paperwire.core.merge`), their popularity elsewhere and their GitHub stars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core import categories
from ..core.clock import utcnow
from ..core.merge import KNOWN_FIELDS, combine, merge, trust_of
from ..core.models import Paper, PaperText, StarCheck
from ..core.records import PaperRecord, Popularity
from . import schema as t
from .common import Repository, chunks, ensure_named, model, split_words

P = t.papers
# PaperText's fields, in order
TEXT = (
    P.c.seq, P.c.id, P.c.title, P.c.abstract, P.c.comment, P.c.github_repo, P.c.project_page
)  # fmt: skip


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """Domain values as columns (categories are stored space-separated)."""
    out = dict(values)
    if "categories" in out:
        out["categories"] = " ".join(out["categories"])
    return out


def _new_row(rec: PaperRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": rec.id,
        "version": rec.version,
        "title": rec.title,
        "abstract": rec.abstract,
        "authors": rec.authors,
        "num_authors": rec.num_authors or len(rec.authors),
        "categories": " ".join(rec.categories),
        "primary_category": rec.primary_category,
        "published": rec.published,
        "updated": rec.updated,
        "comment": rec.comment,
        "journal_ref": rec.journal_ref,
        "doi": rec.doi,
        "github_repo": rec.github_repo,
        "github_stars": rec.github_stars,
        "project_page": rec.project_page,
        "source": rec.source,
        "created_at": now,
        "modified_at": now,
    }


def paper(row: Any) -> Paper:
    return model(Paper, row, categories=split_words(row.categories))


class PaperRepo(Repository):
    # -- writing -------------------------------------------------------------------------
    def upsert(
        self,
        records: Sequence[PaperRecord],
        trust: Mapping[str, int],
        conn: Connection | None = None,
    ) -> UpsertCounts:
        """Insert new papers and merge newer information into known ones (``trust``: how far
        each source is trusted, from the registered sources).

        Records must be validated. Runs in ``conn``'s transaction, or in its own.
        """
        if conn is None:
            with self.db.begin() as own:
                return self.upsert(records, trust, own)
        for source in {rec.source for rec in records}:  # an unregistered source is refused
            trust_of(trust, source, incoming=True)
        counts = UpsertCounts()
        latest: dict[str, PaperRecord] = {}
        for rec in records:  # one row per paper; records later in the batch merge in
            prev = latest.get(rec.id)
            latest[rec.id] = rec if prev is None else combine(prev, rec, trust)
        now = utcnow()
        cols = [P.c.seq, *(P.c[n] for n in KNOWN_FIELDS)]
        for chunk in chunks(list(latest.values())):
            ids = [r.id for r in chunk]
            existing = {
                row.id: row for row in conn.execute(sa.select(P.c.id, *cols).where(P.c.id.in_(ids)))
            }
            new_rows = [_new_row(r, now) for r in chunk if r.id not in existing]
            if new_rows:
                conn.execute(self.db.insert(P).on_conflict_do_nothing(), new_rows)
                counts.inserted += len(new_rows)
            for rec in chunk:
                old = existing.get(rec.id)
                if old is None:
                    continue
                known = {n: getattr(old, n) for n in KNOWN_FIELDS}
                known["categories"] = split_words(known["categories"])
                changes = merge(known, rec, trust)
                if not changes:
                    counts.unchanged += 1
                    continue
                values = _columns(changes)
                values["modified_at"] = now
                conn.execute(P.update().where(P.c.seq == old.seq).values(**values))
                counts.updated += 1
        return counts

    def set_popularity(self, conn: Connection, rows: Sequence[Popularity]) -> None:
        """Record upvote counts from elsewhere (and the organization) for papers."""
        orgs = {
            r.organization: {
                "fullname": r.organization_fullname,
                "avatar_url": r.organization_avatar,
            }
            for r in rows
            if r.organization
        }
        org_ids = ensure_named(self.db, conn, t.organizations, orgs, key="name")
        for r in rows:
            values: dict[str, Any] = {"upvotes_external": max(0, int(r.upvotes))}
            if r.organization:
                values["organization_id"] = org_ids[r.organization]
            conn.execute(P.update().where(P.c.id == r.paper_id).values(**values))
        self.recount_upvotes(conn, [r.paper_id for r in rows])

    def recount_upvotes(self, conn: Connection, paper_ids: Sequence[str]) -> None:
        """upvotes = imported count + local votes, for these papers."""
        local = (
            sa.select(sa.func.count())
            .select_from(t.upvotes)
            .where(t.upvotes.c.paper_id == P.c.id)
            .scalar_subquery()
        )
        for chunk in chunks(list(dict.fromkeys(paper_ids))):
            conn.execute(
                P.update().where(P.c.id.in_(chunk)).values(upvotes=P.c.upvotes_external + local)
            )

    def delete(self, paper_id: str) -> bool:
        """Remove a paper with everything that refers to it: feed entry, upvotes, comments,
        authorship claims, star history, embeddings, thumbnails."""
        with self.db.begin() as conn:
            seq = sa.select(P.c.seq).where(P.c.id == paper_id).scalar_subquery()
            emb = t.paper_embeddings
            conn.execute(emb.delete().where(emb.c.paper_seq == seq))
            for table in (
                t.feed_entries,
                t.upvotes,
                t.authorship_claims,
                t.star_snapshots,
                t.paper_thumbnails,
            ):
                conn.execute(table.delete().where(table.c.paper_id == paper_id))
            conn.execute(t.comments.delete().where(t.comments.c.paper_id == paper_id))
            res = conn.execute(P.delete().where(P.c.id == paper_id))
        return res.rowcount > 0

    # -- reading -------------------------------------------------------------------------
    def get(self, paper_id: str) -> Paper | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(P).where(P.c.id == paper_id)).first()
        return paper(row) if row else None

    def count(self) -> int:
        return self.db.count("papers")

    def size_estimate(self) -> int:
        """The highest seq: how many papers were ever stored, an upper bound of ``count``
        read from the end of the key in microseconds, where counting reads every row
        (2.5 s at 3 million papers)."""
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(P.c.seq))).scalar() or 0)

    def seq_of(self, paper_id: str) -> int | None:
        with self.db.connect() as conn:
            return conn.execute(sa.select(P.c.seq).where(P.c.id == paper_id)).scalar()

    def has_primary_category(self, code: str) -> bool:
        """Whether some paper's primary category is this one, or in this archive (one
        probe of the primary-category index)."""
        held = P.c.primary_category == code
        if categories.is_archive(code):
            held = sa.or_(held, sa.and_(P.c.primary_category > code + ".",
                                        P.c.primary_category < code + "/"))  # fmt: skip
        with self.db.connect() as conn:
            return conn.execute(sa.select(P.c.seq).where(held).limit(1)).first() is not None

    def ids_of(self, seqs: Sequence[int]) -> dict[int, str]:
        """seq → arXiv id (unknown seqs left out)."""
        out: dict[int, str] = {}
        with self.db.connect() as conn:
            for chunk in chunks([int(s) for s in seqs]):
                q = sa.select(P.c.seq, P.c.id).where(P.c.seq.in_(chunk))
                out.update({seq: pid for seq, pid in conn.execute(q)})
        return out

    def known_ids(self, paper_ids: Sequence[str]) -> set[str]:
        """Which of these arXiv ids (versionless) the catalogue holds."""
        out: set[str] = set()
        with self.db.connect() as conn:
            for chunk in chunks(sorted(set(paper_ids))):
                out.update(conn.execute(sa.select(P.c.id).where(P.c.id.in_(chunk))).scalars())
        return out

    def by_dois(self, dois: Sequence[str]) -> dict[str, str]:
        """DOI (lower case) -> arXiv id of the paper holding it, DOIs compared without
        regard to case. Of two papers with one DOI, the older in the catalogue wins."""
        out: dict[str, str] = {}
        wanted = sorted({d.strip().lower() for d in dois if d and d.strip()})
        with self.db.connect() as conn:
            for chunk in chunks(wanted):
                q = (
                    sa.select(sa.func.lower(P.c.doi), P.c.id)
                    .where(sa.func.lower(P.c.doi).in_(chunk))
                    .order_by(P.c.seq.desc())
                )
                out.update({doi: pid for doi, pid in conn.execute(q)})
        return out

    def titles(self, seqs: Sequence[int]) -> dict[int, tuple[str, str, datetime | None]]:
        """seq -> (arXiv id, title, published), for matching titles."""
        out: dict[int, tuple[str, str, datetime | None]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(sorted({int(s) for s in seqs})):
                q = sa.select(P.c.seq, P.c.id, P.c.title, P.c.published).where(P.c.seq.in_(chunk))
                out.update({r.seq: (r.id, r.title, r.published) for r in conn.execute(q)})
        return out

    def texts(self, seqs: Sequence[int]) -> dict[int, PaperText]:
        out: dict[int, PaperText] = {}
        with self.db.connect() as conn:
            for chunk in chunks([int(s) for s in seqs]):
                q = sa.select(*TEXT).where(P.c.seq.in_(chunk))
                out.update({r.seq: PaperText(*r) for r in conn.execute(q)})
        return out

    def texts_by_id(self, paper_ids: Sequence[str]) -> dict[str, PaperText]:
        """arXiv id → the paper's text and seq (unknown ids left out)."""
        out: dict[str, PaperText] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(paper_ids))):
                q = sa.select(*TEXT).where(P.c.id.in_(chunk))
                out.update({r.id: PaperText(*r) for r in conn.execute(q)})
        return out

    def newest_texts(self, limit: int) -> list[PaperText]:
        """The texts of the ``limit`` papers added last."""
        q = sa.select(*TEXT).order_by(P.c.seq.desc())
        with self.db.connect() as conn:
            return [PaperText(*r) for r in conn.execute(q.limit(limit))]

    def texts_before(self, seq: int, limit: int) -> list[PaperText]:
        """The texts of the ``limit`` papers added last before paper ``seq`` (newest first):
        what a reader saw in the days before a feed whose first paper is ``seq``."""
        q = sa.select(*TEXT).where(P.c.seq < seq)
        with self.db.connect() as conn:
            return [PaperText(*r) for r in conn.execute(q.order_by(P.c.seq.desc()).limit(limit))]

    def sort_keys(self, seqs: Sequence[int]) -> dict[int, tuple[datetime | None, int]]:
        """seq → (published, upvotes), to order search results by date or votes."""
        out: dict[int, tuple[datetime | None, int]] = {}
        with self.db.connect() as conn:
            for chunk in chunks([int(s) for s in seqs]):
                q = sa.select(P.c.seq, P.c.published, P.c.upvotes).where(P.c.seq.in_(chunk))
                out.update({r.seq: (r.published, r.upvotes) for r in conn.execute(q)})
        return out

    def latest_published(self) -> datetime | None:
        with self.db.connect() as conn:
            return conn.execute(sa.select(sa.func.max(P.c.published))).scalar()

    # -- GitHub --------------------------------------------------------------------------
    def due_for_stars(self, limit: int, older_than: datetime) -> list[StarCheck]:
        """Papers with a repo whose stars were never checked or checked before ``older_than``."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(P.c.id, P.c.github_repo, P.c.github_etag, P.c.github_stars)
                .where(P.c.github_repo.is_not(None))
                .where(sa.or_(P.c.github_checked_at.is_(None), P.c.github_checked_at < older_than))
                .order_by(P.c.github_checked_at.is_not(None), P.c.github_checked_at, P.c.seq)
                .limit(limit)
            )
            return [model(StarCheck, r) for r in rows]

    def record_github(
        self,
        paper_id: str,
        *,
        stars: int | None,
        etag: str | None,
        repo: str | None = None,
        gone: bool = False,
    ) -> None:
        """What GitHub said of a paper's repository (``gone``: it no longer exists)."""
        values: dict[str, Any] = {"github_checked_at": utcnow(), "github_etag": etag}
        if gone:
            values.update(github_stars=None, github_etag=None)
        elif stars is not None:
            values["github_stars"] = stars
        if repo:
            values["github_repo"] = repo
        with self.db.begin() as conn:
            conn.execute(P.update().where(P.c.id == paper_id).values(**values))
            if stars is not None and not gone:  # history for the trending rank's star growth
                conn.execute(
                    self.db.insert(t.star_snapshots).on_conflict_do_nothing(),
                    {
                        "paper_id": paper_id,
                        "observed_at": values["github_checked_at"],
                        "stars": stars,
                    },
                )
