"""Settings: one declarative table. Values come from CLI flags, ``PAPERWIRE_<NAME>``
environment variables, a TOML file (``--config``, ``PAPERWIRE_CONFIG`` or ./paperwire.toml),
then the defaults below — in that order of precedence. ``paperwire settings`` prints them."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ingest.http import DEFAULT_AGENT


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    secret: bool = False

    @property
    def type(self) -> type:
        return type(self.default)

    @property
    def env(self) -> str:
        return f"PAPERWIRE_{self.name.upper()}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        "sqlite:///paperwire.db",
        "SQLAlchemy URL of the store: sqlite:///PATH (default, embedded) or "
        "postgresql+psycopg://USER@HOST/DB.",
    ),
    Setting("arxiv_api_url", "https://export.arxiv.org/api/query", "arXiv API (Atom) endpoint."),
    Setting("arxiv_oai_url", "https://oaipmh.arxiv.org/oai", "arXiv OAI-PMH endpoint."),
    Setting(
        "arxiv_min_interval",
        3.0,
        "Seconds between two requests to arXiv (arXiv's terms ask for at least 3).",
    ),
    Setting("hf_api_url", "https://huggingface.co", "Base URL of the Hugging Face papers API."),
    Setting("github_api_url", "https://api.github.com", "GitHub REST API base URL."),
    Setting(
        "github_token",
        "",
        "GitHub token for the stars refresher (5,000 requests/hour instead of 60).",
        secret=True,
    ),
    Setting("http_min_interval", 1.0, "Seconds between two requests to Hugging Face or GitHub."),
    Setting("http_retries", 4, "Retries of a request after a 5xx answer, timeout or cut response."),
    Setting("http_backoff", 2.0, "First retry delay in seconds; doubles on each retry."),
    Setting("http_timeout", 60.0, "Seconds before a request times out."),
    Setting("user_agent", DEFAULT_AGENT, "User-Agent sent to every source."),
    # -- site
    Setting("site_name", "Paperwire", "Name shown in the header, page titles, e-mails and feeds."),
    Setting(
        "base_url",
        "http://127.0.0.1:8000",
        "Public address of the site, used for links in e-mails and Atom feeds.",
    ),
    Setting(
        "secret_key",
        "",
        "Key that signs sessions and links. Empty: one is generated and kept in the database, "
        "so every process sharing it agrees.",
        secret=True,
    ),
    Setting(
        "feed_timezone",
        "America/New_York",
        "Time zone of the daily feed (IANA name). Hugging Face uses America/New_York.",
    ),
    Setting(
        "feed_rollover",
        "21:30",
        "Local time (HH:MM) at which the feed moves to the next day; submissions from then on "
        "count for the next day's feed. 00:00 means midnight.",
    ),
    Setting("page_size", 30, "Cards per page on the site."),
    Setting(
        "submit_max_age_days",
        14,
        "Only papers published within this many days can be submitted to the feed (0: any age).",
    ),
    Setting(
        "submit_daily_limit",
        5,
        "Feed submissions per user per day (curators and admins have no limit; 0: no limit).",
    ),
    Setting("comment_max_chars", 10000, "Longest comment accepted, in characters."),
    Setting("max_body_bytes", 1048576, "Largest request body accepted, in bytes."),
    Setting(
        "rate_limit_auth",
        10,
        "Sign-in, sign-up and password-reset attempts per address and per account per 15 minutes.",
    ),
    Setting("rate_limit_writes", 60, "Upvotes, comments and submissions per user per minute."),
    Setting(
        "cookie_secure",
        False,
        "Send cookies over HTTPS only (turn on behind TLS; on by itself when base_url is https).",
    ),
    # -- search
    Setting(
        "semantic_search",
        True,
        "Search by meaning (embeddings) as well as by words. Off: keyword search only.",
    ),
    Setting(
        "index_dir",
        "",
        "Folder of the vector index snapshot. Empty: beside the SQLite file (NAME.db.index), "
        "or under ~/.cache/paperwire/index for PostgreSQL.",
    ),
    Setting(
        "model_cache_dir",
        "",
        "Folder where the ONNX embedding model is built on first use. Empty: "
        "~/.cache/paperwire/models.",
    ),
    Setting(
        "ann_threshold",
        300000,
        "Above this many papers the vector index adds an approximate (IVF) index; below, "
        "search is exact. 0: always exact.",
    ),
    Setting("ann_nprobe", 48, "IVF lists visited per query (more: better recall, slower)."),
    Setting("search_candidates", 200, "Papers taken from each of the keyword and vector lists."),
    Setting(
        "search_min_similarity",
        0.3,
        "Cosine similarity from which a paper that does not contain every query word still "
        "counts as a result.",
    ),
    # -- mail
    Setting(
        "smtp_host",
        "",
        "SMTP server for outgoing mail. Empty: messages are written as .eml files to outbox_dir.",
    ),
    Setting("smtp_port", 587, "SMTP port (587 with STARTTLS, 465 with TLS)."),
    Setting("smtp_user", "", "SMTP user name (empty: no authentication)."),
    Setting("smtp_password", "", "SMTP password.", secret=True),
    Setting("smtp_starttls", True, "Upgrade the SMTP connection with STARTTLS."),
    Setting("smtp_tls", False, "Connect to SMTP over TLS from the start (port 465)."),
    Setting("mail_from", "Paperwire <noreply@localhost>", "From address of every e-mail."),
    Setting("outbox_dir", "outbox", "Folder for .eml files when no SMTP server is set."),
    Setting(
        "mail_retries",
        3,
        "Retries of one message after a temporary SMTP failure (4xx, lost connection), "
        "within a run.",
    ),
    Setting("mail_backoff", 2.0, "First SMTP retry delay in seconds; doubles on each retry."),
    # -- digests and topic alerts
    Setting(
        "digest_hour",
        "08:00",
        "Local time (HH:MM, in each subscriber's time zone) at which digests go out: daily "
        "ones on weekdays, weekly ones on Mondays.",
    ),
    Setting("digest_size", 10, "Most papers in one digest or topic alert."),
    Setting(
        "alert_min_similarity",
        0.45,
        "Cosine similarity from which a new paper matches a topic alert by meaning alone "
        "(papers holding every word of the query need search_min_similarity).",
    ),
    Setting(
        "digest_max_attempts",
        5,
        "Runs that try a digest after temporary failures before giving it up.",
    ),
    Setting(
        "digest_interval",
        300,
        "Seconds between two checks for due digests by `paperwire serve` (0: never; then "
        "run `paperwire digest send` from cron).",
    ),
    Setting(
        "rate_limit_subscribe",
        5,
        "Subscription requests per address and per visitor per hour (each sends an e-mail).",
    ),
)
BY_NAME = {s.name: s for s in SETTINGS}


class ConfigError(ValueError):
    """A setting has a value of the wrong type, or the config file is unreadable."""


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


class Config:
    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def items(self):
        return self._values.items()

    @classmethod
    def load(
        cls,
        file: str | Path | None = None,
        overrides: dict[str, Any] | None = None,
        environ: dict[str, str] | None = None,
    ) -> Config:
        env = os.environ if environ is None else environ
        values = {s.name: s.default for s in SETTINGS}
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
                values[key] = _coerce(BY_NAME[key], value, "the command line")
        return cls(values)
