"""The ``tantivy`` keyword retriever: a Tantivy index of the papers' words, kept beside the
store, which stays the source of truth.

- Built from the store (``paperwire index`` builds it when there is none; ``paperwire index
  --rebuild-words`` builds a new one and swaps it in), and caught up from the store's word
  log (migration 0018) by the process that holds its writer (Tantivy lets one at a time;
  the first process to find the index behind takes it and keeps it, its threads merging
  segments in the background), the others reading what it commits. Every change is
  applied by reading the paper again (deleted: removed), so applying one twice changes
  nothing and a crash between a commit and the note of how far it got repeats a little.
- Tantivy ranks with BM25 and skips whole blocks of a word's papers that cannot reach the
  top k, so a common word's millions of papers are not all scored; it is the same on SQLite
  and PostgreSQL deployments.
- Until it is built, when it is far behind, and for the filters it does not hold (on the
  feed, an author), searches use the store's own index (``database``), which is always
  current; so do the word judgements that topic alerts decide by.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from ..core import categories
from ..core.errors import ConfigError
from ..core.hooks import hookimpl
from ..core.query import ParsedQuery, SearchFilters, Unit
from ..core.settings import SearchSettings
from ..store import Store
from ..store.fulltext import ALL, ANY
from ..store.words import PaperWords
from .keyword import DatabaseKeywords, IndexJudge
from .retrievers import KeywordBackend
from .semantic import index_dir_for

log = logging.getLogger(__name__)

LAYOUT = 1  # version of the schema and analysis below; another one needs a rebuild
TOKENIZER = "paperwire"
# Each text field: its name, BM25 weight and values from a paper (a phrase never spans two
# values). One field, the title three times: the title weighs more within one BM25 term,
# as the database's bm25 weighs its columns (FTS5 sums weighted counts before saturating).
# Measured on SciFact-dev (bench/relevance.py): keyword nDCG@10 0.690 (FTS5: 0.688); the
# title, abstract and authors as three fields boosted 10/1/2 scored 0.528, as the title's
# own BM25 then outweighed everything, and cost three word lists per word.
TITLE_REPEAT = 3
FIELDS: tuple[tuple[str, float, Callable[[PaperWords], list[str]]], ...] = (
    ("text", 1.0, lambda p: [p.title] * TITLE_REPEAT + [p.abstract] + p.authors),
)
STATE = "state.json"
GAP_GRACE = 30.0  # seconds a missing word log id may still be a transaction committing
CATCH_UP_BATCH = 2_000  # word log rows applied per step on the search path
MAX_BEHIND = 50_000  # further behind than this, searches use the database until caught up
BUILD_BATCH = 5_000
PRUNE_EVERY = 600.0  # seconds between deletions of the word log rows every index has applied
REPORT_EVERY = 3600.0  # seconds between "still here" reports of an index with nothing to apply


def _tantivy() -> Any:
    import tantivy

    return tantivy


def analyzer() -> Any:
    """Words as the index holds them: split on anything but letters and digits, lower
    case, accents folded, English stems."""
    tv = _tantivy()
    return (
        tv.TextAnalyzerBuilder(tv.Tokenizer.simple())
        .filter(tv.Filter.remove_long(64))
        .filter(tv.Filter.lowercase())
        .filter(tv.Filter.ascii_fold())
        .filter(tv.Filter.stemmer("english"))
        .build()
    )


def schema() -> Any:
    tv = _tantivy()
    sb = tv.SchemaBuilder()
    sb.add_unsigned_field("seq", stored=False, indexed=True, fast=True)
    for name, _, _ in FIELDS:
        sb.add_text_field(name, stored=False, tokenizer_name=TOKENIZER, index_option="position")
    sb.add_text_field("category", stored=False, tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("day", stored=False, indexed=True, fast=True)
    sb.add_unsigned_field("code", stored=False, indexed=True)
    return sb.build()


def category_terms(codes: Iterable[str]) -> list[str]:
    """A paper's categories as filter terms: each one ("cs.CV"), and its archive with the
    dot ("cs.") — the filter "cs" means any cs.* category, as the database reads it."""
    out: dict[str, None] = {}
    for c in codes:
        out[c] = None
        if "." in c:
            out[c.split(".", 1)[0] + "."] = None
    return list(out)


def category_filter_terms(category: str) -> list[str]:
    """The terms a category filter matches: a category itself ("cs.CV"); an archive, itself
    (hep-th has no categories) or any of its categories ("cs.")."""
    code = categories.canonical(category)
    return [code, code + "."] if categories.is_archive(code) else [code]


class WordFolder:
    """One Tantivy index folder: ``<root>/CURRENT`` names the live ``words-N`` folder, whose
    ``state.json`` says how far into the word log it has applied."""

    def __init__(self, root: Path):
        self.root = root
        self.analyzer = analyzer()
        self.schema = schema()
        self.folder: Path | None = None
        self.index: Any = None

    # -- opening -------------------------------------------------------------------------
    def live(self) -> Path | None:
        try:
            name = (self.root / "CURRENT").read_text().strip()
        except OSError:
            return None
        folder = self.root / name
        return folder if name and (folder / STATE).is_file() else None

    def open(self) -> bool:
        """Open the live folder (again, when a rebuild swapped another in); False: none."""
        folder = self.live()
        if folder is None:
            self.folder = self.index = None
            return False
        if folder != self.folder:
            if read_state(folder).get("layout") != LAYOUT:
                self.folder = self.index = None
                return False
            self.index = self._index(folder)
            self.folder = folder
        return True

    def _index(self, folder: Path) -> Any:
        index = _tantivy().Index(self.schema, path=str(folder))
        index.register_tokenizer(TOKENIZER, self.analyzer)
        return index

    def state(self) -> dict[str, Any]:
        return read_state(self.folder) if self.folder else {}

    def settled(self) -> int:
        """The last word log id the open folder has applied (with every one before it)."""
        return settled_in(self.folder) if self.folder else 0

    # -- writing -------------------------------------------------------------------------
    def document(self, paper: PaperWords) -> Any:
        doc = _tantivy().Document()
        doc.add_unsigned("seq", paper.seq)
        for name, _, values in FIELDS:
            for value in values(paper):
                doc.add_text(name, value)
        for term in category_terms(paper.categories):
            doc.add_text("category", term)
        if paper.published is not None:
            doc.add_integer("day", paper.published.toordinal())
        doc.add_unsigned("code", 1 if paper.has_code else 0)
        return doc

    def build(
        self, store: Store, progress: Callable[[int], None] | None = None, threads: int = 2
    ) -> Path:
        """A new index of every paper, swapped in when complete; the old one is removed."""
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / f"words-{time.time_ns()}"
        folder.mkdir()
        reader = uuid.uuid4().hex
        # Known as a reader at 0 before reading where the log ends: no row this index will
        # need can be deleted while it is built.
        store.words.report(reader, 0)
        start = store.words.log_end()  # changes from here on are applied after
        index = self._index(folder)
        writer = index.writer(heap_size=256_000_000 * threads, num_threads=threads)
        after, done = 0, 0
        while batch := store.words.papers_after(after, BUILD_BATCH):
            for paper in batch:
                writer.add_document(self.document(paper))
            after, done = batch[-1].seq, done + len(batch)
            if progress:
                progress(len(batch))
        writer.commit()
        writer.wait_merging_threads()
        write_state(folder, {"layout": LAYOUT, "settled": start, "papers": done, "reader": reader})
        store.words.report(reader, start)
        old = self.live()
        write_atomic(self.root / "CURRENT", folder.name)
        if old is not None and old != folder:
            shutil.rmtree(old, ignore_errors=True)
        self.open()
        return folder


def read_state(folder: Path) -> dict[str, Any]:
    try:
        state = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def settled_in(folder: Path) -> int:
    """The last word log id ``folder`` has applied (with every one before it)."""
    return int(read_state(folder).get("settled", 0))


def write_state(folder: Path, state: dict[str, Any]) -> None:
    write_atomic(folder / STATE, json.dumps(state))


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class LogReader:
    """Which word log rows are settled: ids come from a counter, and on PostgreSQL a row
    with a lower id may still be committing when a higher one is read; a missing id is
    waited for ``GAP_GRACE`` seconds (then it was rolled back), and rows read again after a
    restart are applied again, which changes nothing."""

    def __init__(self) -> None:
        self.applied: set[int] = set()
        self.missing_since: dict[int, float] = {}

    def settle(self, settled: int, ids: Sequence[int], now: float) -> int:
        self.applied.update(ids)
        top = max(self.applied, default=settled)
        for i in range(settled + 1, top + 1):
            if i in self.applied:
                settled = i
            elif now - self.missing_since.setdefault(i, now) >= GAP_GRACE:
                settled = i
            else:
                break
        self.applied = {i for i in self.applied if i > settled}
        self.missing_since = {i: t for i, t in self.missing_since.items() if i > settled}
        return settled


class TantivyKeywords:
    """Keyword search through the Tantivy index. Every ``refresh_seconds`` at most, a search
    reads how far the index is (and opens what was committed since); when it is behind, a
    background thread applies the changes, so no search waits for them. After this
    process's own writes, :meth:`catch_up` applies them at once."""

    def __init__(self, store: Store, root: Path, fallback: DatabaseKeywords, refresh: float = 2.0):
        self.store = store
        self.words = WordFolder(root)
        self.fallback = fallback
        self.refresh_seconds = refresh
        self._checked = float("-inf")
        self._usable = False
        self._read_lock = threading.Lock()  # the open folder and its searcher
        self._write_lock = threading.Lock()  # applying changes
        self._busy = threading.Event()  # a background catch-up is running
        self._log = LogReader()
        self._searcher: Any = None
        self._loaded = -1  # the state the searcher was opened at
        self._writing: tuple[Path, Any] | None = None  # (folder, its writer)
        self._pruned_at = float("-inf")
        self._reported_at = float("-inf")

    # -- keeping up ----------------------------------------------------------------------
    def catch_up(self, limit: int | None = CATCH_UP_BATCH) -> int:
        """Apply the word log rows after the index's state (``limit`` at most; None: all),
        unless another process holds the writer; then read the index again. Returns how
        many rows were applied."""
        applied = self._write(limit)
        self._read()
        return applied

    def _read(self) -> int:
        """Open the live folder and what was committed to it; how far it is behind (0 when
        there is none)."""
        with self._read_lock:
            self._checked = time.monotonic()
            if not self.words.open():
                self._usable, self._searcher = False, None
                return 0
            end = self.store.words.log_end()
            settled = self.words.settled()
            if settled > end:  # built from another database (restored, replaced): rebuild
                log.warning("the keyword index %s is not of this database", self.words.folder)
                self._usable, self._searcher = False, None
                return 0
            if settled < self.store.words.pruned_through():
                # Away too long: changes it never applied are gone from the log. The
                # database answers while a catch-up builds it anew.
                self._usable = False
                return end - settled
            if self._searcher is None or settled != self._loaded:
                self.words.index.reload()
                self._searcher, self._loaded = self.words.index.searcher(), settled
            reader = self.words.state().get("reader")
            if reader and self._checked - self._reported_at >= REPORT_EVERY:
                # A quiet index is still alive: its rows are kept for it (see STALE_READER).
                self._reported_at = self._checked
                self.store.words.report(reader, settled)
            self._usable = end - settled <= MAX_BEHIND
            return end - settled

    def _write(self, limit: int | None) -> int:
        with self._write_lock:
            with self._read_lock:
                if not self.words.open():
                    return 0
                folder, index = self.words.folder, self.words.index
            assert folder is not None
            if settled_in(folder) >= self.store.words.log_end():
                return 0  # nothing to apply (or another database's index: see _read)
            writer = self._writer(folder, index)
            if writer is None:
                return 0
            if settled_in(folder) < self.store.words.pruned_through():
                return self._rebuild(folder)
            try:
                applied = self._apply(writer, folder, limit)
            except Exception:
                writer.rollback()  # what was not committed is applied again next time
                raise
            if applied and time.monotonic() - self._pruned_at >= PRUNE_EVERY:
                self._pruned_at = time.monotonic()
                self.store.words.prune()
            return applied

    def _rebuild(self, folder: Path) -> int:
        """Build the index anew (this process holds the old one's writer, so no other on
        this machine does the same): it missed changes that were deleted from the log."""
        log.warning(
            "the keyword index %s is behind changes deleted from the word log; building it anew",
            folder,
        )
        self._writing = None
        WordFolder(self.words.root).build(self.store)
        return 0

    def _writer(self, folder: Path, index: Any) -> Any:
        """This process's writer of ``folder``, kept once taken (its threads merge
        segments in the background); None while another process holds it."""
        if self._writing is not None and self._writing[0] == folder:
            return self._writing[1]
        self._writing = None  # a rebuild swapped another folder in: let the old one go
        try:
            writer = index.writer(heap_size=50_000_000, num_threads=1)
        except ValueError:  # another process holds it: that one catches up
            return None
        self._writing = (folder, writer)
        return writer

    def _apply(self, writer: Any, folder: Path, limit: int | None) -> int:
        """Apply log rows in batches, each committed before the state records it."""
        applied = 0
        while limit is None or applied < limit:
            # Read the state again under the writer: another process may have moved it.
            state = read_state(folder)
            settled = int(state.get("settled", 0))
            take = CATCH_UP_BATCH if limit is None else min(CATCH_UP_BATCH, limit - applied)
            rows = self.store.words.log_after(settled, take)
            if not rows:
                break
            # Rows past a gap still open were applied by an earlier step of this process.
            seqs = sorted({s for i, s in rows if i not in self._log.applied})
            papers = self.store.words.papers(seqs)
            if seqs:
                tv = _tantivy()
                writer.delete_documents_by_query(
                    tv.Query.term_set_query(self.words.schema, "seq", seqs)
                )
            for paper in papers:
                writer.add_document(self.words.document(paper))
            writer.commit()
            new = self._log.settle(settled, [i for i, _ in rows], time.monotonic())
            state = {**state, "settled": new, "reader": state.get("reader") or uuid.uuid4().hex}
            write_state(folder, state)
            self.store.words.report(state["reader"], new)
            applied += len(rows)
            if new == settled or len(rows) < take:
                break
        return applied

    def _ready(self) -> bool:
        if time.monotonic() - self._checked >= self.refresh_seconds:
            try:
                behind = self._read()
            except Exception:  # a search goes on with what the index holds, or the database
                log.exception("reading the keyword index %s failed", self.words.root)
                behind = 0
            if behind and not self._busy.is_set():
                self._busy.set()
                threading.Thread(target=self._catch_up_behind, daemon=True).start()
        return self._usable and self._searcher is not None

    def _catch_up_behind(self) -> None:
        try:
            self.catch_up()
        except Exception:
            log.exception("catching up the keyword index %s failed", self.words.root)
        finally:
            self._busy.clear()

    # -- search --------------------------------------------------------------------------
    def retrieve(
        self, query: ParsedQuery, filters: SearchFilters, k: int
    ) -> tuple[list[tuple[int, float]], set[int]]:
        if filters.on_feed or filters.author or not self._ready():
            return self.fallback.retrieve(query, filters, k)
        hits = self._search(query, filters, k, ALL)
        all_words = {s for s, _ in hits}
        if not hits and len(query.units) > 1:
            # No paper holds them all (a pasted sentence): the rarer words rank, as with
            # the database (common ones tell little and are the semantic side's).
            rare = self._rare_units(query)
            if rare:
                some = ParsedQuery(text="", units=rare, excluded=query.excluded)
                hits = self._search(some, filters, k, ANY)
        return hits, all_words

    def _rare_units(self, query: ParsedQuery) -> list[Unit]:
        """Up to ``rare_units`` units found in fewer than ``rare_share`` of the papers,
        rarest first (a unit's papers: its commonest alternative's rarest word's)."""
        searcher = self._searcher
        cap = max(self.fallback.rare_floor, int(searcher.num_docs * self.fallback.rare_share))

        def papers(unit: Unit) -> int:
            return max(
                min(
                    (
                        max(searcher.doc_freq(name, t) for name, _, _ in FIELDS)
                        for w in words
                        for t in self.words.analyzer.analyze(w)
                    ),
                    default=0,
                )
                for words in unit.alternatives
            )

        counts = sorted((papers(u), i) for i, u in enumerate(query.units))
        return [query.units[i] for c, i in counts if 0 < c < cap][: self.fallback.rare_units]

    def _search(
        self, query: ParsedQuery, filters: SearchFilters, k: int, mode: str
    ) -> list[tuple[int, float]]:
        q = self.query(query, filters, mode)
        if q is None:
            return []
        searcher = self._searcher
        found = searcher.search(q, limit=k, count=False).hits
        if not found:
            return []
        seqs = searcher.fast_field_values("seq", [addr for _, addr in found])
        return [(int(s), float(score)) for (score, _), s in zip(found, seqs, strict=True)]

    def query(self, query: ParsedQuery, filters: SearchFilters, mode: str) -> Any:
        """The Tantivy query: every unit (``mode`` "all") or any ("any") in some field, no
        excluded phrase, and the filters (which add nothing to the score)."""
        tv = _tantivy()
        units = [u for u in (self._unit(unit) for unit in query.units) if u is not None]
        if not units or (mode == ALL and len(units) < len(query.units)):
            return None  # a unit with no word in it (only punctuation) matches nothing
        if mode == ALL or len(units) == 1:
            clauses = [(tv.Occur.Must, u) for u in units]
        else:  # any unit: one required clause (beside a required one, "should" is optional)
            some = tv.Query.boolean_query([(tv.Occur.Should, u) for u in units])
            clauses = [(tv.Occur.Must, some)]
        for phrase in query.excluded:
            q = self._alternatives([phrase])
            if q is not None:
                clauses.append((tv.Occur.MustNot, q))
        for f in self._filters(filters):
            clauses.append((tv.Occur.Must, tv.Query.const_score_query(f, 0.0)))
        if len(clauses) == 1:
            return clauses[0][1]
        return tv.Query.boolean_query(clauses)

    def _unit(self, unit: Unit) -> Any:
        return self._alternatives(unit.alternatives)

    def _alternatives(self, alternatives: list[list[str]]) -> Any:
        tv = _tantivy()
        parts = []
        for words in alternatives:
            tokens = [t for w in words for t in self.words.analyzer.analyze(w)]
            if not tokens:
                continue
            for name, boost, _ in FIELDS:
                q = (
                    tv.Query.term_query(self.words.schema, name, tokens[0])
                    if len(tokens) == 1
                    else tv.Query.phrase_query(self.words.schema, name, tokens)
                )
                parts.append(tv.Query.boost_query(q, boost) if boost != 1.0 else q)
        if not parts:
            return None
        return tv.Query.boolean_query([(tv.Occur.Should, p) for p in parts])

    def _filters(self, filters: SearchFilters) -> list[Any]:
        tv = _tantivy()
        out = []
        if filters.date_from or filters.date_to:
            lo = filters.date_from.toordinal() if filters.date_from else None
            hi = filters.date_to.toordinal() if filters.date_to else date.max.toordinal()
            out.append(tv.Query.range_query(self.words.schema, "day", tv.FieldType.Integer, lo, hi))
        if filters.category:
            terms = category_filter_terms(filters.category)
            out.append(
                tv.Query.boolean_query(
                    [(tv.Occur.Should, tv.Query.term_query(self.words.schema, "category", term))
                     for term in terms]
                )
            )  # fmt: skip
        if filters.has_code:
            out.append(tv.Query.term_query(self.words.schema, "code", 1))
        return out

    def judge(self, seqs: Sequence[int] | None = None) -> IndexJudge:
        return self.fallback.judge(seqs)

    # -- for people and commands ---------------------------------------------------------
    def update(self, rebuild: bool = False, progress: Callable[[int], None] | None = None) -> str:
        """Build the index (when there is none, or ``rebuild``), then apply every change
        logged since; a line saying what was done."""
        t0 = time.perf_counter()
        built = None
        opened = self.words.open()
        # Not built, or built from another database (restored, replaced): build anew.
        if rebuild or not opened or self.words.settled() > self.store.words.log_end():
            built = self.words.build(self.store, progress)
            self._searcher = None
        applied = self.catch_up(limit=None)
        state = self.words.state()
        what = f"built ({state.get('papers', 0):,} papers) and " if built else ""
        return (
            f"keyword index {what}caught up: {applied:,} changes applied, "
            f"{time.perf_counter() - t0:.1f} s ({self.words.folder})"
        )

    def describe(self) -> dict[str, Any]:
        """Where the index stands (opens it, applies nothing)."""
        if not self.words.open():
            return {"kind": "tantivy", "built": False, "folder": str(self.words.root)}
        settled = self.words.settled()
        searcher = self.words.index.searcher()
        end = self.store.words.log_end()
        return {
            "kind": "tantivy",
            "built": True,
            "folder": str(self.words.folder),
            "papers": searcher.num_docs,
            "segments": searcher.num_segments,
            "behind": max(0, end - settled),
            # At most this many word log rows are kept (the ids above the deleted ones).
            "log_kept": max(0, end - self.store.words.pruned_through()),
        }


def words_dir_for(settings: SearchSettings, store: Store) -> Path:
    """Where this deployment keeps its Tantivy index: beside the vector snapshot."""
    vectors = index_dir_for(settings, store)
    return vectors.with_name(vectors.name + "-words")


def tantivy_keywords(store: Store, settings: SearchSettings) -> TantivyKeywords:
    try:
        _tantivy()
    except ImportError as exc:
        raise ConfigError(
            "keyword_backend is 'tantivy', but the tantivy package is not installed "
            "(pip install 'paperwire[words]')"
        ) from exc
    fallback = DatabaseKeywords(store, settings.search_rank_window)
    return TantivyKeywords(store, words_dir_for(settings, store), fallback)


@hookimpl
def register_search_backends(register: Callable[[Any], None]) -> None:
    register(
        KeywordBackend(
            "tantivy",
            "A Tantivy index beside the store, built and caught up from it (BM25, top-k "
            "without scoring every match); the same on SQLite and PostgreSQL.",
            tantivy_keywords,
        )
    )
