"""The ``paperwire`` command group, the runtime every command gets, and the one place where
expected failures become a clear line and a documented exit code.

Exit codes (for cron jobs): 0 everything went in; 1 finished, but some records were
skipped (listed on stderr); 2 usage error; 3 a source failed (network, HTTP, bad feed);
4 database error; 5 configuration error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, NoReturn

import click
import sqlalchemy as sa

from .. import __version__, plugins
from ..core import logs
from ..core.errors import EXIT_CODES, ConfigError, ExitCode, PaperwireError, StoreError
from ..core.settings import Settings
from ..ingest.report import ImportReport
from ..ingest.sources import Sources
from ..rank import Ranker
from ..search import SearchEngine, engine_for
from ..store import Store, open_store
from .progress import Progress

SHOW_SKIPPED = 20


class Runtime:
    """What every command gets (``click.pass_obj``): the settings and what plugins
    registered. It is the :class:`~paperwire.ingest.sources.IngestRuntime` of source
    commands."""

    def __init__(self, settings: Settings, quiet: bool):
        self.settings = settings
        self.quiet = quiet

    @cached_property
    def sources(self) -> Sources:
        return plugins.sources()

    def open_store(self, url: str | None = None) -> Store:
        return open_store(url or self.settings.store.database_url)

    def engine(self, store: Store) -> SearchEngine:
        return engine_for(store, self.settings.search, plugins.search_backends())

    def ranker(self) -> Ranker:
        return plugins.rankers().get(self.settings.site.trending_ranker)

    def progress(self, total: int | None, label: str, unit: str = "") -> Progress:
        return Progress(label, total, unit=unit, hidden=self.quiet)

    def say(self, message: str) -> None:
        click.echo(message, err=True)

    def report(self, report: ImportReport, dry_run: bool) -> NoReturn:
        prefix = "dry run (nothing written): " if dry_run else ""
        click.echo(prefix + report.summary())
        for reason in report.skipped[:SHOW_SKIPPED]:
            click.echo(f"skipped: {reason}", err=True)
        if len(report.skipped) > SHOW_SKIPPED:
            click.echo(f"... and {len(report.skipped) - SHOW_SKIPPED} more skipped", err=True)
        sys.exit(ExitCode.PARTIAL if report.skipped else ExitCode.OK)


pass_runtime = click.make_pass_decorator(Runtime)


def _exit_code(exc: BaseException) -> ExitCode | None:
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return ExitCode.DATABASE
    for kind, code in EXIT_CODES.items():
        if isinstance(exc, kind):
            return code
    if isinstance(exc, OSError):
        return ExitCode.SOURCE
    return None


@contextmanager
def failures() -> Iterator[None]:
    """Turn expected failures into one clear line and a meaningful exit code."""
    try:
        yield
    except (PaperwireError, sa.exc.SQLAlchemyError, OSError) as exc:
        code = _exit_code(exc)
        if code is None or isinstance(exc, BrokenPipeError):
            raise  # a closed pipe (`| head`) is click's to handle, not a failed source
        if isinstance(exc, (StoreError, sa.exc.SQLAlchemyError)):
            label = "database error"
            message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            # StoreError wrapping a driver error: the driver's own words
        else:
            label = "configuration error" if isinstance(exc, ConfigError) else "error"
            message = str(exc)
        click.echo(f"{label}: {message}", err=True)
        sys.exit(code)


class PaperwireGroup(click.Group):
    """The command group: expected failures of any command become an exit code, and plugin
    commands (``register_commands``) are added the first time commands are looked up."""

    _plugins_added = False

    def _with_plugins(self) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            plugins.add_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._with_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._with_plugins()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        with failures():
            return super().invoke(ctx)


class SourceCommands(click.Group):
    """``paperwire ingest``: the commands of every registered source."""

    def _commands(self, ctx: click.Context) -> dict[str, click.Command]:
        runtime = ctx.find_object(Runtime)
        sources = runtime.sources if runtime is not None else plugins.sources()
        return {str(c.name): c for c in sources.commands()}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._commands(ctx))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._commands(ctx).get(cmd_name)


@click.group(cls=PaperwireGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paperwire")
@click.option("--db", "database_url", metavar="URL", help="Database URL (overrides settings).")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def main(
    ctx: click.Context, database_url: str | None, config_file: str | None, quiet: bool
) -> None:
    """Paperwire: a self-hostable Daily Papers site."""
    try:
        settings = Settings.load(config_file, {"database_url": database_url})
        # Warnings and errors of any command, in the chosen format (serve and worker say more).
        logs.configure(settings.ops, "WARNING")
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(ExitCode.CONFIG)
    ctx.obj = Runtime(settings, quiet)


@main.group(cls=SourceCommands)
def ingest() -> None:
    """Fill the catalogue from arXiv, Hugging Face and GitHub (and any source a plugin
    adds)."""
