"""Word log: one row per change to what a paper's words or filters are (insert, delete, an
update of its title, abstract, authors, categories, date or code link), written by database
triggers from any process or instance, so that a keyword index kept beside the store (the
``tantivy`` keyword backend) catches up by reading the rows after the last one it applied.

PostgreSQL: deferred constraint triggers write the row at commit time, so that ids follow
the order of commits as closely as the database allows (a reader still allows for gaps).
SQLite: AUTOINCREMENT, so an id is never reused.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

COLUMNS = "title, abstract, authors, categories, published, github_repo"
EVENTS = (
    ("word_log_insert", "INSERT", "new"),
    ("word_log_update", f"UPDATE OF {COLUMNS}", "new"),
    ("word_log_delete", "DELETE", "old"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TABLE word_log (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL)"
        )
        for name, event, row in EVENTS:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON papers "
                f"BEGIN INSERT INTO word_log (seq) VALUES ({row}.seq); END"
            )
        return
    op.execute(
        "CREATE TABLE word_log (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "seq INTEGER NOT NULL)"
    )
    for name, _event, row in EVENTS:
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
            f"INSERT INTO word_log (seq) VALUES ({row}.seq); RETURN NULL; END $$ "
            "LANGUAGE plpgsql"
        )
    for name, event, _row in EVENTS:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON papers "
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {name}()"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, _event, _row in EVENTS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON papers"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.execute("DROP TABLE IF EXISTS word_log")
