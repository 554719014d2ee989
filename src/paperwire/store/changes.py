"""The data version: one number that grows whenever anything a public page shows changes.

Database triggers (migration 0008) bump it on every write to the tables the pages read, from
any process or instance; web processes poll it to know when their cached pages are stale.
"""

from __future__ import annotations

import sqlalchemy as sa

from .common import Repository


class ChangeRepo(Repository):
    """Read (cheaply: one row, no table scan) or bump the data version."""

    def version(self) -> int:
        with self.db.connect() as conn:
            if self.db.dialect == "sqlite":
                return int(conn.execute(sa.text("SELECT n FROM data_version")).scalar_one())
            last, called = conn.execute(
                sa.text("SELECT last_value, is_called FROM data_version")
            ).one()
            return int(last) if called else int(last) - 1

    def bump(self) -> None:
        """Mark every cached page stale, for a change the triggers do not see."""
        with self.db.begin() as conn:
            if self.db.dialect == "sqlite":
                conn.execute(sa.text("UPDATE data_version SET n = n + 1 WHERE id = 1"))
            else:
                conn.execute(sa.text("SELECT nextval('data_version')"))
