"""Server-side sessions: a signed-in browser is a row, found by the SHA-256 of the random
token its cookie holds. Sign-out deletes the row; Settings lists a user's sessions (device,
address, age) and revokes them one by one (AccountRepo.end_sessions ends them all)."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

import sqlalchemy as sa

from ..core.clock import utcnow
from ..core.models import Session, User
from ..core.signing import new_session_token, token_hash
from . import schema as t
from .common import Repository, model, user_from
from .database import best_effort
from .notifications import unread_count

# last_seen_at is rewritten at most this often: a page view is a read, and mostly stays one.
TOUCH_EVERY = timedelta(minutes=10)
_SESSION_COLUMNS = (
    t.sessions.c.id.label("session_id"),
    t.sessions.c.last_seen_at.label("session_seen"),
    unread_count(t.users.c.id).label("unread"),
)
# Every signed-in request: the session's user and their unread notifications (the header
# shows the count), in one statement made once.
_USER_BY_SESSION = (
    sa.select(t.users, *_SESSION_COLUMNS)
    .join(t.sessions, t.sessions.c.user_id == t.users.c.id)
    .where(
        t.sessions.c.token_hash == sa.bindparam("digest"),
        t.sessions.c.expires_at > sa.bindparam("now"),
        t.users.c.is_active.is_(True),
    )
)


class SignedIn(NamedTuple):
    user: User
    session_id: int
    unread: int  # notifications


class SessionRepo(Repository):
    def create(
        self, user_id: int, max_age: int, *, ip: str | None = None, agent: str | None = None
    ) -> str:
        """A new session of ``user_id``; returns the token for the cookie (kept only hashed)."""
        token = new_session_token()
        now = utcnow()
        with self.db.begin() as conn:
            conn.execute(
                t.sessions.insert().values(
                    user_id=user_id,
                    token_hash=token_hash(token),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(seconds=max_age),
                    ip=(ip or "")[:64] or None,
                    user_agent=(agent or "")[:200] or None,
                )
            )
            # Each sign-in also clears the sessions that ran out (anyone's).
            conn.execute(t.sessions.delete().where(t.sessions.c.expires_at < now))
        return token

    def user_for(self, token: str) -> SignedIn | None:
        """The active user a session token signs in, the session's id and the user's unread
        notifications; None when the session was signed out, revoked, expired, or its user
        disabled."""
        if not token or len(token) > 200:
            return None
        now = utcnow()
        with self.db.engine.connect() as conn:
            row = conn.execute(_USER_BY_SESSION, {"digest": token_hash(token), "now": now}).first()
        if row is None:
            return None
        if now - row.session_seen > TOUCH_EVERY:
            self._touch(row.session_id, now)
        return SignedIn(user_from(row), int(row.session_id), int(row.unread or 0))

    def _touch(self, session_id: int, now: object) -> None:
        """Record that the session was seen: best effort, a storage that refuses writes
        (read-only, full) does not stop the visitor's read."""
        best_effort(
            self.db,
            lambda conn: conn.execute(
                t.sessions.update().where(t.sessions.c.id == session_id).values(last_seen_at=now)
            ),
            "session last seen",
        )

    def of_user(self, user_id: int) -> list[Session]:
        """A user's live sessions, the most recently seen first."""
        s = t.sessions
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    s.c.id,
                    s.c.user_id,
                    s.c.created_at,
                    s.c.last_seen_at,
                    s.c.expires_at,
                    s.c.ip,
                    s.c.user_agent,
                )
                .where(s.c.user_id == user_id, s.c.expires_at > utcnow())
                .order_by(s.c.last_seen_at.desc(), s.c.id.desc())
                .limit(100)
            )
            return [model(Session, r) for r in rows]

    def revoke(self, user_id: int, session_id: int) -> bool:
        """End one session of ``user_id`` (another user's id ends nothing)."""
        with self.db.begin() as conn:
            res = conn.execute(
                t.sessions.delete().where(
                    t.sessions.c.id == session_id, t.sessions.c.user_id == user_id
                )
            )
        return res.rowcount == 1
