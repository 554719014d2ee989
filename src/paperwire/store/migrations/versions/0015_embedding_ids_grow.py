"""Stored vectors' ids only grow on SQLite too (AUTOINCREMENT): a process's vector index reads
the rows after the highest id it has seen, and without AUTOINCREMENT SQLite gives a vector
that replaces the newest one that one's id again, so no process would read it in.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

COLUMNS = "id, paper_seq, model, vector, created_at"
STALE = (
    "CREATE TRIGGER paper_embeddings_stale AFTER UPDATE OF title, abstract ON papers "
    "WHEN old.title IS NOT new.title OR old.abstract IS NOT new.abstract BEGIN "
    "DELETE FROM paper_embeddings WHERE paper_seq = new.seq; END"
)


def _rebuild(autoincrement: bool) -> None:
    key = "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT" if autoincrement else "INTEGER NOT NULL"
    pk = "" if autoincrement else ", CONSTRAINT pk_paper_embeddings PRIMARY KEY (id)"
    op.execute("DROP TRIGGER IF EXISTS paper_embeddings_stale")  # it names the table
    op.execute(
        f"CREATE TABLE paper_embeddings_new (id {key}, paper_seq INTEGER NOT NULL, "
        "model VARCHAR(80) NOT NULL, vector BLOB NOT NULL, created_at DATETIME NOT NULL"
        f"{pk}, CONSTRAINT fk_paper_embeddings_paper_seq_papers FOREIGN KEY(paper_seq) "
        "REFERENCES papers (seq), "
        "CONSTRAINT uq_paper_embeddings_model UNIQUE (model, paper_seq))"
    )
    op.execute(
        f"INSERT INTO paper_embeddings_new ({COLUMNS}) SELECT {COLUMNS} FROM paper_embeddings"
    )
    op.execute("DROP TABLE paper_embeddings")  # and its data-version triggers
    op.execute("ALTER TABLE paper_embeddings_new RENAME TO paper_embeddings")
    op.execute(STALE)
    for event in ("INSERT", "UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER data_version_paper_embeddings_{event.lower()} AFTER {event} "
            "ON paper_embeddings BEGIN UPDATE data_version SET n = n + 1 WHERE id = 1; END"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # PostgreSQL's sequences never go back
        _rebuild(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=False)
