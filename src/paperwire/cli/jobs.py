"""``paperwire jobs``: look at the jobs queue and run what is due (pending submissions
waiting for arXiv, visitors' e-mails), from a terminal or cron."""

from __future__ import annotations

import dataclasses
import json
import sys

import click

from .. import plugins
from ..core.errors import ExitCode
from ..core.models import JOB_STATES, Job
from ..jobs.papers import ArxivFetcher
from ..jobs.worker import runner_for
from ..mail import outgoing
from .main import Runtime, main, pass_runtime


@main.group()
def jobs() -> None:
    """The jobs queue (pending submissions waiting for arXiv)."""


@jobs.command("run")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@pass_runtime
def jobs_run(runtime: Runtime, limit: int) -> None:
    """Run the jobs that are due, once. Exits 1 when some failed for good."""
    store = runtime.open_store()
    fetcher = ArxivFetcher(runtime.settings.sources, runtime.sources.trust)
    try:
        backends = plugins.search_backends()
        runner = runner_for(store, runtime.settings, fetcher, backends, [outgoing.handlers])
        stats = runner.step(limit)
    finally:
        fetcher.close()
    click.echo(stats.line())
    for problem in stats.errors:
        click.echo(f"error: {problem}", err=True)
    sys.exit(ExitCode.PARTIAL if stats.failed else ExitCode.OK)


def _line(job: Job) -> str:
    if job.pending:
        when = f"next try {job.next_attempt_at:%Y-%m-%d %H:%M} UTC"
    else:
        when = f"ended {job.finished_at or job.updated_at:%Y-%m-%d %H:%M} UTC"
    why = job.result if job.state == "done" else job.last_error
    head = f"{job.id:>6}  {job.kind:<14} {job.key:<20} {job.state:<8} {job.attempts:>2} tries"
    return f"{head}  {when}" + (f"  {why}" if why else "")


@jobs.command("list")
@click.option("--state", type=click.Choice(JOB_STATES))
@click.option("--kind", help="Only jobs of this kind, e.g. submit-paper.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
@pass_runtime
def jobs_list(
    runtime: Runtime, state: str | None, kind: str | None, limit: int, as_json: bool
) -> None:
    """The latest jobs, most recently changed first."""
    store = runtime.open_store()
    for job in store.queue.list(state=state, kind=kind, limit=limit):
        if as_json:
            click.echo(json.dumps(dataclasses.asdict(job), default=str))
        else:
            click.echo(_line(job))
