"""Build the bundled demo data from ../shared/data (run by a developer, not at install time).

    python tools/build_demo.py [--shared ../shared] [--out src/paperwire/demo/data]

Inputs (see ../shared/README.md for licences):
- data/seed-page-papers.jsonl: the 55 papers of the reference search page (title, abstract,
  author count or organization, publication date, upvotes, code URLs). They carry no arXiv
  ids; SEED_IDS below maps their titles to ids looked up on public pages (three could not be
  verified and are left out rather than guessed).
- data/hf-daily/scraped-2025-12_2026-08: Hugging Face daily papers (MIT). Its ``stars`` field
  is the GitHub star count (non-zero only for papers with a GitHub link), not upvotes: the
  scrape recorded no upvotes, so these papers start with 0 upvotes. The feed date is the
  first day a paper was scraped from the daily page.
- data/arxiv-listings: arXiv metadata (CC0) used to fill authors, categories, publication
  dates and the abstracts that the scrape only has as the title.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import re
from datetime import datetime
from pathlib import Path

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


def norm(title: str) -> str:
    return re.sub(r"\W+", " ", title.lower()).strip()


def github_links(links) -> list[str]:
    out = []
    for url in links or []:
        owner = url.rstrip("/").split("github.com/")[-1].split("/")[0].lower()
        if owner != "huggingface" and url.count("/") >= 4:
            out.append(url)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", default="src/paperwire/demo/data")
    args = ap.parse_args()
    shared = Path(args.shared)
    listing_path = next((shared / "data/arxiv-listings").glob("*.jsonl.gz"))
    listings = {}
    by_title = {}
    with gzip.open(listing_path, "rt") as fh:
        for line in fh:
            d = json.loads(line)
            listings[d["id"]] = d
            by_title[norm(d["title"])] = d["id"]

    scraped: dict[str, dict] = {}
    files = sorted(glob.glob(str(shared / "data/hf-daily/scraped-2025-12_2026-08/monthly/*.json")))
    files.append(str(shared / "data/hf-daily/scraped-2025-12_2026-08/latest.json"))
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

    out = []
    for pid, entry in sorted(scraped.items(), key=lambda kv: (kv[1]["first"], kv[0])):
        d = entry["rec"]
        det = d.get("details") or {}
        lst = listings.get(pid)
        abstract = (det.get("abstract") or "").strip()
        if len(abstract) > 4000:  # arXiv abstracts stop at 1,920 characters: a scraping slip
            abstract = ""
        if lst and (not abstract or norm(abstract) == norm(d["title"]) or len(abstract) < 200):
            abstract = lst["summary"]
        links = github_links(det.get("github_links"))
        stars = int(d["stars"]) if str(d.get("stars", "")).isdigit() and links else None
        paper = {
            "id": pid,
            "title": d["title"],
            "abstract": abstract if norm(abstract) != norm(d["title"]) else "",
            "authors": lst["authors"] if lst else d.get("authors") or [],
            "categories": lst["categories"] if lst else [],
            "published": min(lst["listing_dates"]) if lst else None,
            "comment": lst.get("comment") if lst else None,
            "code_url": links[0] if links else None,
            "github_stars": stars,
        }
        out.append({"paper": paper, "feed_date": entry["first"], "upvotes": None})

    skipped = []
    for line in open(shared / "data/seed-page-papers.jsonl"):
        d = json.loads(line)
        pid = SEED_IDS.get(d["title"]) or by_title.get(norm(d["title"]))
        if pid is None:
            hf = next(
                (k for k, v in scraped.items() if norm(v["rec"]["title"]) == norm(d["title"])), None
            )
            pid = hf
        if pid is None:
            skipped.append(d["title"])
            continue
        lst = listings.get(pid)
        published = (
            datetime.strptime(d["published"], "%b %d %Y").date().isoformat()
            if d["published"]
            else (min(lst["listing_dates"]) if lst else None)
        )
        org = ORGS.get(d["organization"]) if d["organization"] else None
        paper = {
            "id": pid,
            "title": d["title"],
            "abstract": d["abstract"],
            "authors": lst["authors"] if lst else [],
            "num_authors": d["num_authors"],
            "categories": lst["categories"] if lst else [],
            "published": published,
            "comment": lst.get("comment") if lst else None,
            "code_url": (d["code_urls"] or [None])[0],
            "github_stars": None,
        }
        existing = next((o for o in out if o["paper"]["id"] == pid), None)
        if existing:
            existing["upvotes"] = d["upvotes"]
            existing["organization"] = org
            continue
        out.append(
            {
                "paper": paper,
                "feed_date": None,
                "upvotes": d["upvotes"],
                "organization": org,
                "reference_page": True,
            }
        )

    dest = Path(args.out)
    dest.mkdir(parents=True, exist_ok=True)
    with gzip.open(dest / "demo-papers.jsonl.gz", "wt", compresslevel=9) as fh:
        for o in out:
            fh.write(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{len(out)} papers written to {dest}; reference-page papers left out: {skipped}")


if __name__ == "__main__":
    main()
