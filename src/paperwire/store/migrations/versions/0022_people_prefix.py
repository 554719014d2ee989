"""People by the start of their name: indexes on the lower-case user name and display name,
so that @mention suggestions (store.people.mention_candidates) read a range of one index
under a LIMIT, never the whole users table. On PostgreSQL in the "C" collation: a prefix is
then a plain range of code points, as on SQLite (a locale's collation orders "a-b" between
"ab" and "ac", and a range would miss names).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

INDEXES = {"ix_users_username_lower": "username", "ix_users_fullname_lower": "fullname"}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, column in INDEXES.items():
        key = f"lower({column})" if sqlite else f'(lower({column}) COLLATE "C")'
        op.execute(f"CREATE INDEX {name} ON users ({key})")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
