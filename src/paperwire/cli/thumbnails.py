"""``paperwire thumbnails``: render the first page of the newest papers' PDFs as card images."""

from __future__ import annotations

import sys

import click

from ..core.errors import ExitCode
from ..ingest.pdf_render import renderer_missing
from ..ingest.thumbnails import ThumbnailJob
from .main import Runtime, main, pass_runtime


@main.command()
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="Render at most this many papers (newest first).",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also try the papers that failed before, without waiting for their retry time.",
)
@pass_runtime
def thumbnails(runtime: Runtime, limit: int, retry_failed: bool) -> None:
    """Fetch the PDFs of papers without a thumbnail and render their first page. `paperwire
    serve` and `paperwire worker` do it in the background too (thumbnail_interval)."""
    if problem := renderer_missing():
        raise click.UsageError(problem)
    store = runtime.open_store()
    job = ThumbnailJob(store, runtime.settings)
    with runtime.progress(None, "thumbnails", unit=" papers") as bar:

        def announce(total: int) -> None:
            bar.total = total

        stats = job.run(limit, retry_failed, progress=bar.update, announce=announce)
    click.echo(stats.line())
    for err in stats.errors[:20]:
        click.echo(f"  {err}", err=True)
    if stats.failed:
        sys.exit(ExitCode.PARTIAL)
