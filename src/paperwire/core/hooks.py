"""Plugin hook specifications (pluggy), the way datasette and llm do it.

A plugin is a module with functions marked ``@hookimpl`` and named after a hook below; it is
found through the ``paperwire.plugins`` entry point of an installed package. Paperwire's own
sources, ranker, retrievers, commands and pages are registered through these same hooks
(``paperwire.plugins.DEFAULT_PLUGINS``), so every hook is exercised by the core itself.

Each ``register_*`` hook receives a ``register`` callable: call it once per thing you add.
Names must be unique; registering a name twice is an error that names both plugins.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("paperwire")
hookimpl = pluggy.HookimplMarker("paperwire")


@hookspec
def register_sources(register: Any) -> None:
    """Add sources of papers: ``register(Source(name, trust, description, commands))``
    (:class:`paperwire.ingest.sources.Source`).

    ``name`` is stored with every record the source writes; ``trust`` decides whose word
    wins when two sources describe the same version of a paper (arXiv's own metadata is 4,
    an aggregator copying it 3, a listing scrape 2, sample data 1). ``commands`` are click
    commands added under ``paperwire ingest``."""


@hookspec
def register_rankers(register: Any) -> None:
    """Add rankers: ``register(Ranker(name, description, rank))``
    (:class:`paperwire.rank.Ranker`). The ``trending_ranker`` setting picks the one behind
    /papers/trending, its API and Atom feed, and trending digests."""


@hookspec
def register_search_backends(register: Any) -> None:
    """Add search backends: ``register(KeywordBackend(name, description, factory))`` or
    ``register(VectorBackend(name, description, factory))`` (:mod:`paperwire.search.backends`).
    A factory takes ``(store, search_settings)`` and returns a retriever; the
    ``keyword_backend`` and ``vector_backend`` settings pick one of each."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``paperwire`` command line: ``cli`` is its click group."""


@hookspec
def register_routes(register: Any) -> None:
    """Add pages or API endpoints: ``register(router)`` with a FastAPI ``APIRouter``. Its
    views get the request's context with ``paperwire.web.deps.CtxDep``."""
