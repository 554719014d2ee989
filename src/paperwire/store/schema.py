"""Table definitions (SQLAlchemy Core). Migrations create them; the store queries them.

Conventions: datetimes are naive UTC; ``papers.seq`` is a stable integer row id used by the
full-text and vector indexes, ``papers.id`` is the arXiv id without version.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("fullname", sa.String(200)),
    sa.Column("avatar_url", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# (Also indexed by lower(username) and lower(fullname), for @mention suggestions: expression
# indexes, in the "C" collation on PostgreSQL, made by migration 0022.)
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("email", sa.String(320), unique=True),
    sa.Column("password_hash", sa.Text),
    sa.Column("fullname", sa.String(200)),
    sa.Column("avatar_url", sa.Text),
    sa.Column("role", sa.String(16), nullable=False, server_default="user"),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    # "local" for accounts made here, "hf" for submitters imported from Hugging Face.
    sa.Column("origin", sa.String(16), nullable=False, server_default="local"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    # Bumped on sign-out-everywhere and password change: old session cookies and reset
    # links carry the previous value and stop working.
    sa.Column("session_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("confirmed_at", sa.DateTime),
    sa.Column("bio", sa.Text),
    sa.Column("timezone", sa.String(64)),  # IANA name; the default of their subscriptions
    # Replies and @mentions by e-mail too (mail/notify.py), unless turned off.
    sa.Column("notify_email", sa.Boolean, nullable=False, server_default=sa.true()),
)

site_meta = sa.Table(
    "site_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex
    sa.Column("prefix", sa.String(16), nullable=False),  # shown to tell tokens apart
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    # Comma-separated, from core.models.TOKEN_SCOPES; admin only for admins' tokens.
    sa.Column("scopes", sa.String(32), nullable=False, server_default="read,write"),
    sa.Column("expires_at", sa.DateTime),  # None: until revoked
)

# A signed-in browser: the cookie holds a random token, the table its SHA-256 (a leaked table
# signs nobody in). Sign-out deletes the row; Settings lists and revokes them one by one.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(200)),
)

rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("window_start", sa.Integer, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)

papers = sa.Table(
    "papers",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("version", sa.Integer),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("abstract", sa.Text, nullable=False, server_default=""),
    sa.Column("authors", sa.JSON, nullable=False),
    sa.Column("num_authors", sa.Integer, nullable=False, server_default="0"),
    sa.Column("categories", sa.Text, nullable=False, server_default=""),
    sa.Column("primary_category", sa.String(40), index=True),
    sa.Column("published", sa.DateTime, index=True),
    sa.Column("updated", sa.DateTime),
    sa.Column("comment", sa.Text),
    sa.Column("journal_ref", sa.Text),
    sa.Column("doi", sa.Text),
    sa.Column("github_repo", sa.String(200), index=True),
    sa.Column("github_stars", sa.Integer),
    sa.Column("github_checked_at", sa.DateTime),
    sa.Column("github_etag", sa.Text),
    sa.Column("project_page", sa.Text),
    sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id")),
    # upvotes = upvotes_external (imported counts) + rows in the upvotes table.
    sa.Column("upvotes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("upvotes_external", sa.Integer, nullable=False, server_default="0"),
    sa.Column("num_comments", sa.Integer, nullable=False, server_default="0"),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("modified_at", sa.DateTime, nullable=False),
)

feed_entries = sa.Table(
    "feed_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.String(40), sa.ForeignKey("papers.id"), nullable=False, unique=True),
    sa.Column("feed_date", sa.Date, nullable=False, index=True),
    sa.Column("submitted_by", sa.Integer, sa.ForeignKey("users.id"), index=True),
    sa.Column("submitted_at", sa.DateTime, nullable=False, index=True),
    sa.Column("thumbnail", sa.Text),
)

upvotes = sa.Table(
    "upvotes",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("paper_id", sa.String(40), sa.ForeignKey("papers.id"), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_upvotes_paper_id", "paper_id"),
    sa.Index("ix_upvotes_user_id_created_at", "user_id", "created_at"),
    sa.Index("ix_upvotes_created_at", "created_at"),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.String(40), sa.ForeignKey("papers.id"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("comments.id")),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("edited_at", sa.DateTime),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_comments_paper_id_created_at", "paper_id", "created_at"),
)

authorship_claims = sa.Table(
    "authorship_claims",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("paper_id", sa.String(40), sa.ForeignKey("papers.id"), nullable=False, index=True),
    sa.Column("author_name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decided_by", sa.Integer),
    sa.UniqueConstraint("user_id", "paper_id", name="uq_authorship_claims_user_id"),
)

star_snapshots = sa.Table(
    "star_snapshots",
    metadata,
    sa.Column("paper_id", sa.String(40), sa.ForeignKey("papers.id"), primary_key=True),
    sa.Column("observed_at", sa.DateTime, primary_key=True),
    sa.Column("stars", sa.Integer, nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, index=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("kind", sa.String(16), nullable=False),  # trending | topic
    sa.Column("query", sa.Text),
    sa.Column("frequency", sa.String(16), nullable=False),  # daily | weekly
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("bounce_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("confirmed_at", sa.DateTime),
    sa.Column("unsubscribed_at", sa.DateTime),
    # Part of every confirmation link; replaced once used, so that each link works once.
    sa.Column("confirm_nonce", sa.String(32)),
    # Part of every manage/unsubscribe link; replaced to revoke the links already mailed.
    sa.Column("manage_nonce", sa.String(32)),
    sa.Column("query_vector", sa.LargeBinary),  # topic alerts: the query, embedded once
    sa.Column("query_model", sa.String(80)),
    sa.Column("updated_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_subscriptions_status", "status"),
    sa.Index("ix_subscriptions_user_id", "user_id"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subscription_id", sa.Integer, sa.ForeignKey("subscriptions.id"), nullable=False),
    sa.Column("period", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("paper_ids", sa.JSON),
    sa.Column("message_id", sa.String(255)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("window_start", sa.DateTime),  # the papers of [window_start, window_end)
    sa.Column("window_end", sa.DateTime),
    sa.Column("next_attempt_at", sa.DateTime),  # after a temporary failure
    sa.UniqueConstraint("subscription_id", "period", name="uq_deliveries_subscription_period"),
    sa.Index("ix_deliveries_status", "status"),
)

# Every paper a subscriber has been sent: a digest never repeats one.
sent_papers = sa.Table(
    "sent_papers",
    metadata,
    sa.Column("subscription_id", sa.Integer, sa.ForeignKey("subscriptions.id"), primary_key=True),
    sa.Column("paper_id", sa.String(40), primary_key=True),
    sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=False),
)

# A job held by one instance until ``expires_at`` (renewed while it runs).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

# The keyword indexes kept beside the store (one per host with the tantivy backend): how far
# each has applied the word log, so that rows every live index has applied can go.
word_log_readers = sa.Table(
    "word_log_readers",
    metadata,
    sa.Column("reader", sa.String(64), primary_key=True),
    sa.Column("settled", sa.BigInteger, nullable=False),
    sa.Column("seen_at", sa.DateTime, nullable=False),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # running | ok | partial | failed
    sa.Column("state", sa.JSON),  # checkpoint, e.g. an OAI-PMH resumption token
    sa.Column("stats", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Index("ix_job_runs_job_started_at", "job", "started_at"),
)

# The durable jobs queue: one row per (kind, key), so asking twice makes one job. Workers
# claim due rows with a lease (SKIP LOCKED on PostgreSQL, one atomic UPDATE on SQLite).
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # queued | running | done | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("lease_until", sa.DateTime),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), index=True),
    sa.Column("last_error", sa.Text),
    sa.Column("result", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.UniqueConstraint("kind", "key", name="uq_jobs_kind"),
    sa.Index("ix_jobs_state", "state", "next_attempt_at"),
)

# One row per (paper, model). ``id`` only grows: a vector index built up to some id catches up
# with ``WHERE id > high_water``. A paper whose title or abstract changes loses its rows
# (trigger) and is embedded again, under a new id.
paper_embeddings = sa.Table(
    "paper_embeddings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("paper_seq", sa.Integer, sa.ForeignKey("papers.seq"), nullable=False),
    sa.Column("model", sa.String(80), nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float32 little-endian
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("model", "paper_seq", name="uq_paper_embeddings_model"),
    # ids only grow (the high-water mark each process's index reads after), on SQLite too
    sqlite_autoincrement=True,
)

# One row per user per reaction on a comment; counts are read with GROUP BY, so they are
# exact however many clicks race.
comment_reactions = sa.Table(
    "comment_reactions",
    metadata,
    # Key in this order so that counting by (comment, reaction) reads the index in order.
    sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id"), primary_key=True),
    sa.Column("reaction", sa.String(16), primary_key=True),  # a name from core.reactions
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Uploaded avatar images (re-encoded), in the database so that every instance serves them.
avatars = sa.Table(
    "avatars",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # organization
    sa.Column("owner_id", sa.Integer, primary_key=True),
    sa.Column("content_type", sa.String(32), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("uploaded_by", sa.Integer),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

organization_members = sa.Table(
    "organization_members",
    metadata,
    sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False, server_default="admin"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_organization_members_user_id", "user_id"),
)

# The first page of each paper's PDF, rendered here (WebP), or why it could not be: a
# failed paper waits until ``next_attempt_at`` (backoff), never blocking the others. In the
# database so that every instance sharing it serves the same images.
paper_thumbnails = sa.Table(
    "paper_thumbnails",
    metadata,
    sa.Column("paper_id", sa.String(40), sa.ForeignKey("papers.id"), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # ok | failed
    sa.Column("etag", sa.String(32)),  # content hash: the version in image URLs
    sa.Column("card_width", sa.Integer),
    sa.Column("card_height", sa.Integer),
    sa.Column("page_width", sa.Integer),
    sa.Column("page_height", sa.Integer),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    sa.Column("next_attempt_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # The images last: SQLite reads a row's columns in order, so that cards, which read
    # only the version and size, never touch the images' overflow pages.
    sa.Column("card", sa.LargeBinary),
    sa.Column("page", sa.LargeBinary),
    sa.Index("ix_paper_thumbnails_status", "status", "next_attempt_at"),
)

# Two-factor sign-in (TOTP): one row per user who turned it on. The secret is sealed with a
# key derived from the instance secret (core.twofactor); ``last_step`` is the last TOTP time
# step a code was accepted for, so that no code is accepted twice; ``signins`` counts second
# steps completed, so that the token carried by one second step is good once.
two_factor = sa.Table(
    "two_factor",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("secret_sealed", sa.String(200), nullable=False),
    sa.Column("enabled_at", sa.DateTime, nullable=False),
    sa.Column("last_step", sa.BigInteger),
    sa.Column("signins", sa.Integer, nullable=False, server_default="0"),
)

# Single-use recovery codes: only their SHA-256 is kept; a used one keeps its row (used_at).
recovery_codes = sa.Table(
    "recovery_codes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("used_at", sa.DateTime),
    sa.UniqueConstraint("user_id", "code_hash", name="uq_recovery_codes_user_id"),
)

# Security-relevant events (sign-ins, password changes, tokens, roles, moderation): who it is
# about (user_id), who did it (actor_id), from where; pruned after audit_retention_days.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("user_id", sa.Integer),  # no foreign key: the trail outlives what it is about
    sa.Column("actor_id", sa.Integer),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("agent", sa.String(120)),
    sa.Column("detail", sa.JSON),
    sa.Index("ix_audit_events_user_id", "user_id", "id"),
    sa.Index("ix_audit_events_created_at", "created_at"),
)

# Idempotency keys (draft-ietf-httpapi-idempotency-key-header): a write request sent with a
# key claims (user, key, method and path) first; its response is kept for 24 hours so that a
# retry gets it again instead of writing twice. ``status`` is null while the first is in flight.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("scope", sa.String(300), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("response", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("user_id", "key", "scope", name="uq_idempotency_keys_user_id"),
    sa.Index("ix_idempotency_keys_created_at", "created_at"),
)

# Reports of abusive comments ("report abuse"): one per reporter and comment, open until an
# admin hides the comment or dismisses the reports (``outcome``).
comment_reports = sa.Table(
    "comment_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("note", sa.String(500)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("resolved_by", sa.Integer),
    sa.Column("outcome", sa.String(16)),
    sa.UniqueConstraint("comment_id", "user_id", name="uq_comment_reports_comment_id"),
    sa.Index("ix_comment_reports_resolved_at", "resolved_at"),
)

# Collections: a user's named lists of papers (public, unlisted: by link only, or private:
# the owner's alone). Items keep their order (``position``, 0 first) and a note each.
collections = sa.Table(
    "collections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("visibility", sa.String(16), nullable=False, server_default="private"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_collections_user_id", "user_id", "updated_at"),
)

collection_items = sa.Table(
    "collection_items",
    metadata,
    sa.Column("collection_id", sa.Integer, sa.ForeignKey("collections.id"), primary_key=True),
    sa.Column("paper_id", sa.String(40), sa.ForeignKey("papers.id"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("added_at", sa.DateTime, nullable=False),
    sa.Index("ix_collection_items_paper_id", "paper_id"),
)

# What a user told the site about a paper for their own feed: "dismissed" (not interested:
# hidden from their feed pages) or "more_like_this". One row per user, paper and kind.
user_paper_signals = sa.Table(
    "user_paper_signals",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("paper_id", sa.String(40), sa.ForeignKey("papers.id"), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# A reader's notifications: a reply to their comment, or a comment that @mentions them. One
# per comment and reader (a reply that also mentions them is a reply); read when seen.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # reply | mention
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("read_at", sa.DateTime),
    sa.Column("emailed_at", sa.DateTime),  # when an e-mail told the reader (None: not yet)
    sa.UniqueConstraint("user_id", "comment_id"),
    sa.Index("ix_notifications_comment_id", "comment_id"),
    sa.Index("ix_notifications_emailed_at", "emailed_at", "user_id"),
)

# The For-you tab's topics of a reader, in their own words (matched by meaning).
reader_topics = sa.Table(
    "reader_topics",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("topic", sa.String(200), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# A reader's visits to the For-you tab: the current one (views less than VISIT_GAP apart are
# one visit) and the one before, which "since your last visit" starts from.
reader_visits = sa.Table(
    "reader_visits",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("previous_at", sa.DateTime),
    sa.Column("current_at", sa.DateTime, nullable=False),
)
