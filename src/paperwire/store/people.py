"""Accounts' lifecycle: disable and enable an account, and delete one as a tombstone that
keeps every count exact (its upvotes and comments stay, under a name that is nobody's)."""

from __future__ import annotations

import sqlalchemy as sa

from ..core.clock import utcnow
from . import schema as t
from .common import Repository
from .mail import DONE

DELETED = "deleted"  # users.origin of a deleted account's tombstone


class PeopleRepo(Repository):
    def set_active(self, user_id: int, active: bool) -> bool:
        """Enable or disable a local account; disabling ends its sessions and API tokens
        (their lookups also require an active user). False when there is no such account."""
        u = t.users
        with self.db.engine.begin() as conn:
            res = conn.execute(
                u.update().where(u.c.id == user_id, u.c.origin == "local").values(is_active=active)
            )
            if res.rowcount != 1:
                return False
            if not active:
                conn.execute(t.sessions.delete().where(t.sessions.c.user_id == user_id))
                conn.execute(t.api_tokens.delete().where(t.api_tokens.c.user_id == user_id))
        return True

    def delete(self, user_id: int) -> bool:
        """Delete a local account in one transaction. What identifies the person goes: name,
        address, password, profile, sessions, tokens, second factor, authorship claims,
        organization memberships; their subscriptions stop and forget the address. The row
        stays as a tombstone ("deleted-ID", origin "deleted", inactive) so that the upvotes,
        comments and reactions it made still count: every paper's count stays exact."""
        u, s = t.users, t.subscriptions
        now = utcnow()
        with self.db.engine.begin() as conn:
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
                    session_version=u.c.session_version + 1,
                )
            )
            if res.rowcount != 1:
                return False
            for table in (
                t.sessions,
                t.api_tokens,
                t.recovery_codes,
                t.two_factor,
                t.authorship_claims,
                t.organization_members,
            ):
                conn.execute(table.delete().where(table.c.user_id == user_id))
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
