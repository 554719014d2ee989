"""Embeddings: one vector per (paper, model), dropped when the paper's text changes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_embeddings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("paper_seq", sa.Integer, nullable=False),
        sa.Column("model", sa.String(80), nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_paper_embeddings"),
        sa.ForeignKeyConstraint(
            ["paper_seq"], ["papers.seq"], name="fk_paper_embeddings_paper_seq_papers"
        ),
        sa.UniqueConstraint("model", "paper_seq", name="uq_paper_embeddings_model"),
    )
    # A changed title or abstract makes the stored vectors wrong: drop them, so that
    # `paperwire index` embeds the paper again.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER paper_embeddings_stale AFTER UPDATE OF title, abstract ON papers "
            "WHEN old.title IS NOT new.title OR old.abstract IS NOT new.abstract BEGIN "
            "DELETE FROM paper_embeddings WHERE paper_seq = new.seq; END"
        )
    else:
        op.execute(
            "CREATE FUNCTION paper_embeddings_stale() RETURNS trigger AS $$ BEGIN "
            "DELETE FROM paper_embeddings WHERE paper_seq = NEW.seq; RETURN NEW; END $$ "
            "LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER paper_embeddings_stale AFTER UPDATE OF title, abstract ON papers "
            "FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title "
            "OR OLD.abstract IS DISTINCT FROM NEW.abstract) "
            "EXECUTE FUNCTION paper_embeddings_stale()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS paper_embeddings_stale")
    else:
        op.execute("DROP TRIGGER IF EXISTS paper_embeddings_stale ON papers")
        op.execute("DROP FUNCTION IF EXISTS paper_embeddings_stale()")
    op.drop_table("paper_embeddings")
