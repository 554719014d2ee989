"""Sources: what may feed the catalogue, how far each is trusted, and the ``paperwire ingest``
commands each brings. Every source — the built-in ones too — registers itself through the
``register_sources`` hook, so adding one is one module: its parser, its command, its
registration.

A source command is a click command that receives the command line's
:class:`IngestRuntime` (``click.pass_obj``) and ends with ``runtime.report(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import click

from ..core.errors import ConfigError
from ..core.records import PaperRecord
from ..core.settings import Settings
from .pipeline import import_jsonl

if TYPE_CHECKING:
    from ..store import Store
    from .report import ImportReport


@dataclass(frozen=True)
class Source:
    """A source of papers.

    ``name`` is stored with each record it writes (``papers.source``). ``trust`` decides
    whose word wins when two sources describe the same version of a paper: arXiv's own
    metadata 4, an aggregator copying arXiv 3, a listing scrape 2, sample data 1; sources
    that write no paper records (GitHub stars) 0.
    """

    name: str
    trust: int
    description: str
    commands: tuple[click.Command, ...] = ()


@dataclass
class Sources:
    """The sources plugins registered, by name; a mapping of their trust for the merge rule."""

    by_name: dict[str, Source] = field(default_factory=dict)

    def add(self, source: Source) -> None:
        if source.name in self.by_name:
            raise ConfigError(f"two sources are called {source.name!r}")
        self.by_name[source.name] = source

    @property
    def trust(self) -> Mapping[str, int]:
        return {name: s.trust for name, s in self.by_name.items()}

    def commands(self) -> list[click.Command]:
        """Every source's ``paperwire ingest`` commands (a name used twice is an error)."""
        out: dict[str, click.Command] = {}
        for source in self.by_name.values():
            for cmd in source.commands:
                if cmd.name in out:
                    raise ConfigError(f"two sources bring `paperwire ingest {cmd.name}`")
                out[str(cmd.name)] = cmd
        return list(out.values())


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> None: ...

    def __enter__(self) -> ProgressBar: ...

    def __exit__(self, *exc: object) -> None: ...


class IngestRuntime(Protocol):
    """What a source command gets from the command line it runs under."""

    settings: Settings
    sources: Sources

    def open_store(self) -> Store:
        """The configured store, migrated (SQLite) or checked (PostgreSQL)."""
        ...

    def progress(self, total: int | None, label: str, unit: str = "") -> ProgressBar: ...

    def say(self, message: str) -> None:
        """A line for the person at the terminal (stderr)."""
        ...

    def report(self, report: ImportReport, dry_run: bool) -> NoReturn:
        """Print what the run did and exit with the documented code."""
        ...


pass_runtime = click.pass_obj
dry_run_option = click.option("--dry-run", is_flag=True, help="Read and check, write nothing.")


def parse_day(_ctx: Any, _param: Any, value: str | None) -> date | None:
    """A click callback: YYYY-MM-DD to a date, with a clear message otherwise."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def import_file(
    runtime: IngestRuntime,
    path: str,
    make: Callable[[dict[str, Any], str], PaperRecord],
    keep: Callable[[dict[str, Any]], bool] | None,
    limit: int | None,
    dry_run: bool,
) -> None:
    """A JSON Lines file into the store, with a progress bar by bytes read."""
    size = None if str(path) == "-" else Path(path).stat().st_size
    store = runtime.open_store()
    with runtime.progress(size, "reading", "B") as bar:
        report = import_jsonl(
            store,
            runtime.sources.trust,
            path,
            make,
            keep=keep,
            limit=limit,
            dry_run=dry_run,
            progress_bytes=bar.update,
        )
    runtime.report(report, dry_run)


Register = Callable[[Source], None]
