"""Settings: typed, one section per subsystem, each function given only its section.

Values come from CLI flags, ``PAPERWIRE_<NAME>`` environment variables, a TOML file
(``--config``, ``PAPERWIRE_CONFIG`` or ./paperwire.toml), then the defaults below — in that
order of precedence. Names are flat and unique across sections (``smtp_host``, not
``mail.smtp_host``), so that a TOML file or the environment never needs to know the sections.
``paperwire settings`` prints them; the README's table is generated from them and checked.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .errors import ConfigError

DEFAULT_AGENT = f"paperwire/{__version__} (self-hosted Daily Papers; python-httpx)"


def setting(default: Any, help: str, *, secret: bool = False) -> Any:
    """A setting: its default, one sentence of help, and whether to hide its value."""
    return field(default=default, metadata={"help": help, "secret": secret})


@dataclass(frozen=True)
class StoreSettings:
    database_url: str = setting(
        "sqlite:///paperwire.db",
        "SQLAlchemy URL of the store: sqlite:///PATH (default, embedded) or "
        "postgresql+psycopg://USER@HOST/DB.",
    )


@dataclass(frozen=True)
class SourceSettings:
    arxiv_api_url: str = setting("https://export.arxiv.org/api/query", "arXiv API (Atom) endpoint.")
    arxiv_oai_url: str = setting("https://oaipmh.arxiv.org/oai", "arXiv OAI-PMH endpoint.")
    arxiv_min_interval: float = setting(
        3.0, "Seconds between two requests to arXiv (arXiv's terms ask for at least 3)."
    )
    hf_api_url: str = setting("https://huggingface.co", "Base URL of the Hugging Face papers API.")
    github_api_url: str = setting("https://api.github.com", "GitHub REST API base URL.")
    github_token: str = setting(
        "", "GitHub token for the stars refresher (5,000 requests/hour instead of 60).", secret=True
    )
    http_min_interval: float = setting(
        1.0, "Seconds between two requests to Hugging Face or GitHub."
    )
    http_retries: int = setting(
        4, "Retries of a request after a 5xx answer, timeout or cut response."
    )
    http_backoff: float = setting(2.0, "First retry delay in seconds; doubles on each retry.")
    http_timeout: float = setting(60.0, "Seconds before a request times out.")
    user_agent: str = setting(DEFAULT_AGENT, "User-Agent sent to every source.")


@dataclass(frozen=True)
class SiteSettings:
    site_name: str = setting(
        "Paperwire", "Name shown in the header, page titles, e-mails and feeds."
    )
    base_url: str = setting(
        "http://127.0.0.1:8000",
        "Public address of the site, used for links in e-mails and Atom feeds; left at "
        "this default, the address `serve` or `demo` listens on (kept in the database, so "
        "that `digest send` and `worker` link there too).",
    )
    secret_key: str = setting(
        "",
        "Key that signs sessions and links. Empty: one is generated and kept in the database, "
        "so every process sharing it agrees.",
        secret=True,
    )
    feed_timezone: str = setting(
        "America/New_York",
        "Time zone of the daily feed (IANA name). Hugging Face uses America/New_York.",
    )
    feed_rollover: str = setting(
        "21:30",
        "Local time (HH:MM) at which the feed moves to the next day; submissions from then on "
        "count for the next day's feed. 00:00 means midnight.",
    )
    page_size: int = setting(30, "Cards per page on the site.")
    submit_max_age_days: int = setting(
        14,
        "Only papers published within this many days can be submitted to the feed (0: any age).",
    )
    submit_daily_limit: int = setting(
        5,
        "Feed submissions per user per day (curators and admins have no limit; 0: no limit).",
    )
    comment_max_chars: int = setting(10000, "Longest comment accepted, in characters.")
    max_body_bytes: int = setting(1048576, "Largest request body accepted, in bytes.")
    read_only: bool = setting(
        False,
        "Maintenance: every write (POST, PUT, PATCH, DELETE) is a 503; reads keep working.",
    )
    rate_limit_auth: int = setting(
        10,
        "Sign-up and password-reset attempts per address and per account per 15 minutes; "
        "sign-in attempts per address are 20 times this (per account they slow down instead).",
    )
    require_2fa_for_admins: bool = setting(
        False,
        "Admins must turn on two-factor sign-in: until they do, admin pages and actions answer "
        "403 with a link to set it up.",
    )
    audit_retention_days: int = setting(
        365, "Days the audit log keeps security events (sign-ins, password changes, …); 0: forever."
    )
    rate_limit_writes: int = setting(60, "Upvotes, comments and submissions per user per minute.")
    security_contact: str = setting(
        "",
        "Where to report a vulnerability (mailto: or https: URI), published in "
        "/.well-known/security.txt (RFC 9116). Empty: no security.txt.",
    )
    keep_alive_timeout: int = setting(
        5,
        "Seconds `paperwire serve` keeps an idle keep-alive connection open. Reading a "
        "request's headers has no time limit in the app server: put a proxy in front "
        "(nginx client_header_timeout, large_client_header_buffers).",
    )
    max_connections: int = setting(
        1000,
        "Connections and requests in flight per `paperwire serve` worker process beyond "
        "which new requests are answered 503 at once (0: no limit).",
    )
    cookie_secure: bool = setting(
        False,
        "Send cookies over HTTPS only (turn on behind TLS; on by itself when base_url is https).",
    )
    trusted_proxies: str = setting(
        "",
        "Addresses or CIDRs of reverse proxies (comma-separated, e.g. 127.0.0.1/32) whose "
        "X-Forwarded-For and X-Forwarded-Proto name the real client; from anyone else those "
        "headers are ignored. Empty: the peer of the connection is the client.",
    )
    trending_ranker: str = setting(
        "trending",
        "Ranker (from the register_rankers hook) behind /papers/trending, its API and Atom "
        "feed, and trending digests. Built in: trending (the documented formula).",
    )
    threads: int = setting(
        8,
        "Threads per web process for the work that blocks (database, templates, hashing): "
        "enough to overlap waits for PostgreSQL, few enough that they do not fight over the "
        "interpreter lock (the default of the underlying library is 40).",
    )
    page_cache_mb: int = setting(
        64,
        "Memory per web process, in MB, for complete anonymous responses (pages, API reads, "
        "Atom) answered again from memory until the data changes (0: no page cache; ETags and "
        "304 answers still work).",
    )
    page_cache_poll: float = setting(
        0.2,
        "Seconds between two reads of the data version by each web process: how soon writes "
        "made through another process or instance show on cached pages.",
    )
    page_cache_ttl: float = setting(
        30.0,
        "Longest time, in seconds, a cached page is answered again even when no data changed "
        "(what depends on the clock: trending decay, the feed day).",
    )

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure or self.base_url.startswith("https://")


@dataclass(frozen=True)
class SearchSettings:
    semantic_search: bool = setting(
        True, "Search by meaning (embeddings) as well as by words. Off: keyword search only."
    )
    keyword_backend: str = setting(
        "database",
        "Keyword retriever (from the register_search_backends hook). Built in: database "
        "(SQLite FTS5 bm25 / PostgreSQL tsvector, in the store's own transactions) and "
        "tantivy (a Tantivy index beside the store, caught up from it: for millions of "
        "papers; `paperwire index` builds it).",
    )
    vector_backend: str = setting(
        "vector-index",
        "Vector retriever (from the register_search_backends hook). Built in: vector-index "
        "(all-MiniLM-L6-v2 embeddings in an in-process index).",
    )
    index_dir: str = setting(
        "",
        "Folder of the vector index snapshot. Empty: beside the SQLite file (NAME.db.index), "
        "or under ~/.cache/paperwire/index for PostgreSQL.",
    )
    model_cache_dir: str = setting(
        "",
        "Folder where the ONNX embedding model is built on first use. Empty: "
        "~/.cache/paperwire/models.",
    )
    ann_threshold: int = setting(
        300000,
        "Above this many papers the vector index adds an approximate (IVF) index; below, "
        "search is exact. 0: always exact.",
    )
    ann_nprobe: int = setting(
        256,
        "IVF lists visited per query (more: better recall, slower; at 3 million papers 64 "
        "finds 93.6 % of the exact top 10 in 3.7 ms, 256 95.6 % in 12.4 ms).",
    )
    ann_codes: str = setting(
        "sq4",
        "What the IVF index keeps of each vector: sq8, sq6 or sq4 (8, 6 or 4 bits a "
        "dimension) or pq64 (64 bytes); the exact vectors re-rank the head of the results "
        "either way (at 1 million papers all three scalar codes found 97.6 % of the exact "
        "top 10, sq4 in half the memory of sq8). A change rebuilds the IVF index at the next "
        "`paperwire index`.",
    )
    search_candidates: int = setting(200, "Papers taken from each of the keyword and vector lists.")
    search_rank_window: int = setting(
        2000,
        "By relevance, the keyword side ranks only the newest this many papers holding the "
        "words, of them those the filters allow (a common word's millions of papers are not "
        "all scored; the semantic side still searches every paper, and sorted by date every "
        "match pages). 0: rank every match.",
    )
    search_min_similarity: float = setting(
        0.3,
        "Cosine similarity from which a paper that does not contain every query word still "
        "counts as a result.",
    )
    search_time_budget_ms: int = setting(
        750,
        "Milliseconds of database work one search may take (keyword index, author and other "
        "filters); the database stops a query past it and the search answers with what it "
        "found so far, saying so (0: no limit).",
    )
    search_rate_limit: int = setting(
        50,
        "Searches (the search page, its API and Atom feed) per search_rate_window seconds, per "
        "signed-in account, or per address for visitors (0: no limit). Hugging Face allows 50 "
        'per 5 minutes. Further pages of a search ("More papers") count apart, up to 4 '
        "times this.",
    )
    search_rate_window: int = setting(300, "Seconds of the search rate limit's window.")


@dataclass(frozen=True)
class MailSettings:
    smtp_host: str = setting(
        "",
        "SMTP server for outgoing mail. Empty: messages are written as .eml files to outbox_dir.",
    )
    smtp_port: int = setting(587, "SMTP port (587 with STARTTLS, 465 with TLS).")
    smtp_user: str = setting("", "SMTP user name (empty: no authentication).")
    smtp_password: str = setting("", "SMTP password.", secret=True)
    smtp_starttls: bool = setting(True, "Upgrade the SMTP connection with STARTTLS.")
    smtp_tls: bool = setting(False, "Connect to SMTP over TLS from the start (port 465).")
    mail_from: str = setting("Paperwire <noreply@localhost>", "From address of every e-mail.")
    outbox_dir: str = setting("outbox", "Folder for .eml files when no SMTP server is set.")
    mail_retries: int = setting(
        3,
        "Retries of one message after a temporary SMTP failure (4xx, lost connection), "
        "within a run.",
    )
    mail_backoff: float = setting(2.0, "First SMTP retry delay in seconds; doubles on each retry.")

    @property
    def domain(self) -> str:
        """The domain of ``mail_from``, for Message-IDs."""
        return self.mail_from.rsplit("@", 1)[-1].strip(" >") or "localhost"


@dataclass(frozen=True)
class DigestSettings:
    digest_hour: str = setting(
        "08:00",
        "Local time (HH:MM, in each subscriber's time zone) at which digests go out: daily "
        "ones on weekdays, weekly ones on Mondays.",
    )
    digest_size: int = setting(10, "Most papers in one digest or topic alert.")
    alert_min_similarity: float = setting(
        0.45,
        "Cosine similarity from which a new paper matches a topic alert by meaning alone "
        "(papers holding every word of the query match, as they do in search).",
    )
    digest_max_attempts: int = setting(
        5, "Runs that try a digest after temporary failures before giving it up."
    )
    digest_interval: int = setting(
        300,
        "Seconds between two checks for due digests by `paperwire serve` (0: never; then "
        "run `paperwire digest send` from cron).",
    )
    rate_limit_subscribe: int = setting(
        5,
        "Subscription requests per address and per visitor per hour (each sends an e-mail).",
    )


@dataclass(frozen=True)
class JobSettings:
    arxiv_visitor_wait: float = setting(
        3.0,
        "Seconds a visitor submitting or indexing an unknown paper waits for arXiv; past that "
        "(or when arXiv is down) the submission is accepted as pending and retried in the "
        "background.",
    )
    job_interval: int = setting(
        10,
        "Seconds between two looks at the jobs queue (pending submissions) by `paperwire "
        "serve` and `paperwire worker` (0: never; then run `paperwire jobs run` from cron).",
    )
    job_backoff: int = setting(
        60, "Seconds before a failed job is tried again; doubles on each try, up to an hour."
    )
    job_max_attempts: int = setting(
        10, "Tries of a job (e.g. fetching a pending submission from arXiv) before giving up."
    )


@dataclass(frozen=True)
class ThumbnailSettings:
    thumbnail_interval: int = setting(
        600,
        "Seconds between two runs of the thumbnail step (first page of each paper's PDF as "
        "its card image) in `paperwire serve` and `paperwire worker` (0: never; then run "
        "`paperwire thumbnails` from cron).",
    )
    thumbnail_batch: int = setting(
        20, "Papers one background run renders at most (newest first), so that it ends soon."
    )
    thumbnail_scope: str = setting(
        "feed",
        "Papers that get thumbnails: feed (those on the daily feed) or all (every paper in "
        "the catalogue, e.g. for search results; many PDF downloads).",
    )
    pdf_url_base: str = setting(
        "https://arxiv.org/pdf/",
        "Where PDFs are fetched: this followed by the arXiv id (a mirror, or a local server).",
    )
    pdf_max_bytes: int = setting(
        30_000_000, "Largest PDF fetched, in bytes; a larger one is recorded as failed."
    )
    thumbnail_retry_hours: float = setting(
        1.0,
        "Hours before a paper whose PDF failed is tried again; the wait doubles after each "
        "failure.",
    )
    thumbnail_max_attempts: int = setting(
        6,
        "Failures after which the background step stops trying a paper "
        "(`paperwire thumbnails --retry-failed` still does).",
    )


@dataclass(frozen=True)
class OpsSettings:
    log_format: str = setting(
        "text",
        "Log lines as text (for people) or json (one object a line: time, level, logger, "
        "message; access lines add method, path, status, duration_ms, client).",
    )
    access_log: bool = setting(
        True,
        "Log one line per request served (method, path without secrets, status, duration, "
        "client address).",
    )
    metrics_allow: str = setting(
        "127.0.0.1/32, ::1/128",
        "Client addresses (CIDRs, comma-separated) that may read /metrics without a token.",
    )
    metrics_token: str = setting(
        "",
        "Bearer token that also opens /metrics (Authorization: Bearer TOKEN) from any "
        "address. Empty: addresses only.",
        secret=True,
    )

    @property
    def json_logs(self) -> bool:
        return self.log_format.strip().lower() == "json"


SECTIONS: dict[str, type] = {
    "store": StoreSettings,
    "sources": SourceSettings,
    "site": SiteSettings,
    "search": SearchSettings,
    "mail": MailSettings,
    "digests": DigestSettings,
    "jobs": JobSettings,
    "thumbnails": ThumbnailSettings,
    "ops": OpsSettings,
}


@dataclass(frozen=True)
class Setting:
    """One setting, as documented: its name, section, default, help and type."""

    name: str
    section: str
    default: Any
    help: str
    secret: bool = False

    @property
    def type(self) -> type:
        return type(self.default)

    @property
    def env(self) -> str:
        return f"PAPERWIRE_{self.name.upper()}"


def _declared() -> tuple[Setting, ...]:
    out = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            out.append(
                Setting(f.name, section, f.default, f.metadata["help"], f.metadata["secret"])
            )
    names = [s.name for s in out]
    assert len(names) == len(set(names)), "setting names must be unique across sections"
    return tuple(out)


SETTINGS: tuple[Setting, ...] = _declared()
BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    kind = setting.type
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            if kind is float:
                return float(value)
            if kind is int:
                return int(value)
            if kind is bool:
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
        except ValueError:
            pass
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise ConfigError(f"{setting.name} from {origin}: expected {kind.__name__}, got {value!r}")


@dataclass(frozen=True)
class Settings:
    """Every setting, by section: ``settings.mail.smtp_host``."""

    store: StoreSettings = field(default_factory=StoreSettings)
    sources: SourceSettings = field(default_factory=SourceSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    digests: DigestSettings = field(default_factory=DigestSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    thumbnails: ThumbnailSettings = field(default_factory=ThumbnailSettings)
    ops: OpsSettings = field(default_factory=OpsSettings)

    @classmethod
    def from_values(cls, values: Mapping[str, Any], origin: str = "the caller") -> Settings:
        """Defaults with ``values`` (flat names) applied, each checked against its type."""
        by_section: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for key, value in values.items():
            if key not in BY_NAME:
                raise ConfigError(f"{origin}: unknown setting {key!r}")
            s = BY_NAME[key]
            by_section[s.section][key] = _coerce(s, value, origin)
        return cls(**{name: SECTIONS[name](**vals) for name, vals in by_section.items()})

    @classmethod
    def load(
        cls,
        file: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Defaults < TOML file < ``PAPERWIRE_*`` environment < ``overrides`` (CLI flags;
        None values are ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = Path(file) if file else None
        if path is None and env.get("PAPERWIRE_CONFIG"):
            path = Path(env["PAPERWIRE_CONFIG"])
        if path is None and Path("paperwire.toml").exists():
            path = Path("paperwire.toml")
        if path is not None:
            try:
                data = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read {path}: {exc}") from None
            for key, value in data.items():
                if key not in BY_NAME:
                    raise ConfigError(f"{path}: unknown setting {key!r}")
                values[key] = _coerce(BY_NAME[key], value, str(path))
        for s in SETTINGS:
            if s.env in env:
                values[s.name] = _coerce(s, env[s.env], s.env)
        for key, value in (overrides or {}).items():
            if value is not None:
                if key not in BY_NAME:
                    raise ConfigError(f"unknown setting {key!r}")
                values[key] = _coerce(BY_NAME[key], value, "the command line")
        return cls.from_values(values)

    def items(self) -> Iterator[tuple[Setting, Any]]:
        """Every setting with its value, in documentation order."""
        for s in SETTINGS:
            yield s, getattr(getattr(self, s.section), s.name)

    def replace(self, **values: Any) -> Settings:
        """A copy with some settings (flat names) changed."""
        current = {s.name: v for s, v in self.items()}
        return Settings.from_values({**current, **values})

    def to_json(self) -> str:
        """Every value, typed, for a process started by this one (see ``from_json``)."""
        return json.dumps({s.name: v for s, v in self.items()})

    @classmethod
    def from_json(cls, text: str) -> Settings:
        return cls.from_values(json.loads(text), "a settings snapshot")
