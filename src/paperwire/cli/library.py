"""``paperwire library match``: which papers of a BibTeX, RIS or CSV library export the
catalogue holds (by arXiv id, DOI or title), and which it does not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..core.errors import ExitCode
from ..ingest.library import MAX_BYTES, LibraryError, parse
from ..ingest.library_match import match
from .main import Runtime, main, pass_runtime


@main.group()
def library() -> None:
    """Reference libraries (BibTeX, RIS, Zotero CSV exports)."""


def _read(path: str) -> bytes:
    """At most one byte past the limit, so that a huge file is refused without reading it."""
    with Path(path).open("rb") as fh:
        return fh.read(MAX_BYTES + 1)


@library.command("match")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_runtime
def library_match(runtime: Runtime, file: str, as_json: bool) -> None:
    """Match a library export's entries to the catalogue. Exits 0 when every entry was
    found, 1 when some are unknown or were skipped, 2 when the file cannot be read."""
    try:
        lib = parse(_read(file), Path(file).name)
    except (OSError, LibraryError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        click.echo(f"error: cannot read {file}: {reason}", err=True)
        sys.exit(ExitCode.USAGE)
    store = runtime.open_store()
    result = match(store, lib.entries)
    if as_json:
        doc = {
            "format": lib.format,
            "matched": [
                {"line": m.entry.line, "title": m.entry.title, "paper_id": m.paper_id, "how": m.how}
                for m in result.matched
            ],
            "unknown": [
                {"line": e.line, "title": e.title, "doi": e.doi, "arxiv_id": e.arxiv_id}
                for e in result.unknown
            ],
            "skipped": [{"line": p.line, "problem": p.args[0]} for p in lib.problems],
        }
        click.echo(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        for m in result.matched:
            click.echo(
                f"matched  {m.paper_id:<18} {m.how:<5}  line {m.entry.line}: {m.entry.title}"
            )
        for e in result.unknown:
            ident = e.arxiv_id or e.doi or ""
            click.echo(f"unknown  {ident:<18}        line {e.line}: {e.title}")
        click.echo(
            f"{lib.format}: {len(result.matched)} matched, {len(result.unknown)} unknown, "
            f"{len(lib.problems)} skipped",
            err=True,
        )
    for problem in lib.problems:
        click.echo(f"skipped: {problem}", err=True)
    sys.exit(ExitCode.PARTIAL if result.unknown or lib.problems else ExitCode.OK)
