"""``paperwire digest send``: compose and send the e-mail digests and topic alerts due."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..core.errors import ExitCode, PeriodError
from ..core.models import Subscription
from ..ingest.sources import dry_run_option
from ..mail import notify
from ..mail.digest import Pick
from ..mail.run import DigestRun
from ..mail.schedule import Due, check_period
from .main import Runtime, main, pass_runtime


@main.group()
def digest() -> None:
    """E-mail digests and topic alerts."""


def _period_option(_ctx: Any, _param: Any, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_period(value)
    except PeriodError as exc:
        raise click.BadParameter(str(exc)) from None


@digest.command("send")
@click.option(
    "--period",
    callback=_period_option,
    metavar="PERIOD",
    help="Send this period: YYYY-MM-DD for daily digests (a weekday), YYYY-Www for "
    "weekly ones. Default: whatever is due now in each subscriber's time zone.",
)
@click.option("--limit", type=click.IntRange(1), help="Send at most this many messages.")
@click.option("--show", is_flag=True, help="With --dry-run: list each message's papers.")
@dry_run_option
@pass_runtime
def digest_send(
    runtime: Runtime, period: str | None, limit: int | None, show: bool, dry_run: bool
) -> None:
    """Compose and send the digests that are due. Idempotent: run it again (after a crash,
    from cron, from two machines) and every due message still goes out exactly once."""

    def preview(sub: Subscription, due: Due, picks: list[Pick]) -> None:
        if show:
            click.echo(f"{sub.email} {sub.kind} {due.period}: {len(picks)} papers")
            for p in picks:
                click.echo(f"  {p.paper_id}  {p.why}")

    store = runtime.open_store()
    run = DigestRun(store, runtime.settings, runtime.engine(store), runtime.ranker())
    with runtime.progress(None, "digests", unit="messages") as bar:
        stats = run.run(
            period=period, dry_run=dry_run, limit=limit, progress=bar.update, preview=preview
        )
    prefix = "dry run, nothing sent: " if dry_run else ""
    click.echo(prefix + stats.line())
    if not dry_run and (queued := notify.sweep(store)):
        # (sent by the queue: `paperwire jobs run`, or the worker of serve/worker)
        click.echo(f"notification e-mails queued: {queued}")
    for err in stats.errors[:20]:
        click.echo(f"  {err}", err=True)
    if stats.errors:
        sys.exit(ExitCode.PARTIAL)
