"""Prometheus metrics of a serving process, and their exposition, summed across the worker
processes of ``paperwire serve --workers N``.

Import this module only once the process knows where metrics live: prometheus_client picks
in-memory or multiprocess storage (``PROMETHEUS_MULTIPROC_DIR``, set by ``paperwire serve``)
when it is first imported, so :mod:`paperwire.web.ops` imports it while building the app.
What the database knows (papers, ingest runs, digest deliveries, the jobs queue) is read at
scrape time, so it is right whichever process or cron job did the work.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client import generate_latest as _generate
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..search import SearchEngine
from ..search.engine import SearchResult
from ..store import Store

# The storage prometheus_client chose when it was imported, whatever the environment says now.
MULTIPROC_DIR = (
    None
    if values.ValueClass is values.MutexValue
    else os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
)
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "paperwire_http_request_duration_seconds",
    "Time to answer a request, by method and route template (unmatched paths: one label).",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter(
    "paperwire_http_requests",
    "Requests answered, by method, route template and status class (2xx, 4xx, ...).",
    ["method", "route", "status"],
)
SEARCH_SECONDS = Histogram(
    "paperwire_search_duration_seconds",
    "Time of one search: query (hybrid/keyword/semantic search) or similar (similar papers).",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
EMBED_SECONDS = Histogram(
    "paperwire_embedding_duration_seconds",
    "Time to embed with the model: query (one search query) or papers (new submissions).",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
INDEX_PAPERS = Gauge(
    "paperwire_vector_index_papers",
    "Papers in the vector index of the serving processes (largest of the live workers).",
    multiprocess_mode="livemax",
)
INDEX_LAG_PAPERS = Gauge(
    "paperwire_vector_index_lag_papers",
    "Stored vectors not yet read into a worker's vector index (largest of the live workers, "
    "as of its last readiness check or scrape).",
    multiprocess_mode="livemax",
)
INDEX_LAG_SECONDS = Gauge(
    "paperwire_vector_index_lag_seconds",
    "Age of the oldest stored vector not yet in a worker's vector index (0: none).",
    multiprocess_mode="livemax",
)

if MULTIPROC_DIR:
    # A worker that exits cleanly drops its live gauges; a killed one is swept at scrape time.
    atexit.register(mark_process_dead, os.getpid(), MULTIPROC_DIR)


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    REQUEST_SECONDS.labels(method, route).observe(seconds)
    REQUESTS.labels(method, route, status_class(status)).inc()


def observe_index(papers: int, lag_papers: int, lag_seconds: float) -> None:
    INDEX_PAPERS.set(papers)
    INDEX_LAG_PAPERS.set(lag_papers)
    INDEX_LAG_SECONDS.set(lag_seconds)


class TimedSearch:
    """The site's search engine, timing searches, similar papers and embeddings into the
    histograms above; everything else passes through."""

    def __init__(self, engine: SearchEngine):
        object.__setattr__(self, "_engine", engine)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def __setattr__(self, name: str, value: Any) -> None:  # e.g. a retriever swapped in
        setattr(self._engine, name, value)

    def search(self, *args: Any, **kwargs: Any) -> SearchResult:
        started = time.perf_counter()
        result = self._engine.search(*args, **kwargs)
        SEARCH_SECONDS.labels("query").observe(time.perf_counter() - started)
        embed = result.timings.get("embed")
        if embed is not None:
            EMBED_SECONDS.labels("query").observe(embed)
        return result

    def similar(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._engine.similar(*args, **kwargs)
        finally:
            SEARCH_SECONDS.labels("similar").observe(time.perf_counter() - started)

    def embed_papers(self, *args: Any, **kwargs: Any) -> int:
        started = time.perf_counter()
        done = self._engine.embed_papers(*args, **kwargs)
        if done:
            EMBED_SECONDS.labels("papers").observe(time.perf_counter() - started)
        return done


class _ThisProcess:
    """The default registry's metrics (one process, no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class StoreCollector:
    """Counts read from the database at scrape time: right across processes, hosts, and
    the cron jobs that ingest or send without serving metrics."""

    def __init__(self, store: Store):
        self.store = store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("paperwire_database_up", "1 when the database answered the scrape.")
        try:
            counts = self.store.db.ops_counts()
        except Exception:  # noqa: BLE001 - a scrape reports a broken database, never fails
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _store_metrics(counts)


def _timestamp(value: datetime | None) -> float:
    if value is None:
        return 0.0
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _store_metrics(c: dict[str, Any]) -> Iterator[Metric]:
    yield GaugeMetricFamily("paperwire_papers", "Papers in the catalogue.", value=c["papers"])
    yield GaugeMetricFamily(
        "paperwire_last_paper_ingested_timestamp_seconds",
        "When the newest paper arrived (Unix time; 0: none).",
        value=_timestamp(c["newest_paper_at"]),
    )
    runs = CounterMetricFamily(
        "paperwire_ingest_runs", "Recorded ingest runs (OAI-PMH harvests), by job and status.",
        labels=["job", "status"],
    )  # fmt: skip
    for job, status, n in c["ingest_runs"]:
        runs.add_metric([job, status], n)
    yield runs
    deliveries = GaugeMetricFamily(
        "paperwire_digest_deliveries", "Digest deliveries by status.", labels=["status"]
    )
    sent = 0
    for status, n in c["deliveries"]:
        deliveries.add_metric([status], n)
        sent += n if status == "sent" else 0
    yield deliveries
    yield CounterMetricFamily("paperwire_digests_sent", "Digest e-mails sent.", value=sent)
    yield GaugeMetricFamily(
        "paperwire_last_digest_sent_timestamp_seconds",
        "When the last digest e-mail was sent (Unix time; 0: never).",
        value=_timestamp(c["last_sent_at"]),
    )
    jobs = GaugeMetricFamily(
        "paperwire_jobs", "Jobs in the queue, by kind and state.", labels=["kind", "state"]
    )
    for kind, state, n in c["jobs"]:
        jobs.add_metric([kind, state], n)
    yield jobs


def _sweep_dead_workers(directory: str) -> None:
    """Drop the live gauges of worker processes that died without saying so (SIGKILL)."""
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        found = re.search(r"_(\d+)\.db$", path)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, directory)
        except PermissionError:
            pass  # alive, another user's


def exposition(store: Store) -> bytes:
    """The text exposition format: this process's metrics (all workers' when several),
    then the database's."""
    registry = CollectorRegistry()
    if MULTIPROC_DIR:
        _sweep_dead_workers(MULTIPROC_DIR)
        MultiProcessCollector(registry, MULTIPROC_DIR)
    else:
        registry.register(_ThisProcess())
    registry.register(StoreCollector(store))
    return _generate(registry)
