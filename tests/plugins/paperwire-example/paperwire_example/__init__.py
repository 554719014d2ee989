"""An example Paperwire plugin: one module implementing every hook.

- ``register_sources``: the ``example-feed`` source and its ``paperwire ingest example FILE``
  command (one paper per line: ``arXiv id <TAB> title <TAB> abstract``);
- ``register_rankers``: ``newest``, the feed by submission time;
- ``register_search_backends``: ``title-words``, a keyword retriever over titles only;
- ``register_commands``: ``paperwire example-hello``;
- ``register_routes``: ``GET /example/hello``.
"""

from __future__ import annotations

import click
import sqlalchemy as sa
from fastapi import APIRouter

from paperwire.core.clock import utcnow
from paperwire.core.errors import BadRecord
from paperwire.core.hooks import hookimpl
from paperwire.core.records import PaperRecord
from paperwire.ingest.pipeline import import_records
from paperwire.ingest.sources import Source, dry_run_option, pass_runtime
from paperwire.rank import Ranker, Trend
from paperwire.search.retrievers import KeywordBackend
from paperwire.store import schema
from paperwire.web.deps import CtxDep

NAME = "example-feed"


def _records(path):
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                yield BadRecord("expected: id, title, abstract", f"line {n}")
                continue
            pid, title, abstract = parts
            try:
                yield PaperRecord(id=pid, title=title, abstract=abstract, source=NAME).validated(
                    f"line {n}"
                )
            except BadRecord as exc:
                yield exc


@click.command("example")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@dry_run_option
@pass_runtime
def example_command(runtime, path, dry_run):
    """Papers from a tab-separated file (id, title, abstract)."""
    store = runtime.open_store()
    report = import_records(store, runtime.sources.trust, _records(path), dry_run=dry_run)
    runtime.report(report, dry_run)


@hookimpl
def register_sources(register):
    register(
        Source(NAME, trust=3, description="A tab-separated file.", commands=(example_command,))
    )


def newest(store, now=None, until=None):
    f = schema.feed_entries
    q = sa.select(f.c.paper_id).order_by(f.c.submitted_at.desc(), f.c.paper_id).limit(100)
    with store.db.connect() as conn:
        ids = list(conn.execute(q).scalars())
    n = len(ids)
    return [Trend(pid, float(n - i)) for i, pid in enumerate(ids)], now or utcnow()


@hookimpl
def register_rankers(register):
    register(Ranker("newest", "The feed, newest submission first.", newest))


class TitleWords:
    """Papers whose title holds every word (case-insensitive), newest first."""

    def __init__(self, store):
        self.store = store

    def _matching(self, query, seqs=None, limit=200):
        p = schema.papers
        words = [w for unit in query.units for w in unit.words()]
        if not words:
            return []
        q = sa.select(p.c.seq).where(*(sa.func.lower(p.c.title).contains(w) for w in words))
        if seqs is not None:
            q = q.where(p.c.seq.in_(list(seqs)))
        with self.store.db.connect() as conn:
            return list(conn.execute(q.order_by(p.c.seq.desc()).limit(limit)).scalars())

    def retrieve(self, query, filters, k):
        seqs = self._matching(query, limit=k)
        return [(s, 1.0 / (i + 1)) for i, s in enumerate(seqs)], set(seqs)

    def holding_all(self, query, seqs):
        return set(self._matching(query, seqs))

    def holding_any(self, phrases, seqs):
        return set()


@hookimpl
def register_search_backends(register):
    register(
        KeywordBackend(
            "title-words", "Every word in the title.", lambda store, s: TitleWords(store)
        )
    )


@hookimpl
def register_commands(cli):
    @cli.command("example-hello")
    @pass_runtime
    def hello(runtime):
        """Say hello, with the number of papers."""
        click.echo(f"hello from the example plugin: {runtime.open_store().papers.count()} papers")


router = APIRouter()


@router.get("/example/hello")
def hello_page(ctx: CtxDep):
    return {
        "plugin": "example",
        "papers": ctx.store.papers.count(),
        "signed_in": ctx.user is not None,
    }


@hookimpl
def register_routes(register):
    register(router)
