"""Thumbnails: the stored first-page images of papers, the failures waiting for a retry, and
which papers are due (newest first)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from ..core.clock import backoff_delay, utcnow
from ..core.models import RenderedPage, Thumbnail, ThumbnailState
from . import schema as t
from .common import Repository, model

P, F, T = t.papers, t.feed_entries, t.paper_thumbnails
MAX_WAIT = timedelta(days=30)


class ThumbnailRepo(Repository):
    def due(
        self,
        limit: int,
        *,
        feed_only: bool = True,
        retry_failed: bool = False,
        max_attempts: int | None = None,
        now: datetime | None = None,
    ) -> list[str]:
        """Papers to render, newest first: never tried, or failed and past their wait (any
        failed one with ``retry_failed``; below ``max_attempts`` failures otherwise)."""
        now = now or utcnow()
        if retry_failed:
            failed = T.c.status == "failed"
        else:
            failed = sa.and_(T.c.status == "failed", T.c.next_attempt_at <= now)
            if max_attempts:
                failed = sa.and_(failed, T.c.attempts < max_attempts)
        base = P.outerjoin(T, T.c.paper_id == P.c.id)
        if feed_only:
            base = base.join(F, F.c.paper_id == P.c.id)
        q = (
            sa.select(P.c.id)
            .select_from(base)
            .where(sa.or_(T.c.paper_id.is_(None), failed))
            .order_by(P.c.published.desc().nulls_last(), P.c.seq.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            return list(conn.execute(q).scalars())

    def save(self, paper_id: str, images: RenderedPage) -> bool:
        """Store a paper's images (replacing older ones); False if the paper is gone."""
        values = {
            "status": "ok",
            "etag": images.etag,
            "card": images.card,
            "card_width": images.card_size[0],
            "card_height": images.card_size[1],
            "page": images.page,
            "page_width": images.page_size[0],
            "page_height": images.page_size[1],
            "error": None,
            "next_attempt_at": None,
            "updated_at": utcnow(),
        }
        return self._put(paper_id, values)

    def fail(
        self, paper_id: str, reason: str, first_wait: timedelta, now: datetime | None = None
    ) -> int:
        """Record a failure; the paper is due again after ``first_wait``, doubled after each
        further failure (30 days at most). Returns the failures so far (0 if the paper is
        gone). A paper with images keeps them."""
        now = now or utcnow()
        with self.db.begin() as conn:
            if conn.execute(sa.select(P.c.id).where(P.c.id == paper_id)).first() is None:
                return 0
            row = conn.execute(
                sa.select(T.c.status, T.c.attempts).where(T.c.paper_id == paper_id)
            ).first()
            attempts = (row.attempts if row else 0) + 1
            wait = timedelta(
                seconds=backoff_delay(
                    attempts, first_wait.total_seconds(), MAX_WAIT.total_seconds()
                )
            )
            values = {
                "error": reason[:2000],
                "attempts": attempts,
                "next_attempt_at": now + wait,
                "updated_at": now,
            }
            if row is None:
                conn.execute(T.insert().values(paper_id=paper_id, status="failed", **values))
            elif row.status == "failed":
                conn.execute(T.update().where(T.c.paper_id == paper_id).values(**values))
        return attempts

    def _put(self, paper_id: str, values: dict[str, object]) -> bool:
        with self.db.begin() as conn:
            if conn.execute(sa.select(P.c.id).where(P.c.id == paper_id)).first() is None:
                return False
            stmt = (
                self.db.insert(T)
                .values(paper_id=paper_id, attempts=0, **values)
                .on_conflict_do_update(index_elements=[T.c.paper_id], set_=values)
            )
            conn.execute(stmt)
        return True

    def image(self, paper_id: str, size: str) -> Thumbnail | None:
        """One image of a rendered paper (``size``: card or page)."""
        data, width, height = T.c[size], T.c[f"{size}_width"], T.c[f"{size}_height"]
        q = sa.select(T.c.etag, data, width, height).where(
            T.c.paper_id == paper_id, T.c.status == "ok"
        )
        with self.db.connect() as conn:
            row = conn.execute(q).first()
        if row is None or row[1] is None:
            return None
        return Thumbnail(paper_id, size, bytes(row[1]), row[0], row[2], row[3])

    def state(self, paper_id: str) -> ThumbnailState | None:
        q = sa.select(
            T.c.paper_id, T.c.status, T.c.attempts, T.c.error, T.c.next_attempt_at, T.c.updated_at
        ).where(T.c.paper_id == paper_id)
        with self.db.connect() as conn:
            row = conn.execute(q).first()
        return model(ThumbnailState, row) if row else None

    def counts(self) -> dict[str, int]:
        """Papers per status (ok, failed)."""
        q = sa.select(T.c.status, sa.func.count()).group_by(T.c.status)
        with self.db.connect() as conn:
            return {status: int(n) for status, n in conn.execute(q)}
