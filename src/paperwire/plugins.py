"""Plugins: the hook implementations Paperwire loads — its own built-ins first
(:data:`DEFAULT_PLUGINS`, registered through the very hooks a third-party plugin uses), then
every installed package's ``paperwire.plugins`` entry point — and what they register.

The hook specifications are in :mod:`paperwire.core.hooks`. This module is the composition
root: it turns registrations into the typed registries the layers below take (sources,
rankers, search backends, routes) and adds plugin commands to the command line.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import click
import pluggy
from fastapi import APIRouter, FastAPI

from .core import hooks
from .core.settings import Settings
from .ingest.sources import Sources
from .rank import Rankers
from .search.retrievers import SearchBackends
from .store import Store
from .web.app import Extensions, create_app

ENTRY_POINT_GROUP = "paperwire.plugins"
# Paperwire's own plugins, in the order their routes are added (the catch-all paper pages
# last).
DEFAULT_PLUGINS = (
    "paperwire.ingest.arxiv_api",
    "paperwire.ingest.oai",
    "paperwire.ingest.snapshot",
    "paperwire.ingest.listing",
    "paperwire.ingest.hf_daily",
    "paperwire.ingest.github",
    "paperwire.demo",
    "paperwire.rank.trending",
    "paperwire.search.keyword",
    "paperwire.search.tantivy_keywords",
    "paperwire.search.semantic",
    "paperwire.web.subscribe",
    "paperwire.web.api",
    "paperwire.web.docs",
    "paperwire.web.feeds",
    "paperwire.web.account",
    "paperwire.web.email_change",
    "paperwire.web.twofactor",
    "paperwire.web.people",
    "paperwire.web.admin_users",
    "paperwire.web.reports",
    "paperwire.web.admin",
    "paperwire.web.reactions",
    "paperwire.web.notifications",
    "paperwire.web.audit",
    "paperwire.web.avatars",
    "paperwire.web.thumbnails",
    "paperwire.web.library_import",
    "paperwire.web.collections",
    "paperwire.web.collections_api",
    "paperwire.web.mentions",
    "paperwire.web.foryou",
    "paperwire.web.pages",
)
_lock = threading.Lock()


@lru_cache(maxsize=1)
def manager() -> pluggy.PluginManager:
    """The plugin manager, loaded once per process: built-ins, then entry points (unless
    ``PAPERWIRE_LOAD_ENTRY_POINTS=0``, which tests and debugging use to run bare)."""
    with _lock:
        pm = pluggy.PluginManager("paperwire")
        pm.add_hookspecs(hooks)
        for name in DEFAULT_PLUGINS:
            pm.register(importlib.import_module(name), name)
        if os.environ.get("PAPERWIRE_LOAD_ENTRY_POINTS", "1") != "0":
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        return pm


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str | None  # the distribution's, for installed plugins
    hooks: tuple[str, ...]
    builtin: bool


def loaded() -> list[PluginInfo]:
    """Every plugin loaded, with the hooks it implements (for ``paperwire plugins``)."""
    pm = manager()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        impls = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or []))
        dist = dists.get(id(plugin))
        version = getattr(dist, "version", None) if dist is not None else None
        out.append(PluginInfo(name, version, impls, name in DEFAULT_PLUGINS))
    return out


def _collect(hook: Callable[..., Any], register: Callable[[Any], None]) -> None:
    hook(register=register)


def sources() -> Sources:
    found = Sources()
    _collect(manager().hook.register_sources, found.add)
    return found


def rankers() -> Rankers:
    found = Rankers()
    _collect(manager().hook.register_rankers, found.add)
    return found


def search_backends() -> SearchBackends:
    found = SearchBackends()
    _collect(manager().hook.register_search_backends, found.add)
    return found


def routers() -> list[APIRouter]:
    """Installed plugins' routers first (a built-in catch-all such as /papers/{id} must not
    shadow them), then the built-ins in :data:`DEFAULT_PLUGINS` order."""
    impls = manager().hook.register_routes.get_hookimpls()
    builtin = {name: i for i, name in enumerate(DEFAULT_PLUGINS)}
    ordered = sorted(impls, key=lambda impl: builtin.get(impl.plugin_name, -1))
    found: list[APIRouter] = []
    for impl in ordered:
        impl.function(register=found.append)
    return found


def registrations(hook_name: str) -> dict[str, list[Any]]:
    """What each plugin registers through one ``register_*`` hook, by plugin name."""
    out: dict[str, list[Any]] = {}
    for impl in getattr(manager().hook, hook_name).get_hookimpls():
        impl.function(register=out.setdefault(impl.plugin_name, []).append)
    return out


def add_commands(cli: click.Group) -> None:
    """Plugin commands (``register_commands``) added to the command line."""
    manager().hook.register_commands(cli=cli)


def extensions() -> Extensions:
    """Everything the web site takes from plugins."""
    return Extensions(routers(), sources(), rankers(), search_backends())


def site(settings: Settings, store: Store | None = None) -> FastAPI:
    """The web application with every plugin's pages, sources, ranker and search backends."""
    return create_app(settings, extensions(), store)
