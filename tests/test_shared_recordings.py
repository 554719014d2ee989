"""Every recording and sample in ../shared goes through the parsers without a crash.

Skipped when ../shared is absent (the suite must pass without it)."""

import json

import pytest

from paperwire.ingest.arxiv_api import ArxivAPIError, parse_atom
from paperwire.ingest.hf_daily import parse_daily_papers
from paperwire.ingest.listing import listing_record
from paperwire.ingest.oai import parse_oai
from paperwire.ingest.pipeline import import_jsonl

from .conftest import SHARED
from .storekit import TRUST

pytestmark = pytest.mark.skipif(not SHARED.exists(), reason=f"{SHARED} not present")


def shared_files(folder, pattern):
    return sorted((SHARED / folder).rglob(pattern)) if SHARED.exists() else []


@pytest.mark.parametrize("path", shared_files("fixtures/arxiv-api", "*.xml"), ids=lambda p: p.name)
def test_every_recorded_atom_response(path):
    try:
        page = parse_atom(path.read_bytes())
    except ArxivAPIError:
        assert "errors" in path.read_text()
        return
    assert page.errors == []
    assert all(r.id and r.title for r in page.records)


@pytest.mark.parametrize(
    "path", shared_files("fixtures/arxiv-oai-pmh", "*.xml"), ids=lambda p: p.name
)
def test_every_recorded_oai_response(path):
    page = parse_oai(path.read_bytes())
    assert page.errors == [] and page.records


def test_hf_items():
    (path,) = shared_files("fixtures/hf-api", "*.json")
    items, problems = parse_daily_papers(json.loads(path.read_text()))
    assert len(items) == 2 and problems == []


@pytest.mark.parametrize(
    "path", shared_files("data/arxiv-listings/raw_sample", "*.jsonl"), ids=lambda p: p.name
)
def test_raw_listing_samples(sqlite_store, path):
    report = import_jsonl(sqlite_store, TRUST, path, listing_record)
    lines = sum(1 for line in path.open() if line.strip())
    assert report.seen == lines and report.skipped == []
    assert sqlite_store.db.count("papers") == report.inserted > 0
