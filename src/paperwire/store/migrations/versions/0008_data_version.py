"""Data version: a counter that database triggers bump whenever anything a public page shows
changes, so that every web process can tell cheaply whether its cached pages are current.

PostgreSQL: a SEQUENCE bumped with nextval() by deferred constraint triggers (at commit time,
no row lock shared by concurrent writers; read with ``SELECT last_value``). SQLite: a one-row
table (there is one writer at a time anyway).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Every table a public page, feed or API read shows (cards, paper pages, discussions,
# reactions, trending's stars, similar papers and search by meaning, thumbnails, avatars,
# organizations, authors' claims).
WATCHED = (
    "papers",
    "feed_entries",
    "upvotes",
    "comments",
    "comment_reactions",
    "authorship_claims",
    "star_snapshots",
    "paper_embeddings",
    "paper_thumbnails",
    "avatars",
    "organizations",
    "organization_members",
)
# users: only the columns pages show (not sessions, passwords, e-mail or time zone).
USER_COLUMNS = "username, fullname, avatar_url, role, is_active, bio"


def _events() -> list[tuple[str, str, str]]:
    """(trigger name, event, table) of every trigger."""
    out = []
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            out.append((f"data_version_{table}_{event.lower()}", event, table))
    out.append(("data_version_users_insert", "INSERT", "users"))
    out.append(("data_version_users_delete", "DELETE", "users"))
    out.append(("data_version_users_update", f"UPDATE OF {USER_COLUMNS}", "users"))
    return out


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TABLE data_version (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)"
        )
        op.execute("INSERT INTO data_version (id, n) VALUES (1, 0)")
        for name, event, table in _events():
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                "BEGIN UPDATE data_version SET n = n + 1 WHERE id = 1; END"
            )
        return
    op.execute("CREATE SEQUENCE data_version")
    op.execute(
        "CREATE FUNCTION data_version_bump() RETURNS trigger AS $$ BEGIN "
        "PERFORM nextval('data_version'); RETURN NULL; END $$ LANGUAGE plpgsql"
    )
    for name, event, table in _events():
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION data_version_bump()"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, _event, table in _events():
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
    if sqlite:
        op.execute("DROP TABLE data_version")
    else:
        op.execute("DROP FUNCTION IF EXISTS data_version_bump()")
        op.execute("DROP SEQUENCE data_version")
