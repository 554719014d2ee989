"""Plugins: the built-ins come through the hooks; a package installed from the test tree
(tests/plugins/paperwire-example) is found by its entry point and each of its hooks works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import APIRouter

from paperwire import plugins
from paperwire.cli import main
from paperwire.core import hooks
from paperwire.core.errors import ConfigError, UnknownSource
from paperwire.core.records import PaperRecord
from paperwire.core.settings import SearchSettings
from paperwire.ingest.sources import Source, Sources
from paperwire.rank import Rankers
from paperwire.search.retrievers import KeywordBackend, SearchBackends

from .storekit import TRUST
from .webkit import make_config, seed

EXAMPLE = Path(__file__).parent / "plugins" / "paperwire-example"
HOOKS = sorted(name for name in dir(hooks) if name.startswith("register_"))
README = Path(__file__).resolve().parents[1] / "README.md"


# -- the built-ins, through the same hooks ----------------------------------------------------
def test_builtins_are_registered_through_the_hooks():
    assert set(plugins.sources().by_name) == {
        "arxiv-api", "oai", "snapshot", "listing", "hf", "github", "demo"
    }  # fmt: skip
    assert TRUST["arxiv-api"] > TRUST["hf"] > TRUST["listing"] > TRUST["demo"]
    assert set(plugins.rankers().by_name) == {"trending"}
    backends = plugins.search_backends()
    assert set(backends.keyword) == {"database", "tantivy"}
    assert set(backends.vector) == {"vector-index"}
    paths = {route.path for router in plugins.routers() for route in router.routes}
    assert {"/papers", "/api/daily_papers", "/feeds/daily.atom", "/signin", "/admin"} <= paths
    # every hook is implemented by some built-in
    implemented = {hook for info in plugins.loaded() if info.builtin for hook in info.hooks}
    assert implemented == set(HOOKS) - {"register_commands"}


def test_names_are_unique_and_choices_are_checked():
    sources = Sources()
    sources.add(Source("x", 1, "one"))
    with pytest.raises(ConfigError, match="two sources"):
        sources.add(Source("x", 2, "two"))
    rankers = Rankers()
    with pytest.raises(ConfigError, match="rankers installed are: none"):
        rankers.get("trending")
    backends = SearchBackends()
    backends.add(KeywordBackend("k", "", lambda store, s: None))
    with pytest.raises(ConfigError, match="two search backends"):
        backends.add(KeywordBackend("k", "", lambda store, s: None))
    with pytest.raises(ConfigError, match="keyword_backend is 'nope'"):
        backends.keyword_retriever(None, SearchSettings(keyword_backend="nope"))


def test_records_from_an_unregistered_source_are_refused(store):
    """The merge rule needs to know how far a source is trusted: a record from a source no
    plugin registered is an error, not silently the least trusted."""
    rec = PaperRecord(id="2401.09417", title="Vision Mamba", source="nowhere").validated()
    with pytest.raises(UnknownSource, match="nowhere"):
        store.papers.upsert([rec], TRUST)
    assert store.papers.count() == 0


def test_plugin_routes_come_before_the_builtin_catch_alls():
    """A plugin's /papers/... page is not shadowed by the built-in /papers/{arxiv_id}."""
    mine = APIRouter()

    class Plugin:
        @staticmethod
        @hooks.hookimpl
        def register_routes(register):
            register(mine)

    pm = plugins.manager()
    pm.register(Plugin, "someone-elses")
    try:
        routers = plugins.routers()
    finally:
        pm.unregister(name="someone-elses")
    assert routers[0] is mine and len(routers) == len(plugins.routers()) + 1


# -- documentation ---------------------------------------------------------------------------
def test_every_hook_is_documented_and_every_documented_hook_exists():
    text = README.read_text()
    section = text.split("## Plugins")[1].split("\n## ")[0]
    documented = sorted(set(re_hooks(section)))
    assert documented == HOOKS
    for name in HOOKS:
        assert getattr(hooks, name).__doc__, f"{name} has no docstring"


def re_hooks(text: str) -> list[str]:
    import re

    return re.findall(r"`(register_\w+)\(", text)


# -- a plugin package installed from the test tree ----------------------------------------------
@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example plugin, installed by pip (without network) into a folder of its own that
    the processes below get on their path: found by its `paperwire.plugins` entry point."""
    target = tmp_path_factory.mktemp("site-packages")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(EXAMPLE)],
        check=True, cwd=build, capture_output=True, text=True,
    )  # fmt: skip
    assert (target / "paperwire_example").is_dir()
    return target


def _env(installed: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(installed), env.get("PYTHONPATH")]))
    env["PAPERWIRE_SECRET_KEY"] = "test"
    env["PAPERWIRE_SEMANTIC_SEARCH"] = "false"
    env["PAPERWIRE_OUTBOX_DIR"] = str(tmp_path / "outbox")
    return env


def _paperwire(installed, tmp_path, *args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "paperwire", "--quiet", *args],
        env=_env(installed, tmp_path), capture_output=True, text=True, timeout=120, check=check,
    )  # fmt: skip


def test_installed_plugin_is_listed_with_what_it_registers(installed, tmp_path):
    out = _paperwire(installed, tmp_path, "plugins", "--json").stdout
    rows = {row["name"]: row for row in json.loads(out)}
    example = rows["example"]
    assert example["builtin"] is False and example["version"] == "0.1.0"
    assert example["hooks"] == HOOKS
    assert example["sources"] == ["example-feed"] and example["rankers"] == ["newest"]
    assert example["search backends"] == ["title-words"]
    assert rows["paperwire.ingest.oai"]["builtin"] is True


def test_plugin_source_command_and_plain_command(installed, tmp_path):
    db = f"sqlite:///{tmp_path / 'p.db'}"
    feed = tmp_path / "papers.tsv"
    feed.write_text(
        "2401.09417\tVision Mamba\tState space models for images.\n"
        "not-an-id\tBroken\tline\n"
        "2305.07027\tEfficientViT\tMemory efficient vision transformer.\n"
    )
    done = _paperwire(installed, tmp_path, "--db", db, "ingest", "example", str(feed), check=False)
    assert done.returncode == 1, done.stderr  # finished, one record skipped
    assert "2 new" in done.stdout and "line 2" in done.stderr
    hello = _paperwire(installed, tmp_path, "--db", db, "example-hello")
    assert "hello from the example plugin: 2 papers" in hello.stdout
    help_text = _paperwire(installed, tmp_path, "ingest", "--help").stdout
    assert "example" in help_text and "oai" in help_text
    from paperwire.store import Store

    with Store(db) as store:
        paper = store.papers.get("2401.09417")
        assert paper is not None and paper.source == "example-feed"


SITE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from fastapi.testclient import TestClient
    from paperwire import plugins
    from paperwire.core.settings import Settings
    from paperwire.store import Store

    url = sys.argv[1]
    settings = Settings.load(environ={}, overrides={
        "database_url": url, "secret_key": "t", "semantic_search": False,
        "trending_ranker": "newest", "keyword_backend": "title-words",
    })
    client = TestClient(plugins.site(settings, Store(url)))
    hello = client.get("/example/hello").json()
    trending = client.get("/api/daily_papers", params={"sort": "trending", "limit": 3}).json()
    found = client.get("/api/papers/search", params={"q": "vision"})
    print(json.dumps({
        "hello": hello,
        "trending": [item["paper"]["id"] for item in trending],
        "search": [item["paper"]["id"] for item in found.json()],
        "mode": found.headers["x-search-mode"],
    }))
    """
)


def test_plugin_route_ranker_and_search_backend_in_the_site(installed, tmp_path, sqlite_store):
    seed(sqlite_store)
    newest = [c.id for c in sqlite_store.feed.period(*_feed_span(sqlite_store), sort="submitted",
                                                     limit=3)[0]]  # fmt: skip
    titled = {c.id for c in sqlite_store.feed.latest(limit=100) if "vision" in c.title.lower()}
    done = subprocess.run(
        [sys.executable, "-c", SITE_SCRIPT, sqlite_store.url],
        env=_env(installed, tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["hello"] == {"plugin": "example", "papers": 60, "signed_in": False}
    assert got["trending"] == newest  # the plugin's ranker behind the trending API
    assert got["mode"] == "keyword" and set(got["search"]) == titled  # its keyword backend


def _feed_span(store):
    first, last = store.feed.span()
    return first, last


def test_settings_pick_plugins_by_name(tmp_path):
    config = make_config(tmp_path, trending_ranker="nope")
    with pytest.raises(ConfigError, match="trending_ranker is 'nope'"):
        plugins.rankers().get(config.site.trending_ranker)
    result = CliRunner().invoke(
        main, ["--db", f"sqlite:///{tmp_path / 'x.db'}", "digest", "send", "--dry-run"],
        env={"PAPERWIRE_TRENDING_RANKER": "nope"},
    )  # fmt: skip
    assert result.exit_code == 5 and "trending_ranker is 'nope'" in result.output


def test_architecture_names_every_module():
    """The README's Architecture section names each module (and so its one job)."""
    section = README.read_text().split("## Architecture")[1].split("\n## ")[0]
    src = Path(__file__).resolve().parents[1] / "src" / "paperwire"
    missing = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        if "migrations" in rel.parts or rel.name in ("__init__.py", "__main__.py"):
            continue
        if rel.name not in section:
            missing.append(str(rel))
    assert missing == [], f"add to README's Architecture: {missing}"


def test_views_are_plain_functions(tmp_path, sqlite_store):
    """Views do database work, hash passwords and send mail: none may run on the event loop
    (only reading a request body is async, in a dependency), except /healthz, which only
    says the process answers."""
    import inspect

    from .webkit import site

    app, _ = site(sqlite_store, tmp_path)

    def walk(routes):
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI >= 0.165
            yield from walk(included.routes) if included is not None else [route]

    from fastapi.routing import APIRoute

    endpoints = [r for r in walk(app.routes) if isinstance(r, APIRoute)]  # not FastAPI's docs
    assert len(endpoints) > 50
    async_views = [r.path for r in endpoints if inspect.iscoroutinefunction(r.endpoint)]
    assert async_views == ["/healthz"]
