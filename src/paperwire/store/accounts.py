"""Accounts: users, API tokens, rate limits, instance metadata, authorship claims and
organizations. Passwords arrive already hashed (:mod:`paperwire.core.passwords`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.clock import utcnow
from ..core.models import ROLES, TOKEN_SCOPES, ApiToken, Claim, Organization, User
from ..core.signing import new_api_token, new_secret, token_hash
from . import schema as t
from .common import Repository, model, user_from
from .database import best_effort

# The signed-in visitor of every request, by id.
_USER_BY_ID = sa.select(t.users).where(t.users.c.id == sa.bindparam("id"))
# Every API request: the token's user, in one statement made once.
_USER_BY_TOKEN = (
    sa.select(
        t.users,
        t.api_tokens.c.id.label("token_id"),
        t.api_tokens.c.scopes.label("token_scopes"),
        t.api_tokens.c.last_used_at.label("token_used"),
    )
    .join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id)
    .where(
        t.api_tokens.c.token_hash == sa.bindparam("digest"),
        sa.or_(
            t.api_tokens.c.expires_at.is_(None), t.api_tokens.c.expires_at > sa.bindparam("now")
        ),
        t.users.c.is_active.is_(True),
    )
)
TOKEN_TOUCH_EVERY = timedelta(minutes=5)


class AccountRepo(Repository):
    # -- instance metadata ----------------------------------------------------------------
    def meta(self, key: str, default_factory: Callable[[], str] | None = None) -> str | None:
        """A value of the instance (e.g. its signing key); created once by ``default_factory``
        so that every process sharing the database agrees on it."""
        with self.db.begin() as conn:
            value = conn.execute(
                sa.select(t.site_meta.c.value).where(t.site_meta.c.key == key)
            ).scalar()
            if value is not None or default_factory is None:
                return value
            conn.execute(
                self.db.insert(t.site_meta).on_conflict_do_nothing(),
                {"key": key, "value": default_factory()},
            )
            return str(
                conn.execute(
                    sa.select(t.site_meta.c.value).where(t.site_meta.c.key == key)
                ).scalar_one()
            )

    def set_meta(self, key: str, value: str) -> None:
        """Keep a value of the instance, replacing the one kept before."""
        m = t.site_meta
        stmt = self.db.insert(m).values(key=key, value=value)
        stmt = stmt.on_conflict_do_update(index_elements=[m.c.key], set_={"value": value})
        with self.db.begin() as conn:
            conn.execute(stmt)

    def instance_secret(self, configured: str = "") -> str:
        """The key that signs sessions and links: ``configured``, or one generated once and
        kept in the database, so that the site, workers and the CLI's e-mails agree."""
        return configured or self.meta("secret_key", new_secret) or ""

    # -- users ---------------------------------------------------------------------------
    def create_user(
        self,
        username: str,
        email: str | None,
        password_hash: str | None,
        *,
        role: str = "user",
        fullname: str | None = None,
        confirmed: bool = True,
    ) -> int | None:
        """Insert a local account; None when the username or email is taken."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        now = utcnow()
        try:
            with self.db.begin() as conn:
                if self._name_taken(conn, username, email):
                    return None
                self._drop_unconfirmed(conn, username, email)
                new_id = conn.execute(
                    t.users.insert()
                    .values(
                        username=username,
                        email=email.lower() if email else None,
                        password_hash=password_hash,
                        fullname=fullname,
                        role=role,
                        is_active=confirmed,
                        confirmed_at=now if confirmed else None,
                        origin="local",
                        created_at=now,
                    )
                    .returning(t.users.c.id)
                ).scalar_one()
                return int(new_id)
        except sa.exc.IntegrityError:
            return None

    def _name_taken(self, conn: Connection, username: str | None, email: str | None) -> bool:
        """Whether an account holds the name or the address. Accounts left unconfirmed by
        earlier versions (sign-up made them before the address was confirmed) hold nothing."""
        u = t.users
        conds = []
        if username:
            conds.append(sa.func.lower(u.c.username) == username.lower())
        if email:
            conds.append(u.c.email == email.lower())
        if not conds:
            return False
        holds = sa.or_(u.c.confirmed_at.is_not(None), u.c.origin != "local")
        found = conn.execute(sa.select(u.c.id).where(sa.or_(*conds), holds).limit(1)).first()
        return found is not None

    def _drop_unconfirmed(self, conn: Connection, username: str, email: str | None) -> None:
        """Remove the unconfirmed accounts (of earlier versions) that hold ``username`` or
        ``email``: the sign-up being confirmed now wins them."""
        u = t.users
        cond = sa.func.lower(u.c.username) == username.lower()
        if email:
            cond = sa.or_(cond, u.c.email == email.lower())
        conn.execute(u.delete().where(cond, u.c.confirmed_at.is_(None), u.c.origin == "local"))

    def change_email(self, user_id: int, old: str, new: str) -> bool:
        """Move an account from address ``old`` to ``new`` (its owner opened the link sent to
        ``new``). False when the account no longer has ``old`` (the link was used, or the
        address changed since) or another account holds ``new``."""
        u, new = t.users, new.lower()
        try:
            with self.db.begin() as conn:
                if self._name_taken(conn, None, new):
                    return False
                conn.execute(  # an unconfirmed account of earlier versions holds nothing
                    u.delete().where(
                        u.c.email == new,
                        u.c.confirmed_at.is_(None),
                        u.c.origin == "local",
                        u.c.id != user_id,
                    )
                )
                res = conn.execute(
                    u.update().where(u.c.id == user_id, u.c.email == old).values(email=new)
                )
                return res.rowcount == 1
        except sa.exc.IntegrityError:  # the address was taken meanwhile
            return False

    def username_taken(self, username: str) -> bool:
        with self.db.engine.connect() as conn:
            return self._name_taken(conn, username, None)

    def address_taken(self, email: str) -> bool:
        """Whether an account has the address (used to tell a used sign-up link)."""
        if "\x00" in email:
            return False
        with self.db.engine.connect() as conn:
            return self._name_taken(conn, None, email)

    def get_user(
        self, *, id: int | None = None, username: str | None = None, login: str | None = None
    ) -> User | None:
        """One user by id, exact username, or ``login`` (username or email, any case)."""
        u = t.users
        if "\x00" in (username or "") + (login or ""):
            return None  # no name or address holds one (and PostgreSQL refuses it in text)
        if id is not None:  # every signed-in request: a statement made once
            with self.db.engine.connect() as conn:
                row = conn.execute(_USER_BY_ID, {"id": id}).first()
            return model(User, row) if row else None
        if username is not None:
            cond = u.c.username == username
        elif login is not None:
            low = login.strip().lower()
            cond = sa.or_(sa.func.lower(u.c.username) == low, u.c.email == low)
        else:
            raise ValueError("give id, username or login")
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(u).where(cond).order_by(u.c.id).limit(1)).first()
        return model(User, row) if row else None

    def existing_usernames(self, names: list[str]) -> set[str]:
        if not names:
            return set()
        with self.db.engine.connect() as conn:
            return set(
                conn.execute(
                    sa.select(t.users.c.username).where(t.users.c.username.in_(names[:100]))
                ).scalars()
            )

    def update_user(self, user_id: int, **values: Any) -> None:
        allowed = {
            "fullname",
            "bio",
            "avatar_url",
            "role",
            "email",
            "password_hash",
            "timezone",
            "notify_email",
        }
        bad = set(values) - allowed
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        if "role" in values and values["role"] not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        with self.db.begin() as conn:
            conn.execute(t.users.update().where(t.users.c.id == user_id).values(**values))

    def confirm_user(self, user_id: int) -> bool:
        """Mark an account made unconfirmed as confirmed and active; False if it was already."""
        with self.db.begin() as conn:
            res = conn.execute(
                t.users.update()
                .where(t.users.c.id == user_id, t.users.c.confirmed_at.is_(None))
                .values(is_active=True, confirmed_at=utcnow())
            )
        return res.rowcount == 1

    def set_password(self, user_id: int, password_hash: str) -> None:
        """Change the password and end every session and reset link issued before."""
        with self.db.begin() as conn:
            conn.execute(
                t.users.update()
                .where(t.users.c.id == user_id)
                .values(
                    password_hash=password_hash,
                    session_version=t.users.c.session_version + 1,
                )
            )

    def end_sessions(self, user_id: int) -> None:
        """End every session of the user and void every link and form bound to the account
        as it was (reset links, two-factor steps carry its session_version)."""
        with self.db.begin() as conn:
            end_access(conn, user_id, tokens=False)

    # -- API tokens ----------------------------------------------------------------------
    def create_token(
        self,
        user_id: int,
        name: str,
        scopes: Sequence[str] = ("read", "write"),
        expires_at: datetime | None = None,
    ) -> str:
        """A new API token; only its hash is kept, so the plaintext is returned once."""
        bad = set(scopes) - set(TOKEN_SCOPES)
        if bad:
            raise ValueError(f"unknown token scopes {sorted(bad)}")
        token = new_api_token()
        with self.db.begin() as conn:
            conn.execute(
                t.api_tokens.insert().values(
                    user_id=user_id,
                    name=name[:100],
                    token_hash=token_hash(token),
                    prefix=token[:10],
                    created_at=utcnow(),
                    scopes=",".join(s for s in TOKEN_SCOPES if s in scopes or s == "read"),
                    expires_at=expires_at,
                )
            )
        return token

    def token_owner(self, token: str) -> tuple[User, tuple[str, ...]] | None:
        """The active user an API token belongs to and the token's scopes; None when the
        token is unknown, revoked or expired. Its last use is recorded, at most every few
        minutes and only where the storage takes writes: a read stays a read."""
        if not token or len(token) > 200:
            return None
        now = utcnow()
        with self.db.engine.connect() as conn:
            row = conn.execute(_USER_BY_TOKEN, {"digest": token_hash(token), "now": now}).first()
        if row is None:
            return None
        if row.token_used is None or now - row.token_used > TOKEN_TOUCH_EVERY:
            best_effort(
                self.db,
                lambda conn: conn.execute(
                    t.api_tokens.update()
                    .where(t.api_tokens.c.id == row.token_id)
                    .values(last_used_at=now)
                ),
                "token last use",
            )
        return user_from(row), tuple(s for s in row.token_scopes.split(",") if s)

    def tokens(self, user_id: int) -> list[ApiToken]:
        a = t.api_tokens
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    a.c.id,
                    a.c.name,
                    a.c.prefix,
                    a.c.created_at,
                    a.c.last_used_at,
                    a.c.scopes,
                    a.c.expires_at,
                )
                .where(a.c.user_id == user_id)
                .order_by(a.c.id)
            )
            return [model(ApiToken, r) for r in rows]

    def delete_token(self, user_id: int, token_id: int) -> bool:
        with self.db.begin() as conn:
            res = conn.execute(
                t.api_tokens.delete().where(
                    t.api_tokens.c.id == token_id, t.api_tokens.c.user_id == user_id
                )
            )
        return res.rowcount == 1

    def end_access(self, user_id: int) -> None:
        """End every session and API token of the user, and every link bound to the account
        as it was, in one transaction ("sign out everywhere", a password reset)."""
        with self.db.begin() as conn:
            end_access(conn, user_id, tokens=True)

    # -- rate limits ---------------------------------------------------------------------
    def rate_hit(self, key: str, limit: int, window: int, now: float | None = None) -> bool:
        """Count one event for ``key`` in the current fixed window of ``window`` seconds;
        False once more than ``limit`` events fell in it. Shared by every process."""
        now = time.time() if now is None else now
        start = int(now // window * window)
        r = t.rate_limits
        with self.db.begin() as conn:
            stmt = self.db.insert(r).values(key=key[:200], window_start=start, count=1)
            stmt = stmt.on_conflict_do_update(
                index_elements=[r.c.key, r.c.window_start], set_={"count": r.c.count + 1}
            ).returning(r.c.count)
            count = int(conn.execute(stmt).scalar_one())
            if count == 1:  # first event of a window: forget the windows that have passed
                conn.execute(r.delete().where(r.c.key == key[:200], r.c.window_start < start))
        return count <= limit

    def rate_prune(self, older_than: float) -> int:
        with self.db.begin() as conn:
            res = conn.execute(
                t.rate_limits.delete().where(t.rate_limits.c.window_start < older_than)
            )
        return res.rowcount

    # -- authorship claims ---------------------------------------------------------------
    def claim_authorship(self, user_id: int, paper_id: str, author_name: str) -> bool:
        """A pending claim; False when this user already claimed the paper."""
        try:
            with self.db.begin() as conn:
                conn.execute(
                    t.authorship_claims.insert().values(
                        user_id=user_id,
                        paper_id=paper_id,
                        author_name=author_name[:200],
                        status="pending",
                        created_at=utcnow(),
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def claims(self, *, status: str | None = None, paper_id: str | None = None) -> list[Claim]:
        c, u = t.authorship_claims, t.users
        q = (
            sa.select(c, u.c.username, t.papers.c.title)
            .join(u, u.c.id == c.c.user_id)
            .join(t.papers, t.papers.c.id == c.c.paper_id)
            .order_by(c.c.id)
        )
        if status:
            q = q.where(c.c.status == status)
        if paper_id:
            q = q.where(c.c.paper_id == paper_id)
        with self.db.engine.connect() as conn:
            return [model(Claim, r) for r in conn.execute(q)]

    def decide_claim(self, claim_id: int, approve: bool, admin_id: int) -> bool:
        with self.db.begin() as conn:
            res = conn.execute(
                t.authorship_claims.update()
                .where(t.authorship_claims.c.id == claim_id)
                .values(
                    status="approved" if approve else "rejected",
                    decided_at=utcnow(),
                    decided_by=admin_id,
                )
            )
        return res.rowcount == 1

    def paper_author_users(self, paper_id: str) -> dict[int, str]:
        """user id -> author name, for approved claims on a paper."""
        c = t.authorship_claims
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.c.user_id, c.c.author_name).where(
                    c.c.paper_id == paper_id, c.c.status == "approved"
                )
            )
            return {r.user_id: r.author_name for r in rows}

    # -- organizations -------------------------------------------------------------------
    def organizations(self) -> list[Organization]:
        """Every organization with its number of papers, biggest first."""
        o, p = t.organizations, t.papers
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(o, sa.func.count(p.c.seq).label("num_papers"))
                .join(p, p.c.organization_id == o.c.id, isouter=True)
                .group_by(o.c.id)
                .order_by(sa.func.count(p.c.seq).desc(), o.c.name)
            )
            return [model(Organization, r) for r in rows]

    def get_organization(self, name: str) -> Organization | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.organizations).where(t.organizations.c.name == name)
            ).first()
        return model(Organization, row) if row else None

    def create_organization(self, name: str, fullname: str | None) -> int | None:
        try:
            with self.db.begin() as conn:
                return int(
                    conn.execute(
                        t.organizations.insert()
                        .values(name=name, fullname=fullname or None, created_at=utcnow())
                        .returning(t.organizations.c.id)
                    ).scalar_one()
                )
        except sa.exc.IntegrityError:
            return None

    def set_paper_organization(self, paper_id: str, org_id: int | None) -> bool:
        with self.db.begin() as conn:
            res = conn.execute(
                t.papers.update().where(t.papers.c.id == paper_id).values(organization_id=org_id)
            )
        return res.rowcount == 1


def end_access(conn: Connection, user_id: int, *, tokens: bool) -> None:
    """Within ``conn``'s transaction: bump the account's session_version (voiding reset
    links and two-factor steps issued before), delete its sessions and, with ``tokens``,
    its API tokens."""
    conn.execute(
        t.users.update()
        .where(t.users.c.id == user_id)
        .values(session_version=t.users.c.session_version + 1)
    )
    conn.execute(t.sessions.delete().where(t.sessions.c.user_id == user_id))
    if tokens:
        conn.execute(t.api_tokens.delete().where(t.api_tokens.c.user_id == user_id))
