"""Collections (a user's lists of papers, with a note per item, in order) and per-user
feedback signals on papers ("not interested", "more like this"). Collections show on public
pages: their writes bump the data version, like the tables of migration 0008.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

WATCHED = ("collections", "collection_items")
EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("visibility", sa.String(16), nullable=False, server_default="private"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_collections"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_collections_user_id_users"),
    )
    op.create_index("ix_collections_user_id", "collections", ["user_id", "updated_at"])
    op.create_table(
        "collection_items",
        sa.Column("collection_id", sa.Integer, nullable=False),
        sa.Column("paper_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("added_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("collection_id", "paper_id", name="pk_collection_items"),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name="fk_collection_items_collection_id_collections",
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_collection_items_paper_id_papers"
        ),
    )
    op.create_index("ix_collection_items_paper_id", "collection_items", ["paper_id"])
    op.create_table(
        "user_paper_signals",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("paper_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "kind", "paper_id", name="pk_user_paper_signals"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_paper_signals_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_user_paper_signals_paper_id_papers"
        ),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in WATCHED:
        for event in EVENTS:
            name = f"data_version_{table}_{event.lower()}"
            if sqlite:
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                    "BEGIN UPDATE data_version SET n = n + 1 WHERE id = 1; END"
                )
            else:
                op.execute(
                    f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table} "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "
                    "data_version_bump()"
                )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in WATCHED:
        for event in EVENTS:
            name = f"data_version_{table}_{event.lower()}"
            op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
    op.drop_table("user_paper_signals")
    op.drop_index("ix_collection_items_paper_id", table_name="collection_items")
    op.drop_table("collection_items")
    op.drop_index("ix_collections_user_id", table_name="collections")
    op.drop_table("collections")
