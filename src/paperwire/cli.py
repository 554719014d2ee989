"""The ``paperwire`` command line.

Exit codes (for cron jobs): 0 everything went in; 1 finished, but some records were
skipped (listed on stderr); 2 usage error; 3 a source failed (network, HTTP, bad feed);
4 database error; 5 configuration error.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import click
import sqlalchemy as sa

from . import __version__
from .config import BY_NAME, SETTINGS, Config, ConfigError
from .ingest.http import PoliteClient, SourceError, polite_client
from .ingest.records import ImportReport
from .progress import Progress
from .store import Store, StoreError

EXIT_OK, EXIT_PARTIAL, EXIT_SOURCE, EXIT_DB, EXIT_CONFIG = 0, 1, 3, 4, 5
SHOW_SKIPPED = 20


class Context:
    def __init__(self, config: Config, quiet: bool):
        self.config = config
        self.quiet = quiet

    def open_store(self, url: str | None = None) -> Store:
        store = Store(url or self.config.database_url)
        if store.dialect == "sqlite":
            store.upgrade()  # the embedded default migrates itself
        else:
            store.check_ready()  # shared databases are migrated explicitly
        return store

    def client(self, arxiv: bool = False, **headers) -> PoliteClient:
        return polite_client(self.config, arxiv, **headers)

    def progress(self, length: int | None, label: str, unit: str = "") -> Progress:
        return Progress(label, length, unit=unit, hidden=self.quiet)


pass_ctx = click.make_pass_decorator(Context)


@contextmanager
def failures():
    """Turn expected failures into one clear line and a meaningful exit code."""
    try:
        yield
    except SourceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_SOURCE)
    except (StoreError, sa.exc.SQLAlchemyError) as exc:
        msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        click.echo(f"database error: {msg}", err=True)
        sys.exit(EXIT_DB)
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_SOURCE)


def finish(report: ImportReport, dry_run: bool) -> None:
    prefix = "dry run (nothing written): " if dry_run else ""
    click.echo(prefix + report.summary())
    for reason in report.skipped[:SHOW_SKIPPED]:
        click.echo(f"skipped: {reason}", err=True)
    if len(report.skipped) > SHOW_SKIPPED:
        click.echo(f"... and {len(report.skipped) - SHOW_SKIPPED} more skipped", err=True)
    sys.exit(EXIT_PARTIAL if report.skipped else EXIT_OK)


def parse_day(_ctx, _param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paperwire")
@click.option("--db", "database_url", metavar="URL", help="Database URL (overrides settings).")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def main(ctx, database_url, config_file, quiet):
    """Paperwire: a self-hostable Daily Papers site."""
    try:
        config = Config.load(config_file, {"database_url": database_url})
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    ctx.obj = Context(config, quiet)


# -- database -------------------------------------------------------------------------------
@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(c: Context):
    """Create or migrate the schema to the latest version."""
    with failures():
        store = Store(c.config.database_url)
        store.upgrade()
        click.echo(f"database at revision {store.revision()} ({store.dialect})")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def stats(c: Context, as_json):
    """What the catalogue holds."""
    with failures():
        s = c.open_store().stats()
    if as_json:
        click.echo(json.dumps(s, indent=2, default=str))
        return
    click.echo(f"backend            {s['backend']} (schema {s['schema_revision']})")
    for key in (
        "papers",
        "feed_entries",
        "users",
        "organizations",
        "upvotes",
        "comments",
        "subscriptions",
        "deliveries",
        "job_runs",
    ):
        click.echo(f"{key:<18} {s[key]:>10,}")
    click.echo(f"with code          {s['with_code']:>10,}  (stars known: {s['with_stars']:,})")
    click.echo(f"published          {s['published_range'][0]} .. {s['published_range'][1]}")
    click.echo(f"on the feed        {s['feed_range'][0]} .. {s['feed_range'][1]}")
    if "size_bytes" in s:
        click.echo(f"size               {s['size_bytes'] / 1e6:,.1f} MB")


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def backup(c: Context, path: Path):
    """Write a consistent copy of the live database to PATH."""
    with failures():
        out = c.open_store().backup(path)
    click.echo(f"backup written to {out} ({out.stat().st_size / 1e6:,.1f} MB)")


@main.command("settings")
@click.option("--markdown", is_flag=True, help="The reference table for the README.")
@pass_ctx
def settings_cmd(c: Context, markdown: bool):
    """Show every setting, its value and where to set it."""
    if markdown:
        click.echo(settings_markdown())
        return
    for s in SETTINGS:
        value = getattr(c.config, s.name)
        shown = "***" if s.secret and value else repr(value)
        click.echo(f"{s.name} = {shown}\n    {s.help}\n    env {s.env}")


def settings_markdown() -> str:
    rows = ["| setting | environment variable | default | what it does |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = "(empty)" if s.default == "" else f"`{s.default}`"
        rows.append(f"| `{s.name}` | `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)


# -- ingestion ------------------------------------------------------------------------------
@main.group()
def ingest():
    """Fill the catalogue from arXiv, Hugging Face and GitHub."""


dry_run_option = click.option("--dry-run", is_flag=True, help="Read and check, write nothing.")


@ingest.command("arxiv")
@click.option("--category", help="arXiv category, e.g. cs.CV.")
@click.option("--from", "from_", callback=parse_day, help="First submission day (YYYY-MM-DD).")
@click.option("--until", callback=parse_day, help="Last submission day (default: --from).")
@click.option("--query", help="A raw arXiv API search_query instead of --category.")
@click.option("--max", "max_results", type=click.IntRange(1), default=2000, show_default=True)
@dry_run_option
@pass_ctx
def ingest_arxiv(c: Context, category, from_, until, query, max_results, dry_run):
    """Papers from the arXiv API, by category and submission days or by query."""
    from .ingest.arxiv_api import ArxivAPI, category_query
    from .ingest.pipeline import import_arxiv

    if bool(category) == bool(query):
        raise click.UsageError("give either --category (with --from) or --query")
    if category:
        if from_ is None:
            raise click.UsageError("--category needs --from")
        query = category_query(category, from_, until or from_)
    with failures():
        store = c.open_store()
        with c.client(arxiv=True) as client, c.progress(None, "papers") as bar:
            api = ArxivAPI(client, c.config.arxiv_api_url)
            report = import_arxiv(
                store,
                api,
                search_query=query,
                max_results=max_results,
                dry_run=dry_run,
                progress=bar.update,
            )
    finish(report, dry_run)


@ingest.command("id")
@click.argument("ids", nargs=-1, required=True)
@dry_run_option
@pass_ctx
def ingest_id(c: Context, ids, dry_run):
    """One or more papers by arXiv id (or abs/pdf URL)."""
    from .ids import InvalidArxivId, normalize_arxiv_id
    from .ingest.arxiv_api import ArxivAPI
    from .ingest.pipeline import import_arxiv

    try:
        wanted = [normalize_arxiv_id(i) for i in ids]
    except InvalidArxivId as exc:
        raise click.BadParameter(str(exc), param_hint="IDS") from None
    with failures():
        store = c.open_store()
        with c.client(arxiv=True) as client:
            report = import_arxiv(
                store, ArxivAPI(client, c.config.arxiv_api_url), ids=wanted, dry_run=dry_run
            )
    finish(report, dry_run)


@ingest.command("oai")
@click.option("--from", "from_", callback=parse_day, help="Records changed on or after this day.")
@click.option("--until", callback=parse_day, help="Records changed on or before this day.")
@click.option("--set", "set_", help="OAI set, e.g. cs or physics:hep-th.")
@click.option("--restart", is_flag=True, help="Ignore an interrupted run; start over.")
@dry_run_option
@pass_ctx
def ingest_oai(c: Context, from_, until, set_, restart, dry_run):
    """Harvest arXiv OAI-PMH; an interrupted harvest resumes where it stopped."""
    from .ingest.oai import OAIHarvester
    from .ingest.pipeline import harvest_oai

    with failures():
        store = c.open_store()
        with c.client(arxiv=True) as client, c.progress(None, "records") as bar:
            report = harvest_oai(
                store,
                OAIHarvester(client, c.config.arxiv_oai_url),
                from_=from_,
                until=until,
                set_=set_,
                restart=restart,
                dry_run=dry_run,
                progress=bar.update,
                log=lambda m: click.echo(m, err=True),
            )
    finish(report, dry_run)


def _file_import(c: Context, path, kind, keep, limit, dry_run):
    from .ingest.pipeline import import_jsonl

    size = None if str(path) == "-" else Path(path).stat().st_size
    with failures():
        store = c.open_store()
        with c.progress(size, "reading", "B") as bar:
            report = import_jsonl(
                store,
                path,
                kind=kind,
                keep=keep,
                limit=limit,
                dry_run=dry_run,
                progress_bytes=bar.update,
            )
    finish(report, dry_run)


@ingest.command("snapshot")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--category", help="Keep papers with this category or prefix (cs, cs.CV).")
@click.option("--since", callback=parse_day, help="Keep records updated on or after this day.")
@click.option("--limit", type=click.IntRange(1), help="Stop after this many papers.")
@dry_run_option
@pass_ctx
def ingest_snapshot(c: Context, path, category, since, limit, dry_run):
    """Kaggle arxiv-metadata-oai-snapshot JSON lines (plain or .gz, or - for stdin)."""
    from .ingest.snapshot import snapshot_filter

    keep = snapshot_filter(category, since) if (category or since) else None
    _file_import(c, path, "snapshot", keep, limit, dry_run)


@ingest.command("listing")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--limit", type=click.IntRange(1), help="Stop after this many papers.")
@dry_run_option
@pass_ctx
def ingest_listing(c: Context, path, limit, dry_run):
    """Daily arXiv listing JSON lines (the format of the benchmark corpus)."""
    _file_import(c, path, "listing", None, limit, dry_run)


@ingest.command("hf-daily")
@click.option("--date", "day", callback=parse_day, help="Feed day to fetch (default: today).")
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=1,
    show_default=True,
    help="Fetch this many days ending at --date.",
)
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="Import a saved api/daily_papers answer instead of fetching.",
)
@dry_run_option
@pass_ctx
def ingest_hf_daily(c: Context, day, days, file_, dry_run):
    """Hugging Face daily papers: feed entries with upvotes, submitters, code links."""
    from .ingest.hf_daily import HFDailyPapers
    from .ingest.pipeline import import_hf_days, import_hf_file

    with failures():
        store = c.open_store()
        if file_:
            report = import_hf_file(store, file_, dry_run=dry_run)
        else:
            end = day or date.today()
            wanted = [end - timedelta(days=n) for n in range(days - 1, -1, -1)]
            with c.client() as client, c.progress(len(wanted), "days") as bar:
                api = HFDailyPapers(client, c.config.hf_api_url)
                report = import_hf_days(store, api, wanted, dry_run=dry_run, progress=bar.update)
    finish(report, dry_run)


@ingest.command("github-stars")
@click.option("--limit", type=click.IntRange(1), default=500, show_default=True)
@click.option(
    "--max-age",
    type=click.FloatRange(0),
    default=24.0,
    show_default=True,
    help="Refresh repos checked longer ago than this many hours.",
)
@click.option("--wait", is_flag=True, help="Sleep through a rate limit instead of stopping.")
@dry_run_option
@pass_ctx
def ingest_github_stars(c: Context, limit, max_age, wait, dry_run):
    """Refresh GitHub star counts (conditional requests; rate-limit aware)."""
    from .ingest.github import GitHubStars, refresh_stars

    with failures():
        store = c.open_store()
        with c.client() as client, c.progress(limit, "repos") as bar:
            gh = GitHubStars(client, c.config.github_api_url, c.config.github_token or None)
            r = refresh_stars(
                store,
                gh,
                limit=limit,
                max_age_hours=max_age,
                wait_for_reset=wait,
                dry_run=dry_run,
                progress=bar.update,
            )
    click.echo(
        f"{r.checked} checked, {r.updated} updated, {r.not_modified} not modified, "
        f"{r.gone} gone, {len(r.errors)} errors"
    )
    for e in r.errors[:SHOW_SKIPPED]:
        click.echo(f"error: {e}", err=True)
    if r.rate_limited_until:
        click.echo(
            f"stopped: GitHub rate limit until {r.rate_limited_until:%Y-%m-%d %H:%M} UTC", err=True
        )
        sys.exit(EXIT_SOURCE)
    sys.exit(EXIT_PARTIAL if r.errors else EXIT_OK)


# -- web ------------------------------------------------------------------------------------
def _serve(c: Context, host: str, port: int, workers: int, reload_: bool = False) -> None:
    import os

    import uvicorn

    # Worker processes rebuild the settings from the environment: pass ours on.
    for name, value in c.config.items():
        if value != BY_NAME[name].default:
            os.environ[BY_NAME[name].env] = str(value)
    with failures():
        store = c.open_store()  # migrate (SQLite) or check the schema before forking
        store.close()
    if c.config.digest_interval > 0 and not reload_:
        from .jobs import DigestScheduler

        DigestScheduler(c.config).start()  # daemon thread: ends with the server
    click.echo(f"Paperwire on http://{host}:{port}/papers ({workers} worker(s)); Ctrl-C stops.")
    uvicorn.run(
        "paperwire.web.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload_,
        log_level="warning" if c.quiet else "info",
        proxy_headers=False,
        access_log=not c.quiet,
    )


def _serve_options(f):
    f = click.option("--host", default="127.0.0.1", show_default=True)(f)
    f = click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))(f)
    return f


@main.command()
@_serve_options
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (use PostgreSQL, or SQLite on one machine).",
)
@pass_ctx
def serve(c: Context, host, port, workers):
    """Run the web site and API."""
    _serve(c, host, port, workers)


@main.command()
@pass_ctx
def worker(c: Context):
    """Run the background jobs (digests) without the web site. Ctrl-C stops."""
    import logging

    from .jobs import DigestScheduler

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if c.config.digest_interval <= 0:
        raise click.UsageError("digest_interval is 0: nothing to schedule")
    with failures():
        c.open_store().close()
    sched = DigestScheduler(c.config)
    click.echo(f"sending due digests every {sched.interval:g} s; Ctrl-C stops")
    try:
        sched.run()
    except KeyboardInterrupt:
        sched.stop()


@main.group()
def user():
    """Accounts."""


@user.command("add")
@click.argument("username")
@click.option("--email", help="E-mail address (for password resets).")
@click.option(
    "--role", type=click.Choice(["user", "curator", "admin"]), default="user", show_default=True
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def user_add(c: Context, username, email, role, password_stdin):
    """Create a confirmed account (e.g. the first admin)."""
    from .web.security import hash_password, password_problem

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, username)
    if problem:
        raise click.UsageError(problem)
    with failures():
        store = c.open_store()
        user_id = store.create_user(username, email, hash_password(password), role=role)
    if user_id is None:
        raise click.UsageError(f"user name {username!r} or that e-mail address is taken")
    click.echo(f"user {username} ({role}) created")


@user.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(["user", "curator", "admin"]))
@pass_ctx
def user_role(c: Context, username, role):
    """Change the role of an account."""
    with failures():
        store = c.open_store()
        found = store.get_user(username=username)
        if found is None:
            raise click.UsageError(f"no user {username!r}")
        store.update_user(found["id"], role=role)
    click.echo(f"{username} is now {role}")


# -- search ---------------------------------------------------------------------------------
def _engine(c: Context, store: Store):
    from .search import engine_for

    return engine_for(c.config, store)


@main.command("index")
@click.option("--limit", type=click.IntRange(1), help="Embed at most this many papers.")
@click.option("--batch", type=click.IntRange(1, 4096), default=256, show_default=True,
              help="Papers per database transaction.")
@click.option("--rebuild", is_flag=True, help="Rebuild the vector index snapshot from scratch.")
@dry_run_option
@pass_ctx
def index_cmd(c: Context, limit, batch, rebuild, dry_run):
    """Embed the papers that have no vector yet, then write the vector index snapshot.
    Incremental and resumable: an interrupted run keeps every finished batch."""
    import time

    from .search.model import ModelError

    with failures():
        store = c.open_store()
        engine = _engine(c, store)
        if not c.config.semantic_search:
            raise click.UsageError("semantic_search is off in the settings")
        todo = store.count_to_embed(engine.model)
        if limit:
            todo = min(todo, limit)
        started = time.monotonic()
        try:
            with c.progress(todo, "embedding", unit="papers") as bar:
                done = engine.embed_missing(limit=limit, batch=batch, progress=bar.update,
                                            dry_run=dry_run)
        except ModelError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        took = time.monotonic() - started
        rate = f" ({done / took:.1f} papers/s)" if done and took > 0 else ""
        verb = "would embed" if dry_run else "embedded"
        click.echo(f"{verb} {done} papers in {took:.1f} s{rate}")
        if dry_run:
            return
        snap = engine.save_index(rebuild=rebuild)
        index = engine.index()
        click.echo(f"vector index: {len(index)} papers, {index.kind} search, snapshot {snap}")


def _filters(from_, until, category, has_code, on_feed):
    from .store import SearchFilters

    return SearchFilters(date_from=from_, date_to=until, category=category or None,
                         has_code=has_code, on_feed=on_feed)


@main.command("search")
@click.argument("query", nargs=-1)
@click.option("--limit", type=click.IntRange(1, 120), default=10, show_default=True)
@click.option("--page", type=click.IntRange(0), default=0, show_default=True)
@click.option("--sort", type=click.Choice(["relevance", "date", "upvotes"]), default="relevance",
              show_default=True)
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "semantic"]), default="hybrid",
              show_default=True)
@click.option("--from", "from_", callback=parse_day, help="Published on or after (YYYY-MM-DD).")
@click.option("--until", callback=parse_day, help="Published on or before (YYYY-MM-DD).")
@click.option("--category", help="arXiv category (cs.CV) or archive (cs).")
@click.option("--has-code", is_flag=True, help="Only papers with a code repository.")
@click.option("--on-feed", is_flag=True, help="Only papers on the daily feed.")
@click.option("--similar", "similar_to", metavar="ARXIV_ID",
              help="Papers similar to this one instead of a query.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def search_cmd(c: Context, query, limit, page, sort, mode, from_, until, category, has_code,
               on_feed, similar_to, as_json):
    """Search the papers by words and meaning."""
    from .search import query as Q

    text = " ".join(query)
    if not text.strip() and not similar_to:
        raise click.UsageError("give a query (or --similar ID)")
    with failures():
        store = c.open_store()
        engine = _engine(c, store)
        if similar_to:
            hits, total, used = engine.similar(similar_to, limit), None, "similar"
            parsed = Q.parse("")
        else:
            res = engine.search(text, _filters(from_, until, category, has_code, on_feed),
                                sort=sort, offset=page * limit, limit=limit, mode=mode)
            hits, total, used, parsed = res.hits, res.total, res.mode, res.query
        cards = {card["id"]: card for card in store.cards([h.paper_id for h in hits])}
    if as_json:
        out = [
            {"id": h.paper_id, "title": cards[h.paper_id]["title"], "score": round(h.score, 6),
             "similarity": None if h.similarity is None else round(h.similarity, 4),
             "published": cards[h.paper_id]["published"].isoformat()
             if cards[h.paper_id]["published"] else None}
            for h in hits if h.paper_id in cards
        ]
        click.echo(json.dumps({"mode": used, "total": total, "results": out}, indent=1))
        return
    if engine.problem:
        click.echo(f"note: keyword search only ({engine.problem})", err=True)
    if not hits:
        click.echo("no results")
        return
    pattern = Q.highlight_pattern(parsed.terms())
    bold = sys.stdout.isatty()
    for n, h in enumerate(hits, page * limit + 1):
        card = cards.get(h.paper_id)
        if card is None:
            continue
        title = " ".join(card["title"].split())
        if pattern is not None and bold:
            title = pattern.sub(lambda m: click.style(m.group(0), bold=True), title)
        day = card["published"].strftime("%Y-%m-%d") if card["published"] else "          "
        sim = "" if h.similarity is None else f"  sim {h.similarity:.2f}"
        click.echo(f"{n:>3}. {card['id']:<12} {day}  {title}")
        click.echo(f"     {card['upvotes']} upvotes{sim}  {c.config.base_url}/papers/{card['id']}")
    if total is not None:
        click.echo(f"{total} results ({used})")


# -- demo -----------------------------------------------------------------------------------
@main.command()
@click.option(
    "--db",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("paperwire-demo.db"),
    show_default=True,
    help="SQLite file to create.",
)
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Start the site on the demo afterwards.",
)
@_serve_options
@pass_ctx
def demo(c: Context, path: Path, force: bool, serve: bool, host, port):
    """Load the bundled demo data (real papers) into a fresh SQLite file and serve it.
    An existing file is served as it is (with its accounts and votes) unless --force."""
    from .demo import load_demo

    fresh = force or not path.exists()
    if path.exists() and force:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif path.exists() and not serve:
        raise click.UsageError(f"{path} exists: use --force to replace it")
    if fresh:
        with failures():
            store = Store(f"sqlite:///{path}")
            store.upgrade()
            summary = load_demo(store)
            store.close()
        click.echo(f"demo database {path}: {summary}")
    if serve:
        c.config = Config({**dict(c.config.items()), "database_url": f"sqlite:///{path}"})
        _serve(c, host, port, 1)


# -- digests --------------------------------------------------------------------------------
@main.group()
def digest():
    """E-mail digests and topic alerts."""


def _period_option(_ctx, _param, value):
    from .mail.schedule import check_period
    from .periods import PeriodError

    if value is None:
        return None
    try:
        return check_period(value)
    except PeriodError as exc:
        raise click.BadParameter(str(exc)) from None


@digest.command("send")
@click.option("--period", callback=_period_option, metavar="PERIOD",
              help="Send this period: YYYY-MM-DD for daily digests (a weekday), YYYY-Www for "
                   "weekly ones. Default: whatever is due now in each subscriber's time zone.")
@click.option("--limit", type=click.IntRange(1), help="Send at most this many messages.")
@click.option("--show", is_flag=True, help="With --dry-run: list each message's papers.")
@dry_run_option
@pass_ctx
def digest_send(c: Context, period, limit, show, dry_run):
    """Compose and send the digests that are due. Idempotent: run it again (after a crash,
    from cron, from two machines) and every due message still goes out exactly once."""
    from .mail.run import DigestRun

    def preview(sub, due, picks):
        if show:
            click.echo(f"{sub['email']} {sub['kind']} {due.period}: {len(picks)} papers")
            for p in picks:
                click.echo(f"  {p.paper_id}  {p.why}")

    with failures():
        store = c.open_store()
        engine = _engine(c, store) if c.config.semantic_search else None
        run = DigestRun(store, c.config, engine)
        with c.progress(None, "digests", unit="messages") as bar:
            stats = run.run(period=period, dry_run=dry_run, limit=limit,
                            progress=bar.update, preview=preview)
    prefix = "dry run, nothing sent: " if dry_run else ""
    click.echo(prefix + stats.line())
    for err in stats.errors[:20]:
        click.echo(f"  {err}", err=True)
    if stats.errors:
        sys.exit(EXIT_PARTIAL)
