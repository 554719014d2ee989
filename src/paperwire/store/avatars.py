"""Uploaded avatar images, kept in the database so that every instance serves the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..core.clock import utcnow
from . import schema as t
from .common import Repository

A = t.avatars


@dataclass(slots=True)
class StoredAvatar:
    content_type: str
    data: bytes
    sha256: str
    width: int
    height: int
    updated_at: datetime


class AvatarRepo(Repository):
    def get(self, kind: str, owner_id: int) -> StoredAvatar | None:
        with self.db.connect() as conn:
            row = conn.execute(
                sa.select(A.c.content_type, A.c.data, A.c.sha256, A.c.width, A.c.height,
                          A.c.updated_at)
                .where(A.c.kind == kind, A.c.owner_id == owner_id)
            ).first()  # fmt: skip
        return StoredAvatar(**row._mapping) if row else None

    def put_organization(
        self,
        org_id: int,
        *,
        content_type: str,
        data: bytes,
        sha256: str,
        width: int,
        height: int,
        url: str,
        uploaded_by: int | None,
    ) -> None:
        """Store an organization's image and point its ``avatar_url`` at ``url`` (which
        names the image's version, so pages and caches pick up the new one at once)."""
        values = dict(content_type=content_type, data=data, sha256=sha256, width=width,
                      height=height, uploaded_by=uploaded_by, updated_at=utcnow())  # fmt: skip
        with self.db.begin() as conn:
            conn.execute(
                self.db.insert(A)
                .values(kind="organization", owner_id=org_id, **values)
                .on_conflict_do_update(index_elements=[A.c.kind, A.c.owner_id], set_=values)
            )
            conn.execute(
                t.organizations.update()
                .where(t.organizations.c.id == org_id)
                .values(avatar_url=url)
            )

    def delete_organization(self, org_id: int) -> bool:
        """Back to the generated avatar."""
        with self.db.begin() as conn:
            res = conn.execute(A.delete().where(A.c.kind == "organization", A.c.owner_id == org_id))
            conn.execute(
                t.organizations.update()
                .where(t.organizations.c.id == org_id)
                .values(avatar_url=None)
            )
        return res.rowcount == 1
