"""Who administers an organization (changes its avatar, names its other admins)."""

from __future__ import annotations

import sqlalchemy as sa

from ..core.clock import utcnow
from . import schema as t
from .common import Repository

M, U = t.organization_members, t.users


class MembershipRepo(Repository):
    def admins(self, org_id: int) -> list[str]:
        """User names of the organization's admins, alphabetically."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(U.c.username)
                .join(M, M.c.user_id == U.c.id)
                .where(M.c.organization_id == org_id, M.c.role == "admin")
                .order_by(U.c.username)
            )
            return list(rows.scalars())

    def is_admin(self, org_id: int, user_id: int) -> bool:
        with self.db.connect() as conn:
            row = conn.execute(
                sa.select(M.c.role).where(
                    M.c.organization_id == org_id, M.c.user_id == user_id, M.c.role == "admin"
                )
            ).first()
        return row is not None

    def add_admin(self, org_id: int, user_id: int) -> bool:
        """False when they already were one."""
        with self.db.begin() as conn:
            res = conn.execute(
                self.db.insert(M)
                .on_conflict_do_nothing()
                .values(organization_id=org_id, user_id=user_id, role="admin",
                        created_at=utcnow())
                .returning(M.c.user_id)
            )  # fmt: skip
            return res.first() is not None

    def remove_admin(self, org_id: int, user_id: int) -> bool:
        with self.db.begin() as conn:
            res = conn.execute(
                M.delete().where(M.c.organization_id == org_id, M.c.user_id == user_id)
            )
        return res.rowcount == 1
