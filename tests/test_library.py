"""Importing a library (issue 15 item 4): BibTeX, RIS and Zotero CSV exports written by hand
in the shapes arXiv, Google Scholar, Zotero and Mendeley give, their entries matched to the
real papers of the test listing by arXiv id, DOI and title, on SQLite and PostgreSQL; hostile
files; `paperwire library match`."""

from __future__ import annotations

import json
import random
from datetime import datetime

import pytest
from click.testing import CliRunner

from paperwire.cli import main
from paperwire.core.errors import BadRecord
from paperwire.core.records import PaperRecord
from paperwire.ingest.library import (
    MAX_ENTRIES,
    LibraryError,
    arxiv_id_in,
    latex_to_text,
    parse,
)
from paperwire.ingest.library_match import match, normalize_title
from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_jsonl
from paperwire.store import Store

from .replay import FIXTURES
from .storekit import TRUST

LIB = FIXTURES / "library"
LISTING = FIXTURES / "listings" / "2025-03-18.head60.jsonl"
KFOLD_DOI = "10.1016/j.neucom.2025.01.001"  # a stand-in DOI, in the case the store keeps it


def read(name: str):
    return parse((LIB / name).read_bytes(), name)


def by_line(lib):
    return {e.line: e for e in lib.entries}


# -- parsing --------------------------------------------------------------------------------
def test_arxiv_export_bibtex():
    lib = read("arxiv-export.bib")
    assert lib.format == "bibtex" and not lib.problems
    first, survey, attention = lib.entries
    assert first.title == "Color Matching Using Hypernetwork-Based Kolmogorov-Arnold Networks"
    assert first.authors[0] == "Artem Nikonorov" and len(first.authors) == 7
    assert (first.year, first.arxiv_id, first.line) == (2025, "2503.11781", 1)
    assert survey.arxiv_id == "2503.12067"  # eprint with a version: versionless
    assert (attention.arxiv_id, attention.line) == ("1706.03762", 21)


def test_google_scholar_bibtex():
    lib = read("scholar.bib")
    e = by_line(lib)
    assert e[1].arxiv_id == "2503.11731"  # journal = {arXiv preprint arXiv:2503.11731}
    assert e[1].authors[:2] == ["Xianming Zeng", "Sicong Du"]
    assert "others" not in " ".join(e[1].authors)
    assert e[8].arxiv_id is None and e[8].doi is None and e[8].year == 2025
    assert e[23].authors[5] == "Julien Pettré"
    assert e[30].title == "Deep learning"


def test_accents_macros_nested_braces_and_comments():
    lib = read("accents-macros.bib")
    assert not lib.problems  # the % line with "@ home {" and @comment are no entries
    e = by_line(lib)
    assert e[9].title == "Towards a Unified Copernicus Foundation Model for Earth Vision"
    assert e[9].arxiv_id == "2503.11849"  # @string arxiv # " arXiv:" # "2503.11849"
    assert "Laura Leal-Taixé" in e[9].authors
    assert e[17].title == "Challenges in Plane Symmetry: From Theory to Perception"
    assert e[17].authors[0] == "F. Çengel"
    assert e[24].doi == "10.48550/arXiv.2503.11958" and e[24].arxiv_id == "2503.11958"
    assert e[24].title.startswith("CHOrD: Generation of Collision-Free")
    assert "Cengiz Öztireli" in e[24].authors
    assert e[32].arxiv_id == "2503.12024"  # \url{https://arxiv.org/pdf/2503.12024v1}
    assert e[40].doi == "10.1016/J.NEUCOM.2025.01.001"  # from a doi.org URL
    assert e[40].title == "$k$-fold Subsampling based Sequential Backward Feature Elimination"
    assert e[48].title == "Quantisierung als Eigenwertproblem – Erste Mitteilung"
    assert e[48].authors == [
        "Erwin Schrödinger",
        "Kurt Gödel",
        "Pál Erdős",
        "Antonín Dvořák",
        "Jan Straße",
        "Barnes and Noble",
    ]


def test_zotero_ris():
    lib = read("zotero.ris")  # CRLF line ends, a continued abstract line
    assert lib.format == "ris" and not lib.problems
    e = by_line(lib)
    assert e[1].arxiv_id == "2503.12086" and e[1].year == 2025
    assert e[1].authors == ["Rui Qian", "Chenyangguang Zhang", "Yan Di", "Guangyao Zhai"]
    assert e[19].arxiv_id is None and e[19].title.startswith("VTON 360")
    assert e[30].arxiv_id == "2503.11742" and e[30].authors[0] == "Moreno D'Incà"  # Mendeley
    assert e[39].doi == "10.1145/3065386" and e[39].year == 2017


def test_zotero_csv():
    lib = read("zotero.csv")  # with Zotero's BOM, a quoted abstract over two lines
    assert lib.format == "csv" and not lib.problems
    e = by_line(lib)
    assert e[2].arxiv_id == "2503.12061" and e[2].authors == ["Yuqing Yan", "Yirui Wu"]
    assert e[4].arxiv_id == "2503.12063"  # Extra: "arXiv: 2503.12063"
    assert e[5].title == "Hyperbolic Safety-Aware Vision-Language Models" and e[5].year == 2025
    assert e[6].doi == "10.1109/5.726791" and e[6].year == 1998


def test_generic_csv_any_case_and_format_by_content():
    text = (
        "TITLE,Doi,URL\nSomething,10.1000/XYZ.1,\nOther,,https://arxiv.org/abs/hep-th/9901001v3\n"
    )
    lib = parse(text.encode(), "library.txt")
    assert lib.format == "csv"
    assert [(e.doi, e.arxiv_id) for e in lib.entries] == [
        ("10.1000/XYZ.1", None),
        (None, "hep-th/9901001"),
    ]
    # A .csv name on BibTeX text is read as BibTeX.
    bib = (LIB / "arxiv-export.bib").read_bytes()
    assert parse(bib, "export.csv").format == "bibtex"
    assert parse((LIB / "zotero.ris").read_bytes(), "x.bib").format == "ris"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arXiv preprint arXiv:2401.01234", "2401.01234"),
        ("https://arxiv.org/pdf/2401.01234v3.pdf", "2401.01234"),
        ("http://arxiv.org/abs/math.GT/0309136", "math.GT/0309136"),
        ("CoRR abs/1706.03762", "1706.03762"),
        ("arXiv: hep-th/9901001", "hep-th/9901001"),
        ("arXiv:HEP-TH/9901001v1 [hep-th]", "hep-th/9901001"),
        ("see arXiv:Math.gt/0309136.", "math.GT/0309136"),
        ("2401.01234v2", "2401.01234"),
        ("arXiv:2401.012", None),
        ("Journal of Things 12(3)", None),
    ],
)
def test_arxiv_ids_in_text(text, expected):
    assert arxiv_id_in(text) == expected


def test_latex_to_text():
    text = r"A \emph{very} {\"U}ber 50\% \$5 \{x\} \v{s}i\v c $\alpha$-test na\"{\i}ve \c c"
    assert latex_to_text(text) == "A very Über 50% $5 {x} šič $\\alpha$-test naïve ç"
    assert normalize_title("{BERT}: Pre-training of {D}eep  Transformers") == normalize_title(
        "BERT: pre-training of deep transformers."
    )
    assert normalize_title("Leal-Taixé") == "leal taixe"


# -- hostile input --------------------------------------------------------------------------
GOOD = (
    "@misc{k{n},\n  title={Good {Entry} {n}},\n  eprint={2503.11781},\n  archivePrefix={arXiv}\n}\n"
)


def good(n: int) -> str:
    return GOOD.replace("{n}", str(n))


def test_unbalanced_braces_skip_only_that_entry():
    text = good(1) + "@article{bad,\n  title={Never {closed},\n  year={2020},\n" + good(2)
    # A brace too many closes the entry early; what follows it up to the next @ is ignored.
    text += "@article{extra,\n  title={Closed}}},\n}\n" + good(3)
    lib = parse(text)
    assert [e.title for e in lib.entries] == [
        "Good Entry 1",
        "Good Entry 2",
        "Closed",
        "Good Entry 3",
    ]
    assert [p.line for p in lib.problems] == [6]
    assert all(isinstance(p, LibraryError) and isinstance(p, BadRecord) for p in lib.problems)
    assert str(lib.problems[0]).startswith("line 6: unbalanced braces")


def test_malformed_entries_are_reported_with_their_line():
    text = (
        good(1)
        + '@article{q,\n  title = "never ends,\n}\n'  # unterminated quote
        + "@article{m, title = nosuchmacro}\n"
        + "@article{nokey}\n"
        + "@article{f, title}\n"
        + "@article{e, year = {2020}}\n"  # nothing to match by
        + good(2)
    )
    lib = parse(text)
    assert [e.title for e in lib.entries] == ["Good Entry 1", "Good Entry 2"]
    assert [(p.line, p.args[0].split(" ")[0]) for p in lib.problems] == [
        (7, "unterminated"),  # where the quote opens
        (9, "unknown"),
        (10, "an"),
        (11, "expected"),
        (12, "no"),
    ]


def test_too_large_file_is_refused():
    with pytest.raises(LibraryError, match="5 MB at most"):
        parse(b"@misc{a, title={x}}\n" * 300_000)  # 6 MB


def test_binary_junk_and_empty_files_are_refused():
    junk = random.Random(15).randbytes(200_000)
    with pytest.raises(LibraryError, match="not text"):
        parse(junk, "library.bib")
    with pytest.raises(LibraryError, match="not a BibTeX, RIS or CSV"):
        parse(b"")
    with pytest.raises(LibraryError, match="not a BibTeX, RIS or CSV"):
        parse(b"just some words\nand more")


def test_too_many_entries_are_refused():
    text = "".join(f"@misc{{k{i}, title={{Paper {i}}}}}\n" for i in range(10_000))
    with pytest.raises(LibraryError, match="more than 5,000 entries"):
        parse(text)
    ok = "".join(f"@misc{{k{i}, title={{Paper {i}}}}}\n" for i in range(MAX_ENTRIES))
    assert len(parse(ok).entries) == MAX_ENTRIES


def test_many_bad_entries_on_one_line_end_soon():
    """A 5 MB line of tiny broken entries: refused, in linear time, without keeping a
    million problems."""
    with pytest.raises(LibraryError, match="more than 5,000 entries that cannot be read"):
        parse(b"@a{x}" * 1_000_000)
    with pytest.raises(LibraryError, match="not a BibTeX"):
        parse(b"@" * 5_000_000)
    lib = parse(b"@a{" * 1_000_000)  # one entry that never ends
    assert [p.line for p in lib.problems] == [1] and not lib.entries


def test_surrogates_and_old_mac_line_ends():
    lib = parse("@misc{a,\r title={Bad \ud800 text},\r year={2020}}\r@misc{b, title={B}}")
    assert [(e.title, e.line) for e in lib.entries] == [("Bad text", 1), ("B", 4)]


def test_nul_bytes_latin1_and_bom():
    lib = parse(b"@misc{a,\n title={Sch\x00r\xf6dinger's \x00cat}, year={1935}}\n")
    assert lib.entries[0].title == "Schrödinger's cat"  # Latin-1, NULs dropped
    lib = parse("\ufeffTY  - JOUR\nTI  - Über\nER  - \n".encode())
    assert lib.format == "ris" and lib.entries[0].title == "Über"


def test_huge_fields_skip_their_entry():
    huge = "x " * 150_000
    text = good(1) + f"@misc{{h, title={{T}}, abstract={{{huge}}}}}\n" + good(2)
    text += "@misc{t, title={" + "long " * 300 + "}}\n" + good(3)
    lib = parse(text)
    assert [e.title for e in lib.entries] == ["Good Entry 1", "Good Entry 2", "Good Entry 3"]
    assert ["longer than" in p.args[0] for p in lib.problems] == [True, True]
    deep = "@misc{d, title={" + "{" * 50_000 + "}" * 50_000 + "}}\n" + good(4)
    lib = parse(deep)
    assert [e.title for e in lib.entries] == ["Good Entry 4"]  # no title, no id: skipped
    assert len(lib.problems) == 1


def test_too_many_fields_or_authors_skip_their_entry():
    fields = "@misc{f, title={T}," + "x = 1, " * 1000 + "}\n"
    authors = "TY  - JOUR\nTI  - T\n" + "AU  - Someone, A.\n" * 10_001 + "ER  - \n"
    assert parse(fields + good(1)).problems[0].args[0] == "more than 200 fields in one entry"
    lib = parse(authors + "TY  - JOUR\nTI  - Kept\nER  - \n")
    assert [e.title for e in lib.entries] == ["Kept"]
    assert lib.problems[0].args[0] == "more than 10,000 authors"


def test_hostile_ris_and_csv():
    ris = "AU  - Before, TY\nTY  - JOUR\nTI  - One\nER  - \nTY  - JOUR\nTI  - Two\n"
    ris += "TY  - JOUR\nTI  - Three\nER  - \nTY  - JOUR\nTI  - " + "y" * 250_000 + "\nER  - \n"
    lib = parse(ris)
    assert [e.title for e in lib.entries] == ["One", "Three"]
    assert [p.line for p in lib.problems] == [1, 5, 11]
    csv_text = "Title,DOI\nFirst,\n" + '"' + "z" * 140_000 + '",\nLast,10.1/a\n'
    lib = parse(csv_text)
    assert [e.title for e in lib.entries] == ["First", "Last"]
    assert [p.line for p in lib.problems] == [3]


@pytest.mark.parametrize("name", ["arxiv-export.bib", "accents-macros.bib", "zotero.ris"])
def test_cut_and_corrupted_files_never_raise_anything_else(name):
    data = (LIB / name).read_bytes()
    rng = random.Random(name)
    for _ in range(150):
        cut = data[: rng.randrange(len(data))]
        noisy = bytearray(data)
        for _ in range(5):
            noisy[rng.randrange(len(noisy))] = rng.choice(b'{}"@,=#%\\\x00\xff\n')
        for sample in (cut, bytes(noisy)):
            try:
                lib = parse(sample)
            except LibraryError:
                continue
            assert all(isinstance(p, LibraryError) and p.line for p in lib.problems)


# -- matching -------------------------------------------------------------------------------
def _seed(store: Store) -> None:
    import_jsonl(store, TRUST, LISTING, listing_record)
    # A journal DOI (stored in upper case) and a publication date for the year check.
    k = store.papers.get("2503.11919")
    ros = store.papers.get("2503.12006")
    assert k is not None and ros is not None
    records = [
        PaperRecord(id=k.id, title=k.title, abstract=k.abstract, doi=KFOLD_DOI.upper()),
        PaperRecord(id=ros.id, title=ros.title, abstract=ros.abstract),
    ]
    records[1].published = datetime(2025, 3, 15)
    for r in records:
        r.source = "arxiv-api"
    store.papers.upsert([r.validated() for r in records], TRUST)
    assert store.papers.get("2503.11919").doi == KFOLD_DOI.upper()


def _hows(result) -> dict[int, tuple[str, str]]:
    return {m.entry.line: (m.paper_id, m.how) for m in result.matched}


def test_match_by_arxiv_doi_and_title(store):
    _seed(store)
    scholar = match(store, read("scholar.bib").entries)
    assert _hows(scholar) == {
        1: ("2503.11731", "arxiv"),
        8: ("2503.12006", "title"),
        16: ("2503.12049", "arxiv"),
        23: ("2503.12168", "title"),  # the title in lower case, an accent among the authors
    }
    assert [e.title for e in scholar.unknown] == ["Deep learning"]

    accents = match(store, read("accents-macros.bib").entries)
    assert _hows(accents) == {
        9: ("2503.11849", "arxiv"),
        17: ("2503.12028", "title"),  # braces in the title
        24: ("2503.11958", "arxiv"),  # from the arXiv DOI
        32: ("2503.12024", "arxiv"),
        40: ("2503.11919", "doi"),  # the DOI in another case, from a doi.org URL
    }
    assert [e.line for e in accents.unknown] == [48]

    ris = match(store, read("zotero.ris").entries)
    assert _hows(ris) == {
        1: ("2503.12086", "arxiv"),
        19: ("2503.12165", "title"),
        30: ("2503.11742", "arxiv"),
    }
    csv = match(store, read("zotero.csv").entries)
    assert _hows(csv) == {
        2: ("2503.12061", "arxiv"),
        4: ("2503.12063", "arxiv"),
        5: ("2503.12127", "title"),
    }
    assert [e.doi for e in csv.unknown] == ["10.1109/5.726791"]


def test_title_match_checks_the_year_and_the_whole_title(store):
    _seed(store)
    base = "@inproceedings{r, title={ROS-SAM: High-Quality Interactive Segmentation for "
    text = (
        base
        + "Remote Sensing Moving Object}, year={2026}}\n"  # one year off: still it
        + base
        + "Remote Sensing Moving Object}, year={2019}}\n"  # another paper
        + base
        + "Remote Sensing}, year={2025}}\n"  # a part of the title is not the title
        + "@misc{x, title={{Color} matching using hypernetwork-based {K}olmogorov--{A}rnold "
        + "networks.}}\n"  # no year: compared by title alone, in any case and punctuation
        + "@misc{y, title={Color Matching Using Hypernetwork-Based Networks}}\n"
        # No publication date stored: the year of its id (2025) is compared.
        + "@misc{z, title={Color Matching Using Hypernetwork-Based Kolmogorov-Arnold "
        + "Networks}, year={2019}}\n"
    )
    result = match(store, parse(text).entries)
    assert _hows(result) == {1: ("2503.12006", "title"), 4: ("2503.11781", "title")}
    assert [e.line for e in result.unknown] == [2, 3, 5, 6]


def test_match_queries_ids_and_dois_in_bulk(store):
    """Thousands of entries: the id and DOI steps are a few queries, not one per entry."""
    _seed(store)
    text = "".join(
        f"@misc{{k{i}, title={{}}, eprint={{2503.{10000 + i}}}, archivePrefix={{arXiv}}, "
        f"doi={{10.5555/{i}}}}}\n"
        for i in range(MAX_ENTRIES)
    )
    lib = parse(text)
    statements: list[str] = []
    import sqlalchemy as sa

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(store.db.engine, "before_cursor_execute", count)
    try:
        result = match(store, lib.entries)
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", count)
    found = {m.paper_id for m in result.matched}
    assert found == {"2503.11731", "2503.11742", "2503.11781", "2503.11787", "2503.11792"} | (
        found & {f"2503.{10000 + i}" for i in range(MAX_ENTRIES)}
    )
    assert len(result.matched) + len(result.unknown) == MAX_ENTRIES
    assert len(statements) <= 2 * (MAX_ENTRIES // 900 + 1) + 4


# -- command line ---------------------------------------------------------------------------
@pytest.fixture
def seeded_url(sqlite_url):
    with Store(sqlite_url) as s:
        s.db.upgrade()
        _seed(s)
    return sqlite_url


def invoke(url, *args):
    return CliRunner().invoke(main, ["--db", url, "library", "match", *args])


def test_cli_match_exit_codes(seeded_url, tmp_path):
    r = invoke(seeded_url, str(LIB / "zotero.ris"))
    assert r.exit_code == 1, r.output
    assert "matched  2503.12086" in r.stdout and "arxiv" in r.stdout
    assert "unknown" in r.stdout and "line 39: ImageNet classification" in r.stdout
    assert "ris: 3 matched, 1 unknown, 0 skipped" in r.stderr

    r = invoke(seeded_url, str(LIB / "zotero.csv"), "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1 and doc["format"] == "csv"
    assert {(m["paper_id"], m["how"]) for m in doc["matched"]} >= {("2503.12127", "title")}
    assert doc["unknown"] == [
        {
            "line": 6,
            "title": "Gradient-based learning applied to document recognition",
            "doi": "10.1109/5.726791",
            "arxiv_id": None,
        }
    ]

    every = tmp_path / "all.bib"
    every.write_text(good(1) + (LIB / "scholar.bib").read_text().split("@article{lecun")[0])
    r = invoke(seeded_url, str(every))
    assert r.exit_code == 0, r.output
    assert r.stdout.count("matched") == 5

    skipped = tmp_path / "skipped.bib"
    skipped.write_text(good(1) + "@misc{bad, title={oops}\n")
    r = invoke(seeded_url, str(skipped), "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["skipped"] == [
        {"line": 6, "problem": "unbalanced braces: the entry never ends"}
    ]


def test_cli_unreadable_files_exit_2(seeded_url, tmp_path):
    r = invoke(seeded_url, str(tmp_path / "missing.bib"))
    assert r.exit_code == 2 and "cannot read" in r.stderr
    big = tmp_path / "big.bib"
    big.write_bytes(b"@misc{a, title={x}}\n" * 300_000)
    r = invoke(seeded_url, str(big))
    assert r.exit_code == 2 and "5 MB at most" in r.stderr
    junk = tmp_path / "junk.ris"
    junk.write_bytes(random.Random(1).randbytes(50_000))
    r = invoke(seeded_url, str(junk))
    assert r.exit_code == 2 and "not text" in r.stderr


def test_title_words_as_the_keyword_index_reads_them():
    from paperwire.ingest.library_match import _title_words

    words = _title_words(r"M$^3$FinMeeting: DS_FusionNet with $\alpha$-nets for Öztireli")
    assert sorted(words) == ["alpha", "ds", "finmeeting", "fusionnet", "nets"]


def test_title_lookup_takes_no_syntax_from_words(store):
    _seed(store)
    hostile = ['"', "a OR b", "x:A|y", "NEAR(", "*", "title:", "", "-"]
    assert store.search.title_hits(hostile) == []
    seqs = store.search.title_hits(["Kolmogorov", "arnold", "hypernetwork"])
    assert store.papers.ids_of(seqs) == {seqs[0]: "2503.11781"}
    assert store.search.title_hits(["kolmogorov", "sensor"]) == []  # title words only
    assert store.search.title_hits(["sensor", "validation", "autonomous"]) == []  # abstract


def test_titles_the_index_reads_otherwise_are_still_found(store):
    """Real titles (from the arXiv listings) whose words PostgreSQL's parser reads as paths,
    hosts or versions ("of~Interval" is "~interval"): the next words find them."""
    titles = {
        "2606.30105": "Propagation of~Interval Belief Structures and~Imprecise Copulas for~Neural "
        "Network Verification",
        "2605.20764": "HyFrac.fun: A 3D Hydraulic Fracturing Simulator on Cloud",
        "2509.21318": "SD3.5-Flash: Distribution-Guided Distillation of Generative Flows",
    }
    records = [
        PaperRecord(id=k, title=v, abstract="", source="arxiv-api") for k, v in titles.items()
    ]
    store.papers.upsert([r.validated() for r in records], TRUST)
    text = "".join(
        f"@misc{{k{i}, title={{{t.replace('~', ' ')}}}, year={{2026}}}}\n"
        for i, t in enumerate(titles.values())
    )
    result = match(store, parse(text).entries)
    assert {m.paper_id for m in result.matched if m.how == "title"} == set(titles)
