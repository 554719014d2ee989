"""Build the bundled demo data from ../shared/data (run by a developer, not at install time).

    python tools/build_demo.py [--shared ../shared] [--out src/paperwire/demo/data]

Every paper in the demo is complete: title, the real arXiv abstract, authors, publication
date and categories, all from the arXiv listings (CC0). Papers the listings do not hold are
left out rather than filled from pages that only have parts of them. Inputs (see
../shared/README.md for licences):

- data/arxiv-listings: arXiv new-listing metadata (CC0), 2025-03-18 .. 2026-07-01. Each paper
  goes through Paperwire's own listing parser (ingest/listing.py), so the demo holds what
  `paperwire ingest listing` would store: long author lists cut as "…(+N)" keep the listed
  names and count the rest; the publication date is the first listing day.
- data/hf-daily/scraped-2025-12_2026-08: Hugging Face daily papers (MIT). Only which papers
  were on the daily page, and on which day (the first day a paper was scraped is its feed
  day), their GitHub links and star counts. Its text (abstracts that are often the Librarian
  Bot's comment or a project blurb, partial author lists) is not used.
- data/seed-page-papers.jsonl: the 55 papers of the reference search page, with their
  upvotes and organizations. Only those whose arXiv id is in the listings are complete.
- More papers of the listings' main categories from the feed's weeks: in the catalogue
  (search, similar papers) but not on the feed, as arXiv brings papers nobody submitted.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import re
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from paperwire.core.abstracts import abstract_quality  # noqa: E402
from paperwire.core.errors import BadRecord  # noqa: E402
from paperwire.core.records import PaperRecord  # noqa: E402
from paperwire.ingest.listing import listing_record  # noqa: E402

SEED_IDS = {
    "VideoLLM-MoD: Efficient Video-Language Streaming with Mixture-of-Depths Vision Computation": "2408.16730",
    "I-ViT: Integer-only Quantization for Efficient Vision Transformer Inference": "2207.01405",
    "Model Quantization and Hardware Acceleration for Vision Transformers: A Comprehensive Survey": "2405.00314",
    "LPViT: Low-Power Semi-structured Pruning for Vision Transformers": "2407.02068",
    "Emergent Properties of Foveated Perceptual Systems": "2006.07991",
    "Revisiting Unreasonable Effectiveness of Data in Deep Learning Era": "1707.02968",
    "Modelling Human Visual Motion Processing with Trainable Motion Energy Sensing and a Self-attention Network": "2305.09156",
    "BlenderGym: Benchmarking Foundational Model Systems for Graphics Editing": "2504.01786",
    "Intriguing Properties of Large Language and Vision Models": "2410.04751",
    "ShiftAddViT: Mixture of Multiplication Primitives Towards Efficient Vision Transformer": "2306.06446",
    "Vision Mamba: Efficient Visual Representation Learning with Bidirectional State Space Model": "2401.09417",
    "Edge-MoE: Memory-Efficient Multi-Task Vision Transformer Architecture with Task-level Sparsity via Mixture-of-Experts": "2305.18691",
    "ViR: Vision Retention Networks": "2310.19731",
    "EfficientViT: Memory Efficient Vision Transformer with Cascaded Group Attention": "2305.07027",
    "MPCViT: Searching for Accurate and Efficient MPC-Friendly Vision Transformer with Heterogeneous Attention": "2211.13955",
    "OpenVLA: An Open-Source Vision-Language-Action Model": "2406.09246",
    "MAP: Low-compute Model Merging with Amortized Pareto Fronts via Quadratic Approximation": "2406.07529",
    "Boost Vision Transformer with GPU-Friendly Sparsity and Quantization": "2305.10727",
    "SHViT: Single-Head Vision Transformer with Memory Efficient Macro Design": "2401.16456",
    "Scaling Laws for Data Filtering -- Data Curation cannot be Compute Agnostic": "2404.07177",
    "ViG: Linear-complexity Visual Sequence Learning with Gated Linear Attention": "2405.18425",
    "Florenz: Scaling Laws for Systematic Generalization in Vision-Language Models": "2503.09443",
    "Vision-Language Models are Zero-Shot Reward Models for Reinforcement Learning": "2310.12921",
    "Kolmogorov-Arnold Attention: Is Learnable Attention Better For Vision Transformers?": "2503.10632",
    "Can Vision-Language Models Think from a First-Person Perspective?": "2311.15596",
    "CSWin Transformer: A General Vision Transformer Backbone with Cross-Shaped Windows": "2107.00652",
    "MixPro: Data Augmentation with MaskMix and Progressive Attention Labeling for Vision Transformer": "2304.12043",
    "Adapting Vision-Language Models for Evaluating World Models": "2506.17967",
    "Leveraging Self-Supervised Vision Transformers for Neural Transfer Function Design": "2309.01408",
    "Global Context Vision Transformers": "2206.09959",
    "Align-Then-stEer: Adapting the Vision-Language Action Models through Unified Latent Guidance": "2509.02055",
    "ED-ViT: Splitting Vision Transformer for Distributed Inference on Edge Devices": "2410.11650",
    "EE-MLLM: A Data-Efficient and Compute-Efficient Multimodal Large Language Model": "2408.11795",
    "Activator: GLU Activations as The Core Functions of a Vision Transformer": "2405.15953",
    "HorNet: Efficient High-Order Spatial Interactions with Recursive Gated Convolutions": "2207.14284",
}
ORGS = {"NexaAI Nexa AI": ("NexaAI", "Nexa AI"), "tencent Tencent": ("tencent", "Tencent")}
# The categories of the papers on the Hugging Face feed: the catalogue's extra papers too.
CATALOGUE_CATEGORIES = {"cs.CV", "cs.CL", "cs.AI", "cs.LG"}


def norm(title: str) -> str:
    return re.sub(r"\W+", " ", title.lower()).strip()


def github_links(links: Any) -> list[str]:
    out = []
    for url in links or []:
        owner = url.rstrip("/").split("github.com/")[-1].split("/")[0].lower()
        if owner != "huggingface" and url.count("/") >= 4:
            out.append(url)
    return out


def complete(rec: PaperRecord) -> bool:
    return bool(
        rec.title
        and abstract_quality(rec.abstract, rec.title) > 0
        and rec.authors
        and rec.published
        and rec.categories
    )


def paper(rec: PaperRecord, **extra: Any) -> dict[str, Any]:
    assert rec.published is not None
    return {
        "id": rec.id,
        "title": rec.title,
        "abstract": rec.abstract,
        "authors": rec.authors,
        "num_authors": rec.num_authors,
        "categories": rec.categories,
        "published": rec.published.date().isoformat(),
        "comment": rec.comment,
        "code_url": extra.get("code_url")
        or (f"https://github.com/{rec.github_repo}" if rec.github_repo else None),
        "github_stars": extra.get("github_stars"),
    }


def read_listings(shared: Path) -> tuple[dict[str, PaperRecord], dict[str, str], int]:
    path = next((shared / "data/arxiv-listings").glob("*.jsonl.gz"))
    records, by_title, unusable = {}, {}, 0
    with gzip.open(path, "rt") as fh:
        for n, line in enumerate(fh):
            try:
                rec = listing_record(json.loads(line), f"line {n}")
            except BadRecord:
                unusable += 1
                continue
            if complete(rec):
                records[rec.id] = rec
                by_title[norm(rec.title)] = rec.id
            else:
                unusable += 1
    return records, by_title, unusable


def read_scraped(shared: Path) -> dict[str, dict[str, Any]]:
    scraped: dict[str, dict[str, Any]] = {}
    folder = shared / "data/hf-daily/scraped-2025-12_2026-08"
    files = sorted(glob.glob(str(folder / "monthly/*.json"))) + [str(folder / "latest.json")]
    for f in files:
        for d in json.load(open(f)):
            pid = d["paper_url"].rstrip("/").rsplit("/", 1)[-1]
            prev = scraped.get(pid)
            if prev is None:
                scraped[pid] = {"first": d["scraped_date"], "last": d["scraped_date"], "rec": d}
            else:
                prev["first"] = min(prev["first"], d["scraped_date"])
                if d["scraped_date"] >= prev["last"]:
                    prev["last"], prev["rec"] = d["scraped_date"], d
    return scraped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--out", default=str(ROOT / "src/paperwire/demo/data"))
    ap.add_argument("--catalogue", type=int, default=2000, help="papers off the feed")
    args = ap.parse_args()
    shared = Path(args.shared)
    listings, by_title, unusable = read_listings(shared)
    scraped = read_scraped(shared)

    # Feed days end where the listings end: later days could only show the few old papers
    # featured again, and the feed would thin out to nothing at its newest end.
    listed_until = max(r.published for r in listings.values() if r.published).date()
    out: dict[str, dict[str, Any]] = {}
    missing, early, late = 0, 0, 0
    for pid, entry in sorted(scraped.items(), key=lambda kv: (kv[1]["first"], kv[0])):
        rec = listings.get(pid)
        if rec is None:
            missing += 1
            continue
        assert rec.published is not None
        if date.fromisoformat(entry["first"]) < rec.published.date():
            early += 1  # on the daily page before arXiv listed it: the dates contradict
            continue
        det = entry["rec"].get("details") or {}
        links = github_links(det.get("github_links"))
        stars = entry["rec"].get("stars", "")
        out[pid] = {
            "paper": paper(
                rec,
                code_url=links[0] if links else None,
                github_stars=int(stars) if str(stars).isdigit() and links else None,
            ),
            "feed_date": entry["first"] if entry["first"] <= listed_until.isoformat() else None,
            "upvotes": None,
        }
        late += out[pid]["feed_date"] is None
    on_feed = len(out) - late

    seeds, seeds_left_out = 0, []
    for line in open(shared / "data/seed-page-papers.jsonl"):
        d = json.loads(line)
        pid = SEED_IDS.get(d["title"]) or by_title.get(norm(d["title"]))
        rec = listings.get(pid) if pid else None
        if rec is None:
            seeds_left_out.append(d["title"])
            continue
        seeds += pid not in out
        org = ORGS.get(d["organization"]) if d["organization"] else None
        if pid in out:
            out[pid].update(upvotes=d["upvotes"], organization=org)
            continue
        if d["published"]:
            rec.published = datetime.strptime(d["published"], "%b %d %Y")
        out[pid] = {
            "paper": paper(rec, code_url=(d["code_urls"] or [None])[0]),
            "feed_date": None,
            "upvotes": d["upvotes"],
            "organization": org,
            "reference_page": True,
        }

    days = sorted(o["feed_date"] for o in out.values() if o["feed_date"])
    first, last = days[0], days[-1]
    pool = [
        rec
        for pid, rec in listings.items()
        if pid not in out
        and rec.published
        and first <= rec.published.date().isoformat() <= last
        and CATALOGUE_CATEGORIES.intersection(rec.categories)
    ]
    pool.sort(key=lambda r: hashlib.sha1(r.id.encode()).hexdigest())  # spread over the days
    for rec in sorted(pool[: args.catalogue], key=lambda r: r.id):
        out[rec.id] = {"paper": paper(rec), "feed_date": None, "upvotes": None}

    dest = Path(args.out)
    dest.mkdir(parents=True, exist_ok=True)
    with gzip.open(dest / "demo-papers.jsonl.gz", "wt", compresslevel=9) as fh:
        for o in out.values():
            fh.write(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n")
    print(
        f"{len(out)} papers written to {dest}: {on_feed} on the feed ({first} .. {last}), "
        f"{seeds} more from the reference page, {late} featured after {listed_until} and "
        f"{len(out) - on_feed - seeds - late} more in the catalogue (off the feed)."
        f"\nLeft out: {missing} feed papers not in the listings, {early} listed after their "
        f"feed day, {unusable} unusable listing records, reference-page papers not in the "
        f"listings: {len(seeds_left_out)}"
    )


if __name__ == "__main__":
    main()
