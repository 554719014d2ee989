"""Reading the IVF index file into the kernel's page cache ahead of the first queries.

After a restart (or once other work evicted them) the memory-mapped IVF lists come from
disk a few pages at a time, as queries fault them in. A background thread reads the file
through once, in large sequential reads (582 MB in 1.1 s at 3 million papers); the pages
are clean page cache, shared by every worker and dropped first when memory is short, and
every query visits the lists anyway, so no process maps more than it would have.
``POSIX_FADV_WILLNEED`` would be the polite way, but Linux read only the first 8 MB of that
file for it.

Measured at 3 million papers with the page cache dropped, each query once
(``bench/search_latency.py run --repeat 1``): hybrid p50 51.3 ms without it, 47.5 ms with
it, RSS 1,121 and 1,140 MB. Reading the Tantivy segments too gained nothing more (47.0 ms)
and cost 240 MB of RSS (the kernel then maps 64 KB around each page a query faults in);
reading all of them, positions included, 41.0 ms but 1,716 MB, over the 1.5 GB a worker may
take. What is left of a cold query is the database's pages and the exact rows it re-ranks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


CHUNK = 1 << 20  # bytes per read


def preload(paths: Iterable[Path]) -> threading.Thread:
    """Start reading ``paths`` into the page cache on a background thread (returned, for
    those who want to wait for it)."""
    files = [p for p in paths if p.is_file()]
    thread = threading.Thread(target=_read_through, args=(files,), name="preload", daemon=True)
    thread.start()
    return thread


def _read_through(files: list[Path]) -> None:
    buffer = bytearray(CHUNK)
    for path in files:
        try:
            with path.open("rb", buffering=0) as f:
                while f.readinto(buffer):
                    pass
        except OSError as exc:  # replaced by a newer snapshot meanwhile, or unreadable
            log.debug("no read-ahead of %s: %s", path, exc)
