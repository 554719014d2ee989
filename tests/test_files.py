"""Streaming file sources: the Kaggle snapshot and daily listing files."""

import gzip
import json
from datetime import date

from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_jsonl
from paperwire.ingest.snapshot import kaggle_record, snapshot_filter

from .replay import FIXTURES
from .storekit import TRUST

KAGGLE = FIXTURES / "kaggle" / "arxiv-metadata-oai-snapshot.sample.jsonl"
LISTING = FIXTURES / "listings" / "2025-03-18.head60.jsonl"


def kaggle_lines():
    return KAGGLE.read_text().splitlines()


def test_kaggle_record_fields():
    rec = kaggle_record(json.loads(kaggle_lines()[0]))
    assert rec.id == "0704.0001" and rec.version == 2
    assert rec.title.startswith("Calculation of prompt diphoton production cross sections")
    assert rec.authors[:2] == ["C. Balázs", "E. L. Berger"] or rec.authors[0].endswith("Bal\\'azs")
    assert rec.categories == ["hep-ph"] and rec.doi == "10.1103/PhysRevD.76.013009"
    assert rec.published.isoformat() == "2007-04-02T19:18:42"
    assert rec.journal_ref == "Phys.Rev.D76:013009,2007" and rec.source == "snapshot"


def test_kaggle_import_is_idempotent(store):
    first = import_jsonl(store, TRUST, KAGGLE, kaggle_record)
    assert (first.seen, first.inserted, first.skipped) == (200, 200, [])
    again = import_jsonl(store, TRUST, KAGGLE, kaggle_record)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 200)
    assert store.db.count("papers") == 200


def test_bad_lines_are_reported_and_the_rest_goes_in(store, tmp_path):
    lines = kaggle_lines()[:10]
    broken = (
        lines[:3]
        + [
            '{"id": "0704.0099", "title": ',
            "[1, 2]",
            json.dumps({"id": "not an id", "title": "x"}),
            json.dumps({"id": "0704.0098", "title": "", "abstract": "no title"}),
            json.dumps({"id": "0704.0097", "title": "t", "versions": "v1"}),
        ]
        + lines[3:]
    )
    path = tmp_path / "mixed.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(broken) + "\n\n")
    report = import_jsonl(store, TRUST, path, kaggle_record)
    assert report.inserted == 10 and len(report.skipped) == 5
    assert report.skipped[0].startswith("line 4: invalid JSON")
    assert "expected a JSON object" in report.skipped[1]
    assert "not an arXiv id" in report.skipped[2] and "has no title" in report.skipped[3]
    assert "versions must be a list" in report.skipped[4]
    assert store.db.count("papers") == 10


def test_dry_run_and_limit(store):
    report = import_jsonl(store, TRUST, KAGGLE, kaggle_record, limit=25, dry_run=True)
    assert (report.seen, report.inserted) == (25, 25)
    assert store.db.count("papers") == 0


def test_filter_by_category_and_date(store):
    keep = snapshot_filter("hep-ph", None)
    report = import_jsonl(store, TRUST, KAGGLE, kaggle_record, keep=keep)
    cats = [json.loads(line)["categories"].split() for line in kaggle_lines()]
    assert report.inserted == sum(
        any(c == "hep-ph" or c.startswith("hep-ph.") for c in cs) for cs in cats
    )
    keep_math = snapshot_filter("math", date(2009, 1, 1))
    assert keep_math({"categories": "math.CO cs.DM", "update_date": "2010-05-01"})
    assert not keep_math({"categories": "mathph", "update_date": "2010-05-01"})
    assert not keep_math({"categories": "math.CO", "update_date": "2008-05-01"})


def test_listing_records(store):
    first = json.loads(LISTING.read_text().splitlines()[0])
    rec = listing_record(first)
    assert rec.id == "2503.11731" and rec.categories == ["cs.CV", "cs.RO"]
    assert rec.authors[0] == "Xianming Zeng" and rec.num_authors == 16
    cut = dict(
        first, authors=["A One", "B Two", "…(+38)"], listing_dates=["2025-03-19", "2025-03-18"]
    )
    rec = listing_record(cut)
    assert rec.authors == ["A One", "B Two"] and rec.num_authors == 40
    assert rec.published.date() == date(2025, 3, 18)
    report = import_jsonl(store, TRUST, LISTING, listing_record)
    assert report.inserted == 60 and report.skipped == []
