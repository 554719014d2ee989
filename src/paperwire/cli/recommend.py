"""``paperwire recommend --batch FILE.jsonl``: For-you rankings for many readers at once, by
the site's own model (:mod:`paperwire.rank.foryou`), for offline evaluation."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..core.errors import ExitCode, ModelError
from ..rank.foryou import ForYou
from ..search.vectors import limit_blas_threads
from .main import Runtime, main, pass_runtime

MAX_IDS = 100_000  # ids in one line's list, at most
MAX_TOPICS = 100  # topics of one line, at most
MAX_TOPIC = 200  # characters of a topic (as on the site)


def _ids(obj: dict[str, Any], field: str, where: str, required: bool = True) -> list[str]:
    value = obj.get(field)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise click.UsageError(f"{where}: {field!r} must be a list of arXiv ids")
    if len(value) > MAX_IDS:
        raise click.UsageError(f"{where}: {field!r} has more than {MAX_IDS:,} ids")
    return [i.strip() for i in value]


def _topics(obj: dict[str, Any], where: str) -> list[str]:
    value = obj.get("topics")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise click.UsageError(f"{where}: 'topics' must be a list of strings")
    if len(value) > MAX_TOPICS or any(len(i) > MAX_TOPIC for i in value):
        raise click.UsageError(
            f"{where}: at most {MAX_TOPICS} topics of at most {MAX_TOPIC} characters each"
        )
    return value


@main.command("recommend")
@click.option(
    "--batch",
    "batch",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help='JSON lines: {"user", "liked": [ids], "disliked": [ids] (optional), '
    '"topics": [texts] (optional), "candidates": [ids]}; "-" reads standard input.',
)
@pass_runtime
def recommend_cmd(runtime: Runtime, batch: Any) -> None:
    """Rank each line's candidates for a reader with those liked and disliked papers (and
    topics in their own words), as the For-you tab would. Writes one line per input line,
    in order, to standard output: {"user", "ranked": [candidate ids, best first]}. Ids the
    store does not hold are named on standard error and left out (exit code 1)."""
    limit_blas_threads()  # small products: one BLAS thread each is the fastest
    store = runtime.open_store()
    vectors = runtime.engine(store).semantic()
    if vectors is None:
        raise ModelError(
            runtime.engine(store).problem or "For-you ranking needs search by meaning (it is off)"
        )
    model = ForYou(store, vectors)
    missing = 0
    for n, line in enumerate(batch, 1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise click.UsageError(f"{where}: not JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise click.UsageError(f"{where}: not a JSON object")
        user = obj.get("user")
        if not isinstance(user, str):
            raise click.UsageError(f"{where}: 'user' must be a string")
        ranked = model.rank(
            _ids(obj, "liked", where),
            _ids(obj, "candidates", where),
            _ids(obj, "disliked", where, required=False),
            _topics(obj, where),
        )
        for paper_id in ranked.unknown:
            click.echo(f"{where} ({user}): not in the store: {paper_id}", err=True)
        missing += len(ranked.unknown)
        out = {"user": user, "ranked": [p.paper_id for p in ranked.picks]}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    if missing:
        click.echo(f"{missing} ids not in the store, left out", err=True)
        sys.exit(ExitCode.PARTIAL)
