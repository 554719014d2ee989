"""E-mail: subscriptions, deliveries (one row per subscription and period: what makes sending
idempotent), the papers each subscriber was already sent, and the new papers of a window."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..core.clock import utcnow
from ..core.models import Delivery, PaperText, Subscription
from . import schema as t
from .common import Repository, chunks, model

S, D, SENT, P, U = t.subscriptions, t.deliveries, t.sent_papers, t.papers, t.users
LIVE = ("pending", "confirmed")
FOR_YOU = "foryou"  # tied to an account: mailed to its current address while it is active
# A delivery in one of these states is finished: a run never sends it again.
DONE = ("sent", "empty", "bounced", "abandoned", "cancelled")


@dataclass(frozen=True)
class Claim:
    """A delivery to claim: its subscription and period, window, papers (``[paper id,
    why]`` pairs) and Message-ID."""

    sub_id: int
    period: str
    window: tuple[datetime, datetime]
    picks: list[list[str]]
    message_id: str


def new_key() -> str:
    return secrets.token_hex(16)


def _sub(row: Any) -> Subscription:
    return model(Subscription, row)


def _delivery(row: Any) -> Delivery:
    return model(Delivery, row, paper_ids=row.paper_ids or [])


def _with_account_address() -> sa.Select[Any]:
    """Subscriptions, For-you ones with their account's current address (an account whose
    address changed gets its For-you digest at the new one)."""
    email = sa.case((S.c.kind == FOR_YOU, sa.func.coalesce(U.c.email, S.c.email)), else_=S.c.email)
    columns = [email.label("email") if c.name == "email" else c for c in S.c]
    return sa.select(*columns).select_from(S.outerjoin(U, U.c.id == S.c.user_id))


class MailRepo(Repository):
    # -- subscriptions -------------------------------------------------------------------
    def for_you_subscription(self, user_id: int) -> Subscription | None:
        """The account's For-you digest (its latest, whatever its state), if it ever had
        one."""
        q = _with_account_address().where(S.c.kind == FOR_YOU, S.c.user_id == user_id)
        with self.db.engine.connect() as conn:
            row = conn.execute(q.order_by(S.c.id.desc())).first()
        return _sub(row) if row else None

    def find_subscription(self, email: str, kind: str, query: str | None) -> Subscription | None:
        """The subscription of ``email`` to the same thing (topic queries compared without
        case or surrounding spaces)."""
        cond = [S.c.email == email, S.c.kind == kind]
        if kind == "topic":
            cond.append(sa.func.lower(S.c.query) == (query or "").strip().lower())
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(S).where(*cond).order_by(S.c.id.desc())).first()
        return _sub(row) if row else None

    def create_subscription(
        self,
        email: str,
        kind: str,
        query: str | None,
        frequency: str,
        timezone: str,
        *,
        user_id: int | None = None,
        confirmed: bool = False,
    ) -> Subscription:
        now = utcnow()
        values = dict(
            email=email,
            kind=kind,
            query=query if kind == "topic" else None,
            frequency=frequency,
            timezone=timezone,
            user_id=user_id,
            status="confirmed" if confirmed else "pending",
            confirmed_at=now if confirmed else None,
            confirm_nonce=None if confirmed else new_key(),
            manage_nonce=new_key(),
            created_at=now,
            updated_at=now,
        )
        with self.db.begin() as conn:
            row = conn.execute(S.insert().values(**values).returning(*S.c)).one()
        return _sub(row)

    def restart_subscription(
        self,
        sub_id: int,
        frequency: str,
        timezone: str,
        *,
        user_id: int | None = None,
        confirmed: bool = False,
    ) -> Subscription:
        """A pending, stopped or bouncing subscription asked for again: it waits for a new
        confirmation (the old confirmation links stop working), unless ``confirmed``."""
        now = utcnow()
        values: dict[str, Any] = dict(
            frequency=frequency,
            timezone=timezone,
            status="confirmed" if confirmed else "pending",
            confirm_nonce=None if confirmed else new_key(),
            updated_at=now,
            bounce_count=0,
            unsubscribed_at=None,
        )
        if confirmed:
            values["confirmed_at"] = now
        if user_id is not None:
            values["user_id"] = user_id
        with self.db.begin() as conn:
            row = conn.execute(
                S.update().where(S.c.id == sub_id).values(**values).returning(*S.c)
            ).one()
        return _sub(row)

    def get_subscription(self, sub_id: int) -> Subscription | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(_with_account_address().where(S.c.id == sub_id)).first()
        return _sub(row) if row else None

    def confirm_subscription(self, sub_id: int, nonce: str) -> bool:
        """Single use: the nonce of the link is cleared by the first confirmation."""
        if not nonce:
            return False
        now = utcnow()
        with self.db.begin() as conn:
            res = conn.execute(
                S.update()
                .where(S.c.id == sub_id, S.c.confirm_nonce == nonce, S.c.status == "pending")
                .values(status="confirmed", confirmed_at=now, confirm_nonce=None, updated_at=now)
            )
        return res.rowcount == 1

    def update_subscription(self, sub_id: int, **values: Any) -> None:
        allowed = {"kind", "query", "frequency", "timezone", "query_vector", "query_model"}
        bad = set(values) - allowed
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        with self.db.begin() as conn:
            conn.execute(S.update().where(S.c.id == sub_id).values(**values, updated_at=utcnow()))

    def stop_subscription(self, sub_id: int) -> bool:
        """Unsubscribe; True when it was live. Deliveries not yet sent are cancelled."""
        now = utcnow()
        with self.db.begin() as conn:
            res = conn.execute(
                S.update()
                .where(S.c.id == sub_id, S.c.status.in_(LIVE + ("bouncing",)))
                .values(status="unsubscribed", unsubscribed_at=now, updated_at=now)
            )
            conn.execute(
                D.update()
                .where(D.c.subscription_id == sub_id, D.c.status.not_in(DONE))
                .values(status="cancelled")
            )
        return res.rowcount == 1

    def subscriptions_of(self, user_id: int, email: str | None) -> list[Subscription]:
        cond = S.c.user_id == user_id
        if email:
            cond = sa.or_(cond, S.c.email == email)
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                _with_account_address().where(cond, S.c.status != "unsubscribed").order_by(S.c.id)
            )
            return [_sub(r) for r in rows]

    def active_subscriptions(self) -> list[Subscription]:
        """Every confirmed subscription (the ones digests go to); a For-you digest only while
        its account is active and has an address (a disabled account gets nothing)."""
        account_ok = sa.or_(
            S.c.kind != FOR_YOU, sa.and_(U.c.is_active.is_(True), U.c.email.is_not(None))
        )
        q = _with_account_address().where(S.c.status == "confirmed", account_ok)
        with self.db.engine.connect() as conn:
            rows = conn.execute(q.order_by(S.c.id))
            return [_sub(r) for r in rows]

    def mark_bouncing(self, sub_id: int, error: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                S.update()
                .where(S.c.id == sub_id)
                .values(
                    status="bouncing",
                    bounce_count=S.c.bounce_count + 1,
                    last_error=error[:2000],
                    updated_at=utcnow(),
                )
            )

    # -- deliveries ----------------------------------------------------------------------
    def deliveries_for(self, periods: Sequence[str]) -> dict[tuple[int, str], Delivery]:
        """Existing deliveries of these periods, by (subscription id, period)."""
        out: dict[tuple[int, str], Delivery] = {}
        with self.db.engine.connect() as conn:
            for chunk in chunks(sorted(set(periods))):
                for row in conn.execute(sa.select(D).where(D.c.period.in_(chunk))):
                    out[(row.subscription_id, row.period)] = _delivery(row)
        return out

    def last_windows(self, sub_ids: Sequence[int]) -> dict[int, datetime]:
        """Per subscription, the end of the latest window it was served (sent or empty)."""
        out: dict[int, datetime] = {}
        with self.db.engine.connect() as conn:
            for chunk in chunks(list(sub_ids)):
                q = (
                    sa.select(D.c.subscription_id, sa.func.max(D.c.window_end))
                    .where(D.c.subscription_id.in_(chunk), D.c.status.in_(("sent", "empty")))
                    .group_by(D.c.subscription_id)
                )
                out.update({s: w for s, w in conn.execute(q) if w is not None})
        return out

    def claim_delivery(
        self,
        sub_id: int,
        period: str,
        window: tuple[datetime, datetime],
        picks: list[list[str]],
        message_id: str,
    ) -> Delivery:
        """The delivery of ``period`` to this subscription: created with these papers
        (``[paper id, why]`` pairs), or the one an earlier (perhaps interrupted) run created —
        its papers and Message-ID win, so a resent message is the same message."""
        claim = Claim(sub_id, period, window, picks, message_id)
        return self.claim_deliveries([claim])[(sub_id, period)]

    def claim_deliveries(self, claims: Sequence[Claim]) -> dict[tuple[int, str], Delivery]:
        """:meth:`claim_delivery` for many in one transaction, by (subscription id,
        period)."""
        if not claims:
            return {}
        now = utcnow()
        rows = [
            dict(
                subscription_id=c.sub_id,
                period=c.period,
                status="pending" if c.picks else "empty",
                paper_ids=c.picks,
                message_id=c.message_id,
                window_start=c.window[0],
                window_end=c.window[1],
                created_at=now,
            )
            for c in claims
        ]
        wanted = {(c.sub_id, c.period) for c in claims}
        out: dict[tuple[int, str], Delivery] = {}
        with self.db.begin() as conn:
            insert = self.db.insert(D).on_conflict_do_nothing(
                index_elements=[D.c.subscription_id, D.c.period]
            )
            conn.execute(insert, rows)
            periods = sorted({c.period for c in claims})
            for chunk in chunks(sorted({c.sub_id for c in claims})):
                q = sa.select(D).where(D.c.subscription_id.in_(chunk), D.c.period.in_(periods))
                for row in conn.execute(q):
                    if (row.subscription_id, row.period) in wanted:
                        out[(row.subscription_id, row.period)] = _delivery(row)
        return out

    def mark_sent(self, delivery_id: int, sub_id: int, paper_ids: Sequence[str]) -> None:
        """One transaction: the delivery is sent and its papers are never offered again."""
        with self.db.begin() as conn:
            conn.execute(
                D.update()
                .where(D.c.id == delivery_id)
                .values(
                    status="sent",
                    sent_at=utcnow(),
                    attempts=D.c.attempts + 1,
                    last_error=None,
                    next_attempt_at=None,
                )
            )
            rows = [
                {"subscription_id": sub_id, "paper_id": p, "delivery_id": delivery_id}
                for p in dict.fromkeys(paper_ids)
            ]
            if rows:
                conn.execute(self.db.insert(SENT).on_conflict_do_nothing(), rows)

    def mark_failed(
        self, delivery_id: int, error: str, *, status: str, retry_after: float | None = None
    ) -> None:
        """``status``: 'retry' (temporary; tried again from ``retry_after`` seconds on),
        'bounced' or 'abandoned'."""
        nxt = utcnow() + timedelta(seconds=retry_after) if retry_after is not None else None
        with self.db.begin() as conn:
            conn.execute(
                D.update()
                .where(D.c.id == delivery_id)
                .values(
                    status=status,
                    attempts=D.c.attempts + 1,
                    last_error=error[:2000],
                    next_attempt_at=nxt,
                )
            )

    def unfinished_deliveries(self) -> list[Delivery]:
        """Deliveries started but not finished (an interrupted run, temporary failures) of
        subscriptions still confirmed, oldest first."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(D)
                .join(S, S.c.id == D.c.subscription_id)
                .where(D.c.status.in_(("pending", "retry")), S.c.status == "confirmed")
                .order_by(D.c.id)
            )
            return [_delivery(r) for r in rows]

    def delivery_counts(self) -> dict[str, int]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(D.c.status, sa.func.count()).group_by(D.c.status))
            return {s: n for s, n in rows}

    def sent_paper_ids(self, sub_ids: Sequence[int]) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {s: set() for s in sub_ids}
        with self.db.engine.connect() as conn:
            for chunk in chunks(list(sub_ids)):
                q = sa.select(SENT.c.subscription_id, SENT.c.paper_id).where(
                    SENT.c.subscription_id.in_(chunk)
                )
                for sid, pid in conn.execute(q):
                    out[sid].add(pid)
        return out

    # -- papers of a window --------------------------------------------------------------
    def new_papers(self, start: datetime, end: datetime, grace_days: int = 7) -> list[PaperText]:
        """Papers new in [start, end): published then, or arrived here then while published
        at most ``grace_days`` before or on an unknown date (so that papers fetched late still
        count, but a bulk import of old papers does not)."""
        published = sa.and_(P.c.published >= start, P.c.published < end)
        arrived = sa.and_(
            P.c.created_at >= start,
            P.c.created_at < end,
            sa.or_(P.c.published.is_(None), P.c.published >= start - timedelta(days=grace_days)),
        )
        q = (
            sa.select(P.c.seq, P.c.id, P.c.title, P.c.abstract)
            .where(sa.or_(published, arrived))
            .order_by(P.c.seq)
        )
        with self.db.engine.connect() as conn:
            return [model(PaperText, r) for r in conn.execute(q)]
