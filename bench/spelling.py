"""Did you mean …?: the speller's vocabulary (build time and memory), its time per search, and
how often it is right.

    bench/spelling.py --db sqlite:///demo.db --db sqlite:///listings.db [--quality]

For each store: the vocabulary built from it as a web process builds it (the newest 20,000
papers, read and counted; median of 3), the memory it keeps and its peak while building
(tracemalloc, a build of its own), and the time ``Speller.suggest`` adds to a search
(median µs per query): over bench/search_latency.py's query set (typed queries, pasted
abstract sentences, the hard cases), which it leaves as typed, and over the typed queries
with one word misspelled, which it corrects (counting the typed word in the store).

``--quality``: over the 74,728 real papers of ../shared (the newest 20,000 sampled, every
paper's words counted as the store would count them): how many real words the sample lacks
(only older papers hold them) and how many words few sampled papers hold get a suggestion
they should not, and how many made-up typos get their word back, by the rule of
search/spelling.py and by the looser ones it was chosen over.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable

from benchkit import SHARED, write_json
from search_latency import SHORT, queries

from paperwire.core.query import parse
from paperwire.search import spelling
from paperwire.search.spelling import Speller, Vocabulary, distance
from paperwire.store import Store

LISTINGS = SHARED / "data/arxiv-listings/arxiv_daily_2025-03-18_2026-07-01.dedup.jsonl.gz"
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(word: str, rng: random.Random) -> str:
    """One edit: a letter left out, added, changed, or two swapped."""
    i, kind = rng.randrange(len(word)), rng.choice("dist")
    if kind == "d" or (kind == "t" and i == len(word) - 1):
        return word[:i] + word[i + 1 :]
    if kind == "i":
        return word[:i] + rng.choice(LETTERS) + word[i:]
    if kind == "s":
        return word[:i] + rng.choice(LETTERS) + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def misspelled(typed: list[str], rng: random.Random) -> list[str]:
    """Each typed query with one of its words of six letters or more misspelled."""
    out = []
    for q in typed:
        words = q.split()
        long = [i for i, w in enumerate(words) if len(w) >= 6]
        if long:
            i = rng.choice(long)
            word = words[i]
            while words[i] == word:  # (a swap of two same letters changes nothing)
                words[i] = typo(word, rng)
            out.append(" ".join(words))
    return out


def per_query_us(suggest: Callable[[str], object], texts: list[str], rounds: int = 20) -> float:
    """Median µs of ``suggest`` per query (each query's median over ``rounds``)."""
    medians = []
    for text in texts:
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            suggest(text)
            times.append(time.perf_counter() - t)
        medians.append(statistics.median(times))
    return statistics.median(medians) * 1e6


def store_figures(url: str) -> dict[str, object]:
    with Store(url) as store:
        papers = store.papers.count()
        builds = []
        for _ in range(3):
            speller = Speller(store)
            t = time.perf_counter()
            speller.refresh()
            builds.append(time.perf_counter() - t)
        tracemalloc.start()
        kept = Speller(store)
        kept.refresh()
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        vocabulary = kept.vocabulary
        assert vocabulary is not None
        rng = random.Random(0)
        asked = [parse(q.text).text for q in queries(store)]
        typed = [q.strip() for q in SHORT.split(";") if q.strip()]
        wrong = misspelled(typed, rng)
        corrected = [kept.suggest(q) for q in wrong]
        figures = {
            "papers": papers,
            "sampled": vocabulary.docs,
            "words (2+ papers)": len(vocabulary),
            "build s (median of 3)": round(statistics.median(builds), 2),
            "kept MB": round(held / 1e6, 1),
            "peak MB while building": round(peak / 1e6, 1),
            "queries as typed": len(asked),
            "suggested for them": sum(kept.suggest(q) is not None for q in asked),
            "µs per query as typed (median)": round(per_query_us(kept.suggest, asked), 1),
            "misspelled queries": len(wrong),
            "corrected": sum(c is not None for c in corrected),
            "µs per misspelled query (median, store counts included)": round(
                per_query_us(kept.suggest, wrong), 1
            ),
            "examples": [
                f"{w} -> {c.text if c else None}" for w, c in zip(wrong, corrected, strict=True)
            ][:8],
        }
    print(f"\n{url}")
    for name, value in figures.items():
        print(f"  {name}: {value}")
    return figures


def quality() -> dict[str, object]:
    """See the module's documentation."""
    with gzip.open(LISTINGS, "rt") as f:
        rows = [json.loads(line) for line in f]
    texts = [f"{r['title']}\n{r.get('summary') or ''}" for r in rows]
    sample = Vocabulary(texts[-spelling.SAMPLE :], papers=len(texts))
    every: Counter[str] = Counter()  # papers holding each word, in the whole store
    for text in texts:
        every.update({w for w in re.findall(r"\w+", text.lower()) if w.isalpha()})
    fits = range(spelling.MIN_LETTERS, spelling.MAX_LETTERS + 1)
    older = [w for w, n in every.items() if n >= 3 and len(w) in fits and not sample.df(w)]
    rare = [w for w in every if len(w) in fits and 1 <= sample.df(w) < spelling.COMMON_DF]
    rng, typos = random.Random(3), []
    common = [w for w in sorted(every) if len(w) in fits and sample.df(w) >= 30]
    while len(typos) < 3000:
        word = rng.choice(common)
        wrong = typo(word, rng) if rng.random() < 0.7 else typo(typo(word, rng), rng)
        if wrong != word and len(wrong) in fits and every[wrong] < 3 and not sample.df(wrong):
            typos.append((wrong, word))
    closest = {w: sample.closest(w) for w in {*older, *rare, *(t for t, _ in typos)}}

    def offered(word: str, ratio: int, store: bool) -> str | None:
        found, held = closest[word], sample.df(word)
        if found is None or held >= spelling.COMMON_DF or found[1] < ratio * held:
            return None
        expected = found[1] * sample.papers / sample.docs
        return None if store and ratio * every[word] > expected else found[0]

    figures: dict[str, object] = {
        "real words only older papers hold": len(older),
        "words 1-9 sampled papers hold": len(rare),
        "made-up typos": len(typos),
    }
    for ratio, store in [(20, False), (20, True), (100, True), (1000, True)]:
        rule = f"{ratio}x, {'sample and store' if store else 'sample only'}"
        figures[rule] = {
            "older words offered another": round(
                sum(offered(w, ratio, store) is not None for w in older) / len(older), 3
            ),
            "rare words offered another": round(
                sum(offered(w, ratio, store) is not None for w in rare) / len(rare), 3
            ),
            "typos given their word": round(
                sum(offered(t, ratio, store) == w for t, w in typos) / len(typos), 3
            ),
            "typos given another word": round(
                sum(offered(t, ratio, store) not in (None, w) for t, w in typos) / len(typos), 3
            ),
        }
        print(f"  {rule}: {figures[rule]}")
    assert distance("tranformer", "transformer") == 1
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", action="append", default=[], help="SQLAlchemy URL of a store")
    ap.add_argument("--quality", action="store_true", help="judge the rule on real papers")
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    figures: dict[str, object] = {url: store_figures(url) for url in args.db}
    if args.quality:
        print("\nquality (74,728 real papers, the newest 20,000 sampled):")
        figures["quality"] = quality()
    write_json("spelling", figures, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
