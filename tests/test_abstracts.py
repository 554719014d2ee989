"""Bot comments and blurbs are never stored as abstracts, from any source; a fuller abstract
is never replaced by a worse one."""

import copy
import gzip
import json
import re

import pytest

from paperwire.core.abstracts import abstract_flaw, abstract_quality
from paperwire.core.records import PaperRecord, clean_text
from paperwire.demo import paper_record as demo_record
from paperwire.ingest.arxiv_api import parse_atom
from paperwire.ingest.hf_daily import import_hf_file, parse_item
from paperwire.ingest.listing import listing_record
from paperwire.ingest.oai import parse_oai
from paperwire.ingest.pipeline import import_jsonl
from paperwire.ingest.snapshot import kaggle_record

from .conftest import SHARED
from .replay import fixture
from .storekit import TRUST

# Verbatim from a Hugging Face paper page (the scraped set in ../shared has 205 like it).
LIBRARIAN = (
    "This is an automated message from the Librarian Bot . I found the following papers "
    "similar to this paper. The following papers were recommended by the Semantic Scholar "
    "API DeepEyesV2: Toward Agentic Multimodal Model (2025) MATRIX: Multimodal Agent Tuning "
    "for Robust Tool-Use Reasoning (2025) Please give a thumbs up to this comment if you "
    "found it helpful! If you want recommendations for any Paper on Hugging Face checkout "
    "this Space You can directly ask Librarian Bot for paper recommendations by tagging it "
    "in a comment: @ librarian-bot recommend"
)
BLURB = "webpage: https://envharness.com/ code are all released."
SUMMARY = (
    "QQWorld improves latent world models with a quantile-quantile matching objective that "
    "aligns projected latent samples with rank-matched Gaussian quantiles."
)
ABSTRACT = (
    "Latent world models plan by imagining futures in a learned space, but their latent "
    "samples drift away from the prior the planner assumes. We match projected latent "
    "samples to rank-matched Gaussian quantiles, which keeps them on the prior, and show "
    "higher planning success on six control tasks."
)
NOT_ABSTRACTS = [
    LIBRARIAN,
    BLURB,
    "Github: https://github.com/NVIDIA/audio-flamingo",
    "Project Page: https://lihaitian.com/MonoArt/ GitHub: https://github.com/Quest4Science/MonoArt",
    "The code and dataset will be released publicly.",
    "We introduce OpenVLThinkerV2! Our code are available at: https://github.com/uclanlp/x",
    "TLDR: LLM agents are most unsafe at the very beginning of a session.",
    "good work",
    "Thanks for sharing, @ taesiri !",
]


@pytest.mark.parametrize("text", NOT_ABSTRACTS)
def test_bot_text_and_blurbs_are_not_abstracts(text):
    assert abstract_flaw(clean_text(text)) is not None
    assert abstract_quality(clean_text(text)) == 0


def test_real_abstracts_pass_however_short():
    for text in (
        ABSTRACT,
        SUMMARY,
        "We propose a new deterministic symmetric recursive algorithm for solving mean-payoff "
        "games.",  # 2603.07555, the shortest in the listings
        "This paper has been withdrawn by the authors.",  # 0704.0156 in the Kaggle snapshot
        "This report describes a dataset for industrial smoke segmentation, published on a "
        "figshare repository (https://doi.org/10.21942/uva.31847188). The dataset is "
        "licensed under CC BY 4.0.",
    ):
        assert abstract_flaw(text) is None, text
    assert abstract_flaw("Vision Mamba: Efficient", "Vision  mamba - efficient") == "the title"
    assert (abstract_quality(""), abstract_quality(SUMMARY), abstract_quality(ABSTRACT)) == (
        0,
        1,
        2,
    )


@pytest.mark.skipif(not SHARED.exists(), reason=f"{SHARED} not present")
def test_every_arxiv_listing_abstract_passes():
    """The rule was made to keep all of them (74,728 real abstracts)."""
    path = next((SHARED / "data/arxiv-listings").glob("*.jsonl.gz"))
    flagged, n = [], 0
    with gzip.open(path, "rt") as fh:
        for line in fh:
            d = json.loads(line)
            n += 1
            if abstract_flaw(clean_text(d["summary"]), clean_text(d["title"])):
                flagged.append(d["id"])
    assert n > 70_000 and flagged == []


# -- every source's parser drops them ------------------------------------------------------


@pytest.mark.parametrize("bad", [LIBRARIAN, BLURB])
def test_arxiv_api_entry(bad):
    xml = fixture("arxiv-api", "id_1707.08567_s0_m100_6a1afebfc6a3.xml").decode()
    good = parse_atom(xml.encode()).records[0]
    assert abstract_quality(good.abstract) == 2
    xml = re.sub(r"<summary>.*?</summary>", f"<summary>{bad}</summary>", xml, flags=re.S)
    rec = parse_atom(xml.encode()).records[0]
    assert rec.abstract == "" and rec.title == good.title


@pytest.mark.parametrize("bad", [LIBRARIAN, BLURB])
def test_oai_record(bad):
    xml = fixture("oai-pmh", "arxiv-single.xml").decode()
    assert abstract_quality(parse_oai(xml.encode()).records[0].abstract) == 2
    xml = re.sub(r"<abstract>.*?</abstract>", f"<abstract>{bad}</abstract>", xml, flags=re.S)
    assert parse_oai(xml.encode()).records[0].abstract == ""


def first_json_line(*parts):
    return json.loads(fixture(*parts).decode().splitlines()[0])


@pytest.mark.parametrize("bad", [LIBRARIAN, BLURB])
def test_kaggle_snapshot_record(bad):
    obj = first_json_line("kaggle", "arxiv-metadata-oai-snapshot.sample.jsonl")
    assert abstract_quality(kaggle_record(copy.deepcopy(obj)).abstract) == 2
    assert kaggle_record({**obj, "abstract": bad}).abstract == ""


@pytest.mark.parametrize("bad", [LIBRARIAN, BLURB])
def test_listing_record(bad):
    obj = first_json_line("listings", "2025-03-18.head60.jsonl")
    assert abstract_quality(listing_record(copy.deepcopy(obj)).abstract) == 2
    assert listing_record({**obj, "summary": bad}).abstract == ""


def hf_items(summary=None):
    items = json.loads(fixture("hf-api", "daily_papers_2024-10-25.first2.json"))
    if summary is not None:
        for item in items:
            item["paper"]["summary"] = item["summary"] = summary
    return items


@pytest.mark.parametrize("bad", [LIBRARIAN, BLURB])
def test_hf_daily_item(bad):
    assert abstract_quality(parse_item(hf_items()[0]).paper.abstract) == 2
    assert parse_item(hf_items(bad)[0]).paper.abstract == ""


def test_hf_blurb_keeps_its_github_link():
    item = parse_item(hf_items("Github: https://github.com/NVIDIA/audio-flamingo")[0])
    assert item.paper.abstract == "" and item.paper.github_repo == "NVIDIA/audio-flamingo"


@pytest.mark.parametrize("bad", [LIBRARIAN, BLURB])
def test_demo_record(bad):
    paper = {"id": "2401.09417", "title": "Vision Mamba", "abstract": bad}
    assert demo_record(paper).abstract == ""


def test_github_source_writes_no_abstracts(store):
    """The GitHub source only records repositories and stars: nothing it reads becomes text
    of a paper (see ingest/github.py), so the rule has nothing to judge there."""
    store.papers.upsert([rec(ABSTRACT)], TRUST)
    store.papers.record_github("2401.09417", stars=5, etag=None, repo="hustvl/Vim")
    assert store.papers.get("2401.09417").abstract == ABSTRACT


# -- through the pipelines into the store -----------------------------------------------


def test_pipelines_store_no_bot_text(store, tmp_path):
    listing = tmp_path / "listing.jsonl"
    obj = first_json_line("listings", "2025-03-18.head60.jsonl")
    listing.write_text(json.dumps({**obj, "summary": LIBRARIAN}) + "\n")
    report = import_jsonl(store, TRUST, listing, listing_record)
    assert report.inserted == 1
    assert store.papers.get(obj["id"]).abstract == ""
    hf = tmp_path / "hf.json"
    hf.write_text(json.dumps(hf_items(BLURB)))
    report = import_hf_file(store, TRUST, hf)
    assert report.inserted == 2 and report.feed_added == 2
    for item in hf_items():
        assert store.papers.get(item["paper"]["id"]).abstract == ""
    assert store.search.keyword_search('"automated message from the librarian bot"') == []


def test_hf_blurb_after_arxiv_abstract_keeps_the_abstract(store, tmp_path):
    """Hugging Face is trusted more than a listing file, yet its blurb or summary does not
    replace the listing's abstract; the listing's abstract replaces HF's summary."""
    items = hf_items()
    pid = items[0]["paper"]["id"]
    listing = tmp_path / "listing.jsonl"
    real = items[0]["paper"]["summary"]
    line = {"id": pid, "title": items[0]["paper"]["title"], "summary": real, "authors": ["A B"]}
    listing.write_text(json.dumps(line) + "\n")
    import_jsonl(store, TRUST, listing, listing_record)
    for worse in (BLURB, LIBRARIAN, SUMMARY):
        hf = tmp_path / "hf.json"
        hf.write_text(json.dumps(hf_items(worse)))
        import_hf_file(store, TRUST, hf)
        assert store.papers.get(pid).abstract == clean_text(real), worse
    assert store.papers.get(pid).source == "hf"  # HF's other fields did override


# -- the merge rule -----------------------------------------------------------------------


def rec(abstract, source="arxiv-api", **kw):
    base = dict(id="2401.09417", title="Vision Mamba", authors=["Lianghui Zhu"])
    return PaperRecord(**{**base, **kw}, abstract=abstract, source=source).validated()


def test_merge_keeps_the_better_abstract_whatever_the_trust(store):
    store.papers.upsert([rec(ABSTRACT, source="demo")], TRUST)
    store.papers.upsert([rec(SUMMARY, source="arxiv-api")], TRUST)  # trusted most
    assert store.papers.get("2401.09417").abstract == ABSTRACT


def test_merge_upgrades_a_summary_from_a_less_trusted_source(store):
    store.papers.upsert([rec(SUMMARY, source="hf")], TRUST)
    store.papers.upsert([rec(ABSTRACT, source="demo")], TRUST)
    p = store.papers.get("2401.09417")
    assert p.abstract == ABSTRACT and p.source == "hf"  # only the abstract came from the demo


def test_merge_replaces_stored_bot_text(store):
    """A database filled before the rule may hold bot text: any real abstract replaces it."""
    raw = PaperRecord(id="2401.09417", title="Vision Mamba", abstract=LIBRARIAN, source="hf")
    store.papers.upsert([raw], TRUST)  # not validated: as an older version stored it
    assert store.papers.get("2401.09417").abstract == LIBRARIAN
    store.papers.upsert([rec(SUMMARY, source="demo")], TRUST)
    assert store.papers.get("2401.09417").abstract == SUMMARY


def test_merge_takes_a_newer_versions_shorter_abstract(store):
    store.papers.upsert([rec(ABSTRACT, version=1)], TRUST)
    store.papers.upsert([rec(SUMMARY, version=2)], TRUST)
    assert store.papers.get("2401.09417").abstract == SUMMARY
    store.papers.upsert([rec(ABSTRACT, version=1)], TRUST)
    assert store.papers.get("2401.09417").abstract == SUMMARY


def test_merge_never_takes_text_that_is_not_an_abstract(store):
    store.papers.upsert([rec(ABSTRACT, source="demo")], TRUST)
    raw = PaperRecord(id="2401.09417", title="Vision Mamba", abstract=BLURB, source="arxiv-api")
    store.papers.upsert([raw], TRUST)
    assert store.papers.get("2401.09417").abstract == ABSTRACT
