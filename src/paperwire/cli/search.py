"""Commands for search: ``index`` (embed new papers, save the vector index) and ``search``."""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

import click

from ..core.errors import StoreError
from ..core.query import ParsedQuery, SearchFilters, parse
from ..ingest.sources import dry_run_option, parse_day
from ..search import MODES, SORTS, Hit, vector_files
from ..search.matcher import Matcher
from ..search.model_pool import default_processes
from ..search.spelling import Speller
from ..store import Store
from .main import Runtime, main, pass_runtime


@main.command("index")
@click.option("--limit", type=click.IntRange(1), help="Embed at most this many papers.")
@click.option(
    "--batch",
    type=click.IntRange(1, 4096),
    default=256,
    show_default=True,
    help="Papers per database transaction.",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    help="Model processes embedding side by side, one thread each (the same vectors). "
    "Default: one per core when there are 1,000 papers or more to embed, else one.",
)
@click.option("--rebuild", is_flag=True, help="Rebuild the vector index snapshot from scratch.")
@click.option(
    "--rebuild-words",
    is_flag=True,
    help="Rebuild the keyword index kept beside the store (keyword_backend tantivy) from it.",
)
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write every stored vector to DIR (vectors.npy, ids.txt, meta.json) and stop.",
)
@click.option(
    "--export-texts",
    "texts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the texts the model reads to DIR/texts.jsonl (and meta.json), to embed "
    "elsewhere, and stop.",
)
@click.option(
    "--missing-only", is_flag=True, help="With --export-texts: only papers without a vector."
)
@click.option(
    "--import",
    "import_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Store the vectors of DIR (vectors.npy, ids.txt, meta.json), then write the snapshot.",
)
@dry_run_option
@pass_runtime
def index_cmd(
    runtime: Runtime,
    limit: int | None,
    batch: int,
    processes: int | None,
    rebuild: bool,
    rebuild_words: bool,
    export_dir: Path | None,
    texts_dir: Path | None,
    missing_only: bool,
    import_dir: Path | None,
    dry_run: bool,
) -> None:
    """Embed the papers that have no vector yet, then write the vector index snapshot.
    Incremental and resumable: an interrupted run keeps every finished batch.

    To embed elsewhere (a machine with a GPU): --export-texts DIR, embed DIR/texts.jsonl
    there with the model meta.json names (one float32 row per line, in order, saved as
    DIR/vectors.npy with the ids in DIR/ids.txt), then --import DIR here.

    With keyword_backend tantivy, it then builds the keyword index (when there is none)
    and applies every change to the papers since (searches catch up on their own too)."""
    store = runtime.open_store()
    engine = runtime.engine(store)
    update_words = getattr(engine.keyword, "update", None)  # an index beside the store
    if not runtime.settings.search.semantic_search:
        if callable(update_words) and not dry_run:
            click.echo(update_words(rebuild=rebuild_words))
            _prune_word_log(store)
            return
        raise click.UsageError("semantic_search is off in the settings")
    if sum(x is not None for x in (export_dir, texts_dir, import_dir)) > 1:
        raise click.UsageError("give one of --export, --export-texts and --import")
    vectors = engine.indexer()
    if export_dir is not None:
        n = vector_files.export_vectors(store, vectors.model, export_dir)
        click.echo(f"exported {n} vectors of {vectors.model} to {export_dir}")
        return
    if texts_dir is not None:
        n = vector_files.export_texts(store, vectors.model, texts_dir, missing_only)
        click.echo(f"exported {n} texts to {texts_dir / vector_files.TEXTS}")
        return
    if import_dir is not None:
        try:
            got = vector_files.import_vectors(store, vectors.model, import_dir)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        if got.unknown:
            shown = ", ".join(got.unknown[:5]) + (" …" if len(got.unknown) > 5 else "")
            click.echo(f"{len(got.unknown)} ids are not in the store (left out): {shown}", err=True)
        snap = vectors.save(rebuild=rebuild)
        click.echo(
            f"imported {got.stored} vectors; vector index: {vectors.describe()}, snapshot {snap}"
        )
        return
    todo = store.embeddings.count_to_embed(vectors.model)
    if limit:
        todo = min(todo, limit)
    processes = processes or default_processes(todo)
    started = time.monotonic()
    with runtime.progress(todo, "embedding", unit="papers") as bar:
        done = vectors.embed_missing(
            limit=limit, batch=batch, progress=bar.update, dry_run=dry_run, processes=processes
        )
    took = time.monotonic() - started
    rate = f" ({done / took:.1f} papers/s)" if done and took > 0 else ""
    verb = "would embed" if dry_run else "embedded"
    by = f", {processes} processes" if processes > 1 and not dry_run else ""
    click.echo(f"{verb} {done} papers in {took:.1f} s{rate}{by}")
    if dry_run:
        return
    snap = vectors.save(rebuild=rebuild)
    click.echo(f"vector index: {vectors.describe()}, snapshot {snap}")
    if callable(update_words):
        # The highest seq, not count(*): counting reads every row (2.5 s at 3 million).
        papers = store.papers.size_estimate()
        with runtime.progress(papers, "keyword index", unit="papers") as bar:
            click.echo(update_words(rebuild=rebuild_words, progress=bar.update))
    _prune_word_log(store)


def _prune_word_log(store: Store) -> None:
    """Delete the word log rows every keyword index kept beside the store has applied."""
    if deleted := store.words.prune():
        click.echo(f"word log: {deleted:,} applied changes deleted")


@main.command("search")
@click.argument("query", nargs=-1)
@click.option("--limit", type=click.IntRange(1, 120), default=10, show_default=True)
@click.option("--page", type=click.IntRange(0), default=0, show_default=True)
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True)
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("--from", "from_", callback=parse_day, help="Published on or after (YYYY-MM-DD).")
@click.option("--until", callback=parse_day, help="Published on or before (YYYY-MM-DD).")
@click.option("--category", help="arXiv category (cs.CV) or archive (cs).")
@click.option("--has-code", is_flag=True, help="Only papers with a code repository.")
@click.option("--on-feed", is_flag=True, help="Only papers on the daily feed.")
@click.option("--author", help='Only papers by this author (whole name, e.g. "Yann LeCun").')
@click.option(
    "--similar",
    "similar_to",
    metavar="ARXIV_ID",
    help="Papers similar to this one instead of a query.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_runtime
def search_cmd(
    runtime: Runtime,
    query: tuple[str, ...],
    limit: int,
    page: int,
    sort: str,
    mode: str,
    from_: date | None,
    until: date | None,
    category: str | None,
    has_code: bool,
    on_feed: bool,
    author: str | None,
    similar_to: str | None,
    as_json: bool,
) -> None:
    """Search the papers by words and meaning."""
    text = " ".join(query)
    if not text.strip() and not similar_to and not (author or "").strip():
        raise click.UsageError("give a query (or --similar ID, or --author NAME)")
    store = runtime.open_store()
    engine = runtime.engine(store)
    hits: list[Hit]
    total: int | None
    if similar_to:
        hits, total, used, parsed = engine.similar(similar_to, limit), None, "similar", parse("")
    else:
        filters = SearchFilters(
            date_from=from_,
            date_to=until,
            category=category or None,
            has_code=has_code,
            on_feed=on_feed,
            author=" ".join((author or "").split())[:200] or None,
        )
        res = engine.search(text, filters, sort=sort, offset=page * limit, limit=limit, mode=mode)
        hits, total, used, parsed = res.hits, res.total, res.mode, res.query
    fixed = None if similar_to or any(h.all_words for h in hits) else _did_you_mean(store, parsed)
    cards = {card.id: card for card in store.feed.cards([h.paper_id for h in hits])}
    if as_json:
        out = [
            {
                "id": h.paper_id,
                "title": card.title,
                "score": round(h.score, 6),
                "similarity": None if h.similarity is None else round(h.similarity, 4),
                "published": card.published.isoformat() if card.published else None,
            }
            for h in hits
            if (card := cards.get(h.paper_id)) is not None
        ]
        found = {"mode": used, "total": total, "suggestion": fixed, "results": out}
        click.echo(json.dumps(found, indent=1))
        return
    if engine.problem:
        click.echo(f"note: keyword search only ({engine.problem})", err=True)
    if fixed:
        click.echo(f"Did you mean: {fixed}?")
    if not hits:
        click.echo("no results")
        return
    matcher = Matcher(parsed)
    bold = sys.stdout.isatty()
    base = runtime.settings.site.base_url
    for n, h in enumerate(hits, page * limit + 1):
        card = cards.get(h.paper_id)
        if card is None:
            continue
        title = " ".join(card.title.split())
        if bold:
            title = "".join(
                click.style(piece, bold=True) if hit else piece
                for piece, hit in matcher.spans(title)
            )
        day = card.published.strftime("%Y-%m-%d") if card.published else "          "
        sim = "" if h.similarity is None else f"  sim {h.similarity:.2f}"
        click.echo(f"{n:>3}. {card.id:<12} {day}  {title}")
        click.echo(f"     {card.upvotes} upvotes{sim}  {base}/papers/{card.id}")
    if total is not None:
        click.echo(f"{total} results ({used})")


def _did_you_mean(store: Store, query: ParsedQuery) -> str | None:
    """The query with its misspelled words corrected, as the site suggests it, or None.
    Asked only when no result holds every word: building the vocabulary from the newest
    papers takes a second or two, which a search that found its words need not wait for."""
    if not query.text.strip():
        return None
    fixed = Speller(store).suggest_now(query.text)
    return fixed.text if fixed else None
