"""Commands that run the site: ``serve``, ``worker``, ``demo``, and ``user`` accounts. Also
the factory that builds the application in each ``serve`` worker process."""

from __future__ import annotations

import logging
import logging.config
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from .. import plugins
from ..core import logs
from ..core.models import ROLES
from ..core.passwords import hash_password, password_problem
from ..core.settings import Settings, SiteSettings
from ..ingest.thumbnails import ThumbnailScheduler
from ..jobs.worker import QueueWorker
from ..mail import outgoing
from ..mail.scheduler import DigestScheduler
from ..mail.send import keep_site_address
from ..search.vectors import limit_blas_threads
from ..store import Store
from .main import Runtime, main, pass_runtime

# Worker processes of `serve --workers N` read the parent's settings from this file: typed,
# exactly what the parent resolved (flags included), and not spread through the environment
# of every child process.
SNAPSHOT_ENV = "PAPERWIRE_SETTINGS_SNAPSHOT"
# prometheus_client's multiprocess directory (read when it is first imported, in each worker).
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def worker_app() -> FastAPI:
    """The application of one ``paperwire serve`` worker process (uvicorn's factory)."""
    snapshot = os.environ.get(SNAPSHOT_ENV)
    settings = Settings.from_json(Path(snapshot).read_text()) if snapshot else Settings.load()
    if not logging.getLogger().handlers:  # not set up by `paperwire serve` (uvicorn's log_config)
        logs.configure(settings.ops)
    limit_blas_threads()
    app = plugins.site(settings)
    site = app.state.site
    # Rank once in the background so that no visitor waits for the first computation;
    # likewise load the embedding model and the vector index, and count the words of the
    # papers For you ranks.
    threading.Thread(target=site.trending.get, daemon=True).start()
    threading.Thread(target=site.search.warm, daemon=True).start()
    site.warm_for_you()
    return app


def _private_dir() -> str | None:
    """The user's runtime directory where there is one (private, emptied at logout)."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    return runtime_dir if runtime_dir and os.path.isdir(runtime_dir) else None


def _write_snapshot(settings: Settings) -> Path:
    fd, name = tempfile.mkstemp(prefix="paperwire-settings-", suffix=".json", dir=_private_dir())
    with os.fdopen(fd, "w") as fh:  # mkstemp: readable by this user only (secrets inside)
        fh.write(settings.to_json())
    return Path(name)


def _own_address(settings: Settings, host: str, port: int) -> Settings:
    """With ``base_url`` left at its default, the address this server listens on: the links
    of e-mails and feeds then lead here (``--port 8765`` had them point to port 8000). A
    base_url that was set (a public name behind a proxy) is kept."""
    if settings.site.base_url != SiteSettings().base_url:
        return settings
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return settings.replace(base_url=f"http://{shown}:{port}")


def serve_site(runtime: Runtime, host: str, port: int, workers: int) -> None:
    import uvicorn

    runtime.settings = _own_address(runtime.settings, host, port)
    settings = runtime.settings
    level = "WARNING" if runtime.quiet else "INFO"
    log_config = logs.logging_config(settings.ops, level)
    logging.config.dictConfig(log_config)  # this process: the background schedulers
    # Migrate (SQLite) or check the schema before forking, and keep the address the site
    # answers on: the e-mails that `digest send` or `worker` make apart link to it.
    with runtime.open_store() as store:
        keep_site_address(store, settings.site)
    if settings.digests.digest_interval > 0:
        DigestScheduler(settings, plugins.search_backends(), plugins.rankers()).start()
    if settings.jobs.job_interval > 0:
        QueueWorker(
            settings, runtime.sources.trust, plugins.search_backends(), more=[outgoing.handlers]
        ).start()
    thumbnails = _thumbnail_scheduler(settings)
    if thumbnails is not None:
        thumbnails.start()
    snapshot = _write_snapshot(settings)
    # Metrics of every worker process, summed by whichever answers /metrics: a fresh private
    # directory per run (stale files of an earlier run would add to the counts).
    metrics_dir = tempfile.mkdtemp(prefix="paperwire-metrics-", dir=_private_dir())
    try:
        os.environ[SNAPSHOT_ENV] = str(snapshot)
        os.environ[METRICS_ENV] = metrics_dir
        click.echo(f"Paperwire on http://{host}:{port}/papers ({workers} worker(s)); Ctrl-C stops.")
        uvicorn.run(
            "paperwire.cli.site:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config,
            log_level=level.lower(),
            # Off: uvicorn would believe X-Forwarded-* from FORWARDED_ALLOW_IPS (127.0.0.1 by
            # default, so any local process could pose as any client), a second rule beside
            # ours. paperwire.web.proxies applies the trusted_proxies setting instead.
            proxy_headers=False,
            # Paperwire writes its own access lines (paperwire.access: route-aware, timed,
            # secrets left out); the access_log setting turns them off.
            access_log=False,
            server_header=False,  # no "Server: uvicorn" banner
            timeout_keep_alive=settings.site.keep_alive_timeout,
            limit_concurrency=settings.site.max_connections or None,
        )
    finally:
        os.environ.pop(SNAPSHOT_ENV, None)
        os.environ.pop(METRICS_ENV, None)
        snapshot.unlink(missing_ok=True)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _thumbnail_scheduler(settings: Settings) -> ThumbnailScheduler | None:
    """The background thumbnail step, unless turned off or impossible here (said once)."""
    if settings.thumbnails.thumbnail_interval <= 0:
        return None
    if problem := ThumbnailScheduler.unavailable():
        logging.getLogger("paperwire.jobs").warning("no thumbnails: %s", problem)
        return None
    return ThumbnailScheduler(settings)


def serve_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--host", default="127.0.0.1", show_default=True)(f)
    f = click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))(f)
    return f


@main.command()
@serve_options
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (use PostgreSQL, or SQLite on one machine).",
)
@pass_runtime
def serve(runtime: Runtime, host: str, port: int, workers: int) -> None:
    """Run the web site and API."""
    serve_site(runtime, host, port, workers)


@main.command()
@pass_runtime
def worker(runtime: Runtime) -> None:
    """Run the background jobs (digests, the jobs queue, thumbnails) without the web site.
    Ctrl-C stops."""
    logs.configure(runtime.settings.ops, "WARNING" if runtime.quiet else "INFO")
    settings = runtime.settings
    loops: list[DigestScheduler | QueueWorker | ThumbnailScheduler] = []
    if settings.jobs.job_interval > 0:
        backends = plugins.search_backends()
        trust = runtime.sources.trust
        loops.append(QueueWorker(settings, trust, backends, more=[outgoing.handlers]))
        click.echo(f"running due jobs every {loops[-1].interval:g} s")
    if settings.digests.digest_interval > 0:
        loops.append(DigestScheduler(settings, plugins.search_backends(), plugins.rankers()))
        click.echo(f"sending due digests every {loops[-1].interval:g} s")
    thumbnails = _thumbnail_scheduler(settings)
    if thumbnails is not None:
        loops.append(thumbnails)
        click.echo(f"rendering new thumbnails every {thumbnails.interval:g} s")
    if not loops:
        raise click.UsageError(
            "digest_interval, job_interval and thumbnail_interval are 0: nothing to schedule"
        )
    runtime.open_store().close()
    click.echo("Ctrl-C stops")
    # Each loop in its own thread (a long thumbnail run never delays a digest); this one
    # only waits.
    for loop in loops:
        loop.start()
    try:
        while any(loop.is_alive() for loop in loops):
            loops[0].join(timeout=1.0)
    except KeyboardInterrupt:
        for loop in loops:
            loop.stop()


@main.command()
@click.option(
    "--db",
    "target",
    default="paperwire-demo.db",
    show_default=True,
    help="SQLite file to create, or a database URL (postgresql+psycopg://…).",
)
@click.option("--force", is_flag=True, help="Replace the SQLite file if it exists.")
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Start the site on the demo afterwards.",
)
@serve_options
@pass_runtime
def demo(runtime: Runtime, target: str, force: bool, serve: bool, host: str, port: int) -> None:
    """Load the bundled demo data (real papers) into a fresh SQLite file, or into the database
    of a URL, and serve it. An existing file is served as it is (with its accounts and votes)
    unless --force; a database URL is migrated and gets the demo papers it lacks (loading is
    idempotent: accounts, votes and comments stay)."""
    if "://" in target:
        url = target
        fresh = True
    else:
        path = Path(target)
        fresh = force or not path.exists()
        if path.exists() and force:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        elif path.exists() and not serve:
            raise click.UsageError(f"{path} exists: use --force to replace it")
        url = f"sqlite:///{path}"
    if fresh:
        _load_demo(runtime, url)
    if serve:
        runtime.settings = runtime.settings.replace(database_url=url)
        serve_site(runtime, host, port, 1)


def _load_demo(runtime: Runtime, url: str) -> None:
    from ..demo import load_demo

    with Store(url) as store:
        store.db.upgrade()
        summary = load_demo(store, runtime.sources.trust)
    click.echo(f"demo database {_shown(url)}: {summary}")


def _shown(url: str) -> str:
    """A database URL for the terminal: a SQLite file's path, or the URL without password."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    return make_url(url).render_as_string(hide_password=True)


@main.group()
def user() -> None:
    """Accounts."""


@user.command("add")
@click.argument("username")
@click.option("--email", help="E-mail address (for password resets).")
@click.option("--role", type=click.Choice(ROLES), default="user", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_runtime
def user_add(
    runtime: Runtime, username: str, email: str | None, role: str, password_stdin: bool
) -> None:
    """Create a confirmed account (e.g. the first admin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, username)
    if problem:
        raise click.UsageError(problem)
    store = runtime.open_store()
    user_id = store.accounts.create_user(username, email, hash_password(password), role=role)
    if user_id is None:
        raise click.UsageError(f"user name {username!r} or that e-mail address is taken")
    click.echo(f"user {username} ({role}) created")


@user.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@pass_runtime
def user_role(runtime: Runtime, username: str, role: str) -> None:
    """Change the role of an account."""
    store = runtime.open_store()
    found = store.accounts.get_user(username=username)
    if found is None:
        raise click.UsageError(f"no user {username!r}")
    store.accounts.update_user(found.id, role=role)
    click.echo(f"{username} is now {role}")


@user.command("two-factor-off")
@click.argument("username")
@pass_runtime
def user_two_factor_off(runtime: Runtime, username: str) -> None:
    """Turn off an account's two-factor sign-in (a lost phone and lost recovery codes, or a
    changed secret_key): its password alone signs in again."""
    store = runtime.open_store()
    found = store.accounts.get_user(username=username)
    if found is None:
        raise click.UsageError(f"no user {username!r}")
    if not store.twofactor.disable(found.id):
        raise click.UsageError(f"{username} has no two-factor sign-in")
    click.echo(f"two-factor sign-in of {username} is off")


def _account(store: Store, username: str) -> int:
    found = store.accounts.get_user(username=username)
    if found is None or found.origin != "local":
        raise click.UsageError(f"no account {username!r}")
    return found.id


def _set_active(runtime: Runtime, username: str, active: bool) -> None:
    store = runtime.open_store()
    user_id = _account(store, username)
    store.people.set_active(user_id, active)
    store.audit.record("account-enabled" if active else "account-disabled", user_id)


@user.command("disable")
@click.argument("username")
@pass_runtime
def user_disable(runtime: Runtime, username: str) -> None:
    """Stop an account from signing in: its sessions and API tokens end, what it made stays."""
    _set_active(runtime, username, False)
    click.echo(f"{username} is disabled: signed out everywhere, API tokens revoked")


@user.command("enable")
@click.argument("username")
@pass_runtime
def user_enable(runtime: Runtime, username: str) -> None:
    """Let a disabled account sign in again."""
    _set_active(runtime, username, True)
    click.echo(f"{username} is enabled")


@user.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_runtime
def user_delete(runtime: Runtime, username: str, yes: bool) -> None:
    """Delete an account: its name, address, password, profile, sessions, tokens, second
    factor, claims and memberships go, its subscriptions stop; its upvotes and comments stay
    under "deleted-ID", so every count stays exact."""
    store = runtime.open_store()
    user_id = _account(store, username)
    if not yes:
        click.confirm(f"Delete the account {username}? This cannot be undone", abort=True)
    store.people.delete(user_id)
    store.audit.record("account-deleted", user_id)
    click.echo(f"{username} is deleted (now deleted-{user_id})")
