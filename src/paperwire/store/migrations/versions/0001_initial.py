"""Initial schema: catalogue, feed, accounts, discussion, email, jobs, keyword index.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("fullname", sa.String(200)),
        sa.Column("avatar_url", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("name", name="uq_organizations_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("password_hash", sa.Text),
        sa.Column("fullname", sa.String(200)),
        sa.Column("avatar_url", sa.Text),
        sa.Column("role", sa.String(16), nullable=False, server_default="user"),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("origin", sa.String(16), nullable=False, server_default="local"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "papers",
        sa.Column("seq", sa.Integer, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("abstract", sa.Text, nullable=False, server_default=""),
        sa.Column("authors", sa.JSON, nullable=False),
        sa.Column("num_authors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("categories", sa.Text, nullable=False, server_default=""),
        sa.Column("primary_category", sa.String(40)),
        sa.Column("published", sa.DateTime),
        sa.Column("updated", sa.DateTime),
        sa.Column("comment", sa.Text),
        sa.Column("journal_ref", sa.Text),
        sa.Column("doi", sa.Text),
        sa.Column("github_repo", sa.String(200)),
        sa.Column("github_stars", sa.Integer),
        sa.Column("github_checked_at", sa.DateTime),
        sa.Column("github_etag", sa.Text),
        sa.Column("project_page", sa.Text),
        sa.Column("organization_id", sa.Integer),
        sa.Column("upvotes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("upvotes_external", sa.Integer, nullable=False, server_default="0"),
        sa.Column("num_comments", sa.Integer, nullable=False, server_default="0"),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("modified_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_papers"),
        sa.UniqueConstraint("id", name="uq_papers_id"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_papers_organization_id_organizations",
        ),
    )
    op.create_index("ix_papers_primary_category", "papers", ["primary_category"])
    op.create_index("ix_papers_published", "papers", ["published"])
    op.create_index("ix_papers_github_repo", "papers", ["github_repo"])
    op.create_table(
        "feed_entries",
        sa.Column("id", sa.Integer),
        sa.Column("paper_id", sa.String(40), nullable=False),
        sa.Column("feed_date", sa.Date, nullable=False),
        sa.Column("submitted_by", sa.Integer),
        sa.Column("submitted_at", sa.DateTime, nullable=False),
        sa.Column("thumbnail", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_feed_entries"),
        sa.UniqueConstraint("paper_id", name="uq_feed_entries_paper_id"),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_feed_entries_paper_id_papers"
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["users.id"], name="fk_feed_entries_submitted_by_users"
        ),
    )
    op.create_index("ix_feed_entries_feed_date", "feed_entries", ["feed_date"])
    op.create_table(
        "upvotes",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("paper_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "paper_id", name="pk_upvotes"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_upvotes_user_id_users"),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], name="fk_upvotes_paper_id_papers"),
    )
    op.create_index("ix_upvotes_paper_id", "upvotes", ["paper_id"])
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer),
        sa.Column("paper_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.Integer),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("edited_at", sa.DateTime),
        sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], name="fk_comments_paper_id_papers"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_comments_user_id_users"),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["comments.id"], name="fk_comments_parent_id_comments"
        ),
    )
    op.create_index("ix_comments_paper_id_created_at", "comments", ["paper_id", "created_at"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("query", sa.Text),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("bounce_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("confirmed_at", sa.DateTime),
        sa.Column("unsubscribed_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_subscriptions_user_id_users"),
    )
    op.create_index("ix_subscriptions_email", "subscriptions", ["email"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer),
        sa.Column("subscription_id", sa.Integer, nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("paper_ids", sa.JSON),
        sa.Column("message_id", sa.String(255)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("subscription_id", "period", name="uq_deliveries_subscription_period"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_deliveries_subscription_id_subscriptions",
        ),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.JSON),
        sa.Column("stats", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_job_runs"),
    )
    op.create_index("ix_job_runs_job_started_at", "job_runs", ["job", "started_at"])
    _create_keyword_index()


def _create_keyword_index() -> None:
    """SQLite: FTS5 external-content table kept in sync by triggers.
    PostgreSQL: a generated, weighted tsvector column with a GIN index."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE papers_fts USING fts5("
            "title, abstract, authors, content='papers', content_rowid='seq', "
            "tokenize='porter unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER papers_fts_ai AFTER INSERT ON papers BEGIN "
            "INSERT INTO papers_fts(rowid, title, abstract, authors) "
            "VALUES (new.seq, new.title, new.abstract, new.authors); END"
        )
        op.execute(
            "CREATE TRIGGER papers_fts_ad AFTER DELETE ON papers BEGIN "
            "INSERT INTO papers_fts(papers_fts, rowid, title, abstract, authors) "
            "VALUES ('delete', old.seq, old.title, old.abstract, old.authors); END"
        )
        op.execute(
            "CREATE TRIGGER papers_fts_au AFTER UPDATE OF title, abstract, authors ON papers "
            "BEGIN "
            "INSERT INTO papers_fts(papers_fts, rowid, title, abstract, authors) "
            "VALUES ('delete', old.seq, old.title, old.abstract, old.authors); "
            "INSERT INTO papers_fts(rowid, title, abstract, authors) "
            "VALUES (new.seq, new.title, new.abstract, new.authors); END"
        )
    else:
        op.execute(
            "ALTER TABLE papers ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
            "setweight(to_tsvector('english', coalesce(abstract, '')), 'B') || "
            "setweight(to_tsvector('simple', coalesce(authors::text, '')), 'C')) STORED"
        )
        op.execute("CREATE INDEX ix_papers_tsv ON papers USING gin (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("papers_fts_ai", "papers_fts_ad", "papers_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS papers_fts")
    for table in (
        "job_runs",
        "deliveries",
        "subscriptions",
        "comments",
        "upvotes",
        "feed_entries",
        "papers",
        "users",
        "organizations",
    ):
        op.drop_table(table)
