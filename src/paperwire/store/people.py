"""Accounts' lifecycle: disable and enable an account, export everything kept about it, and
delete one as a tombstone that keeps every count exact (its upvotes and comments stay, under
a name that is nobody's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from ..core.clock import utcnow
from ..core.models import MentionCandidate, User
from . import schema as t
from .accounts import end_access
from .collections import CollectionRepo, delete_all
from .common import Repository, user_from
from .mail import DONE

DELETED = "deleted"  # users.origin of a deleted account's tombstone


STATUSES = ("all", "active", "disabled")
MAX_SUGGESTIONS = 8


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """The strings that start with ``prefix``, as a range of code points [low, high): high is
    ``prefix`` with its last character the next one (None: no string is above them all)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last < 0xE000:  # surrogates are no characters: the next one is past them
        last = 0xE000
    return prefix, (prefix[:-1] + chr(last)) if last <= 0x10FFFF else None


@dataclass(slots=True)
class Person:
    """An account as the administration lists it."""

    user: User
    last_seen: datetime | None  # its most recent session's
    sessions: int
    tokens: int


class PeopleRepo(Repository):
    def find(
        self, query: str = "", status: str = "all", limit: int = 50, offset: int = 0
    ) -> list[Person]:
        """Local accounts (deleted ones left out), newest first: those whose name, full name
        or address holds ``query`` (any case), of ``status`` (all, active, disabled), with
        when they were last seen and how many sessions and API tokens they hold."""
        u, ss, k = t.users, t.sessions, t.api_tokens
        seen = (
            sa.select(sa.func.max(ss.c.last_seen_at)).where(ss.c.user_id == u.c.id)
        ).scalar_subquery()
        n_sessions = (
            sa.select(sa.func.count()).select_from(ss).where(ss.c.user_id == u.c.id)
        ).scalar_subquery()
        n_tokens = (
            sa.select(sa.func.count()).select_from(k).where(k.c.user_id == u.c.id)
        ).scalar_subquery()
        stmt = sa.select(
            u, seen.label("last_seen"), n_sessions.label("n_sessions"), n_tokens.label("n_tokens")
        ).where(u.c.origin == "local")
        if query:
            needle = query.lower()
            stmt = stmt.where(
                sa.or_(
                    *(
                        sa.func.lower(col).contains(needle, autoescape=True)
                        for col in (u.c.username, u.c.fullname, u.c.email)
                    )
                )
            )
        if status != "all":
            stmt = stmt.where(u.c.is_active.is_(status == "active"))
        stmt = stmt.order_by(u.c.id.desc()).limit(limit).offset(offset)
        with self.db.engine.connect() as conn:
            return [
                Person(user_from(r), r.last_seen, int(r.n_sessions), int(r.n_tokens))
                for r in conn.execute(stmt)
            ]

    def mention_candidates(
        self, prefix: str, paper_id: str | None, exclude: int, limit: int = MAX_SUGGESTIONS
    ) -> list[MentionCandidate]:
        """Whom a comment on ``paper_id`` could @mention, by the start of their user name or
        display name (any case; on SQLite only ASCII letters change case), at most ``limit``:
        the paper's commenters and claimed authors first, then everyone else; user-name
        matches before display-name ones, then by user name. Only accounts a mention would
        tell (active and confirmed: never disabled, deleted or unconfirmed ones), never
        ``exclude`` (the asker). Each part reads a range of an index on the lower-case name
        (migration 0022) under its LIMIT, or one paper's discussion: never the whole table."""
        u, c, a = t.users, t.comments, t.authorship_claims
        limit = max(1, min(limit, MAX_SUGGESTIONS))
        low, high = prefix_range(prefix.lower())

        def key(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
            lowered = sa.func.lower(column)
            return lowered.collate("C") if self.db.dialect == "postgresql" else lowered

        def starts(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
            k = key(column)
            return sa.and_(k >= low, k < high) if high is not None else k >= low

        mentionable = [
            u.c.is_active.is_(True),
            u.c.origin != DELETED,
            sa.or_(u.c.confirmed_at.is_not(None), u.c.origin != "local"),
            u.c.id != exclude,
        ]
        by_name = starts(u.c.username)
        wanted = sa.select(u.c.id, u.c.username, u.c.fullname)
        parts: list[tuple[bool, sa.Select[Any]]] = []
        if paper_id is not None:
            shown = sa.and_(c.c.deleted.is_(False), c.c.hidden.is_(False))
            in_discussion = sa.union(
                sa.select(c.c.user_id).where(c.c.paper_id == paper_id, shown),
                sa.select(a.c.user_id).where(a.c.paper_id == paper_id, a.c.status == "approved"),
            )
            parts.append(
                (
                    True,
                    wanted.where(
                        u.c.id.in_(in_discussion),
                        sa.or_(by_name, starts(u.c.fullname)),
                        *mentionable,
                    ).order_by(sa.case((by_name, 0), else_=1), sa.func.lower(u.c.username)),
                )
            )
        parts.append((False, wanted.where(by_name, *mentionable).order_by(key(u.c.username))))
        parts.append(
            (False, wanted.where(starts(u.c.fullname), *mentionable).order_by(key(u.c.fullname)))
        )
        seen: set[int] = set()
        found: list[tuple[tuple[bool, bool, str], MentionCandidate]] = []
        with self.db.engine.connect() as conn:
            for first, stmt in parts:
                for row in conn.execute(stmt.limit(limit)):
                    if row.id in seen:
                        continue
                    seen.add(row.id)
                    name_first = row.username.lower().startswith(prefix.lower())
                    rank = (not first, not name_first, row.username.lower())
                    found.append((rank, MentionCandidate(row.username, row.fullname, first)))
        found.sort(key=lambda item: item[0])
        return [candidate for _, candidate in found[:limit]]

    def set_active(self, user_id: int, active: bool) -> bool:
        """Enable or disable a local account; disabling ends its sessions and API tokens
        (their lookups also require an active user). False when there is no such account."""
        u = t.users
        with self.db.begin() as conn:
            res = conn.execute(
                u.update().where(u.c.id == user_id, u.c.origin == "local").values(is_active=active)
            )
            if res.rowcount != 1:
                return False
            if not active:
                end_access(conn, user_id, tokens=True)
        return True

    def delete(self, user_id: int) -> bool:
        """Delete a local account in one transaction. What identifies the person goes: name,
        address, password, profile, sessions, tokens, second factor, authorship claims,
        organization memberships, collections, feedback signals, For-you topics and
        visits; their subscriptions stop and forget the address. The row stays as a
        tombstone ("deleted-ID", origin "deleted", inactive) so that the upvotes, comments
        and reactions it made still count: every paper's count stays exact."""
        u, s = t.users, t.subscriptions
        now = utcnow()
        with self.db.begin() as conn:
            email = conn.execute(sa.select(u.c.email).where(u.c.id == user_id)).scalar()
            theirs = s.c.user_id == user_id
            if email:
                theirs = sa.or_(theirs, s.c.email == email)
            res = conn.execute(
                u.update()
                .where(u.c.id == user_id, u.c.origin == "local")
                .values(
                    username=f"deleted-{user_id}",
                    email=None,
                    password_hash=None,
                    fullname=None,
                    bio=None,
                    avatar_url=None,
                    timezone=None,
                    role="user",
                    is_active=False,
                    origin=DELETED,
                )
            )
            if res.rowcount != 1:
                return False
            end_access(conn, user_id, tokens=True)  # sessions, tokens, links: as on disabling
            for table in (
                t.recovery_codes,
                t.two_factor,
                t.authorship_claims,
                t.organization_members,
                t.user_paper_signals,
                t.reader_topics,
                t.reader_visits,
                t.notifications,
            ):
                conn.execute(table.delete().where(table.c.user_id == user_id))
            delete_all(conn, user_id)
            conn.execute(
                t.deliveries.update()
                .where(
                    t.deliveries.c.subscription_id.in_(sa.select(s.c.id).where(theirs)),
                    t.deliveries.c.status.not_in(DONE),
                )
                .values(status="cancelled")
            )
            conn.execute(
                s.update()
                .where(theirs)
                .values(
                    email=f"deleted-{user_id}@invalid",
                    status="unsubscribed",
                    unsubscribed_at=now,
                    updated_at=now,
                )
            )
        return True

    def export(self, user_id: int) -> dict[str, Any]:
        """Everything the site keeps about an account, as JSON-ready data (never a password
        hash, a token hash or a second factor's secret)."""
        u = t.users
        with self.db.engine.connect() as conn:
            person = conn.execute(sa.select(u).where(u.c.id == user_id)).first()
            if person is None:
                return {}

            def rows(stmt: Any) -> list[dict[str, Any]]:
                return [_plain(dict(r._mapping)) for r in conn.execute(stmt)]

            g = t.user_paper_signals
            c, v, f, s = t.comments, t.upvotes, t.feed_entries, t.subscriptions
            a, o, m = t.authorship_claims, t.organizations, t.organization_members
            k, ss, r = t.api_tokens, t.sessions, t.comment_reactions
            email = person.email
            theirs = s.c.user_id == user_id
            if email:
                theirs = sa.or_(theirs, s.c.email == email)
            return {
                "profile": _plain(
                    {
                        key: getattr(person, key)
                        for key in (
                            "username",
                            "email",
                            "fullname",
                            "bio",
                            "role",
                            "timezone",
                            "notify_email",
                            "created_at",
                            "confirmed_at",
                        )
                    }
                ),
                "comments": rows(
                    sa.select(c.c.id, c.c.paper_id, c.c.parent_id, c.c.body, c.c.created_at)
                    .where(c.c.user_id == user_id, c.c.deleted.is_(False))
                    .order_by(c.c.id)
                ),
                "upvotes": rows(
                    sa.select(v.c.paper_id, v.c.created_at)
                    .where(v.c.user_id == user_id)
                    .order_by(v.c.created_at)
                ),
                "reactions": rows(
                    sa.select(r.c.comment_id, r.c.reaction, r.c.created_at)
                    .where(r.c.user_id == user_id)
                    .order_by(r.c.created_at)
                ),
                "submissions": rows(
                    sa.select(f.c.paper_id, f.c.feed_date, f.c.submitted_at)
                    .where(f.c.submitted_by == user_id)
                    .order_by(f.c.feed_date)
                ),
                "subscriptions": rows(
                    sa.select(
                        s.c.email,
                        s.c.kind,
                        s.c.query,
                        s.c.frequency,
                        s.c.timezone,
                        s.c.status,
                        s.c.created_at,
                    )
                    .where(theirs)
                    .order_by(s.c.id)
                ),
                "api_tokens": rows(
                    sa.select(
                        k.c.name,
                        k.c.prefix,
                        k.c.scopes,
                        k.c.created_at,
                        k.c.expires_at,
                        k.c.last_used_at,
                    )
                    .where(k.c.user_id == user_id)
                    .order_by(k.c.id)
                ),
                "sessions": rows(
                    sa.select(ss.c.user_agent, ss.c.ip, ss.c.created_at, ss.c.last_seen_at)
                    .where(ss.c.user_id == user_id)
                    .order_by(ss.c.id)
                ),
                "authorship_claims": rows(
                    sa.select(a.c.paper_id, a.c.author_name, a.c.status, a.c.created_at)
                    .where(a.c.user_id == user_id)
                    .order_by(a.c.id)
                ),
                "organizations": rows(
                    sa.select(o.c.name, m.c.role, m.c.created_at)
                    .join(o, o.c.id == m.c.organization_id)
                    .where(m.c.user_id == user_id)
                    .order_by(o.c.name)
                ),
                "collections": CollectionRepo(self.db).export(user_id),
                "signals": rows(
                    sa.select(g.c.paper_id, g.c.kind, g.c.created_at)
                    .where(g.c.user_id == user_id)
                    .order_by(g.c.created_at, g.c.paper_id)
                ),
                "topics": rows(
                    sa.select(t.reader_topics.c.topic, t.reader_topics.c.created_at)
                    .where(t.reader_topics.c.user_id == user_id)
                    .order_by(t.reader_topics.c.created_at, t.reader_topics.c.topic)
                ),
                "notifications": rows(
                    sa.select(
                        t.notifications.c.kind,
                        t.notifications.c.comment_id,
                        t.notifications.c.created_at,
                        t.notifications.c.read_at,
                        t.notifications.c.emailed_at,
                    )
                    .where(t.notifications.c.user_id == user_id)
                    .order_by(t.notifications.c.id)
                ),
            }


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Dates and times as ISO 8601 text (times are UTC: with ``Z``)."""
    return {k: _iso(v) if isinstance(v, date | datetime) else v for k, v in values.items()}


def _iso(value: date | datetime) -> str:
    naive_utc = isinstance(value, datetime) and value.tzinfo is None
    return value.isoformat() + ("Z" if naive_utc else "")
