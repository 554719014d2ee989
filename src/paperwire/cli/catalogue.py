"""Commands about the instance itself: the database schema, what the catalogue holds,
backups, settings and the plugins loaded."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .. import plugins
from ..core.settings import SETTINGS
from ..store import Store
from .main import Runtime, main, pass_runtime


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_runtime
def db_upgrade(runtime: Runtime) -> None:
    """Create or migrate the schema to the latest version."""
    store = Store(runtime.settings.store.database_url)
    store.db.upgrade()
    click.echo(f"database at revision {store.db.revision()} ({store.dialect})")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_runtime
def stats(runtime: Runtime, as_json: bool) -> None:
    """What the catalogue holds."""
    store = runtime.open_store()
    s = store.db.stats()
    engine = runtime.engine(store)
    vectors = engine.vectors if runtime.settings.search.semantic_search else None
    state = getattr(vectors, "state", None)  # the built-in vector-index backend's
    if callable(state):
        s["search_index"] = state()
    words = getattr(engine.keyword, "describe", None)  # a keyword index beside the store
    if callable(words):
        s["keyword_index"] = words()
    if as_json:
        click.echo(json.dumps(s, indent=2, default=str))
        return
    click.echo(f"backend            {s['backend']} (schema {s['schema_revision']})")
    for key in (
        "papers",
        "feed_entries",
        "users",
        "organizations",
        "upvotes",
        "comments",
        "subscriptions",
        "deliveries",
        "job_runs",
    ):
        click.echo(f"{key:<18} {s[key]:>10,}")
    click.echo(f"with code          {s['with_code']:>10,}  (stars known: {s['with_stars']:,})")
    click.echo(f"published          {s['published_range'][0]} .. {s['published_range'][1]}")
    click.echo(f"on the feed        {s['feed_range'][0]} .. {s['feed_range'][1]}")
    if "size_bytes" in s:
        click.echo(f"size               {s['size_bytes'] / 1e6:,.1f} MB")
    ix = s.get("search_index")
    if ix:
        todo = f"{ix['to_embed']:,} to embed; {ix['model']}"
        click.echo(f"embedded           {ix['embedded']:>10,}  ({todo})")
        snap = ix["snapshot"]
        if snap:
            when = datetime.fromtimestamp(snap["written"] or 0, UTC)
            kind = f"{snap['kind']} ({snap['codes']} codes)" if snap.get("codes") else snap["kind"]
            about = f"{kind} search, written {when:%Y-%m-%d %H:%M} UTC"
            click.echo(f"index snapshot     {snap['vectors'] or 0:>10,}  ({about})")
        else:
            click.echo("index snapshot     none yet (paperwire index writes it)")
        lag = f", oldest {ix['lag_seconds']:,.0f} s ago" if ix["delta"] else ""
        click.echo(f"index delta        {ix['delta']:>10,}  (stored since the snapshot{lag})")
    kw = s.get("keyword_index")
    if kw:
        if kw["built"]:
            where = f"{kw['kind']}, {kw['segments']} segments, {kw['folder']}"
            click.echo(f"keyword index      {kw['papers']:>10,}  ({where})")
            behind = f"{kw['behind']:>10,}  (changes to papers not applied yet)"
            click.echo(f"keyword behind     {behind}")
            kept = f"{kw['log_kept']:>10,}  (changes kept; applied ones are deleted)"
            click.echo(f"word log           {kept}")
        else:
            click.echo(f"keyword index      none yet ({kw['kind']}; paperwire index builds it)")


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@pass_runtime
def backup(runtime: Runtime, path: Path) -> None:
    """Write a consistent copy of the live database to PATH."""
    out = runtime.open_store().db.backup(path)
    click.echo(f"backup written to {out} ({out.stat().st_size / 1e6:,.1f} MB)")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds data.")
@pass_runtime
def restore(runtime: Runtime, path: Path, force: bool) -> None:
    """Replace the configured database with a backup made by `paperwire backup` (a SQLite
    file or a pg_dump archive), then migrate it to this release's schema. Stop the site
    and workers first; restart them afterwards."""
    from ..search.semantic import index_dir_for
    from ..search.tantivy_keywords import words_dir_for

    store = Store(runtime.settings.store.database_url)
    had = store.db.restore(path, force=force)
    # The vector index snapshot describes the old content: each process rebuilds it from
    # the restored vectors (`paperwire index` writes a new snapshot).
    index_dir = index_dir_for(runtime.settings.search, store)
    if index_dir.is_dir():
        shutil.rmtree(index_dir)
        click.echo(f"removed the vector index snapshot {index_dir} (run `paperwire index`)")
    words_dir = words_dir_for(runtime.settings.search, store)
    if words_dir.is_dir():
        shutil.rmtree(words_dir)
        click.echo(f"removed the keyword index {words_dir} (run `paperwire index`)")
    now = store.db.revision()
    migrated = f", migrated from {had}" if had != now else ""
    click.echo(f"restored {path} into the {store.dialect} database (schema {now}{migrated})")
    store.close()


@main.command("settings")
@click.option("--markdown", is_flag=True, help="The reference table for the README.")
@pass_runtime
def settings_cmd(runtime: Runtime, markdown: bool) -> None:
    """Show every setting, its value and where to set it."""
    if markdown:
        click.echo(settings_markdown())
        return
    for s, value in runtime.settings.items():
        shown = "***" if s.secret and value else repr(value)
        click.echo(f"{s.name} = {shown}\n    {s.help}\n    env {s.env}")


def settings_markdown() -> str:
    rows = ["| setting | environment variable | default | what it does |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = "(empty)" if s.default == "" else f"`{s.default}`"
        rows.append(f"| `{s.name}` | `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(as_json: bool) -> None:
    """The plugins loaded (Paperwire's own, then installed ones) and what they register."""
    registered = {
        "sources": plugins.registrations("register_sources"),
        "rankers": plugins.registrations("register_rankers"),
        "search backends": plugins.registrations("register_search_backends"),
    }
    rows: list[dict[str, Any]] = []
    for info in plugins.loaded():
        names = {
            what: [getattr(r, "name", "?") for r in by_plugin.get(info.name, [])]
            for what, by_plugin in registered.items()
        }
        rows.append(
            {
                "name": info.name,
                "version": info.version,
                "builtin": info.builtin,
                "hooks": list(info.hooks),
                **{k: v for k, v in names.items() if v},
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        origin = "built in" if row["builtin"] else f"version {row['version'] or '?'}"
        click.echo(f"{row['name']} ({origin})")
        click.echo(f"    hooks: {', '.join(row['hooks'])}")
        for what in registered:
            if row.get(what):
                click.echo(f"    {what}: {', '.join(row[what])}")
