"""Vectors in and out as files (issue 16): `paperwire index --export DIR` and `--import DIR`
move every vector between stores and backends unchanged; `--export-texts` writes what the
model reads, for embedding elsewhere; bad files are refused with nothing stored."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from paperwire.cli.main import main
from paperwire.core.errors import StoreError
from paperwire.search import vector_files as vf
from paperwire.search.model import paper_text
from paperwire.search.model_build import DIM, model_key
from paperwire.store import Store

from .webkit import MODEL_CACHE, seed

KEY = model_key()


def _fill(store: Store, n: int = 20) -> dict[str, np.ndarray]:
    """Random unit vectors for the first ``n`` papers (by id): what an index run stores."""
    seed(store)
    rng = np.random.default_rng(7)
    ids = sorted(p.id for p in store.feed.latest(limit=100))[:n]
    seqs = store.embeddings.seqs_of(ids)
    vecs = rng.normal(size=(n, DIM)).astype("<f4")
    vecs /= np.linalg.norm(vecs, axis=1)[:, None]
    store.embeddings.save(KEY, [(seqs[i], v) for i, v in zip(ids, vecs, strict=True)])
    return dict(zip(ids, vecs, strict=True))


def _stored(store: Store) -> dict[str, np.ndarray]:
    rows = store.embeddings.export_rows(KEY)
    return {pid: v for ids, vecs in rows for pid, v in zip(ids, vecs, strict=True)}


def test_vectors_go_from_one_store_to_another_unchanged(store, tmp_path):
    """From this backend's store to a SQLite one and back: the same vectors, to the bit."""
    made = _fill(store)
    out = tmp_path / "out"
    assert vf.export_vectors(store, KEY, out) == len(made)
    meta = json.loads((out / vf.META).read_text())
    assert meta["model"] == KEY and meta["dim"] == DIM and meta["count"] == len(made)
    assert np.load(out / vf.VECTORS).shape == (len(made), DIM)

    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    other.db.upgrade()
    seed(other)
    got = vf.import_vectors(other, KEY, out)
    assert got.stored == len(made) and got.unknown == []
    copied = _stored(other)
    assert copied.keys() == made.keys()
    assert all(np.array_equal(copied[k], made[k]) for k in made)
    # importing again replaces, never duplicates
    assert vf.import_vectors(other, KEY, out).stored == len(made)
    assert other.embeddings.state(KEY)[0] == len(made)
    other.close()


def test_texts_to_embed_elsewhere_and_their_vectors_back(store, tmp_path):
    _fill(store, n=5)
    out = tmp_path / "gpu"
    total = vf.export_texts(store, KEY, out, missing_only=False)
    todo = vf.export_texts(store, KEY, tmp_path / "todo", missing_only=True)
    assert total == todo + 5 and todo > 0
    lines = [json.loads(x) for x in (out / vf.TEXTS).read_text().splitlines()]
    first = store.papers.get(lines[0]["id"])
    assert lines[0]["text"] == paper_text(first.title, first.abstract)
    # "the GPU box": any float rows, in order, any length; stored unit-length
    vecs = np.random.default_rng(1).normal(size=(len(lines), DIM)) * 3.0
    np.save(out / vf.VECTORS, vecs)  # float64 is fine
    (out / vf.IDS).write_text("\n".join(x["id"] for x in lines) + "\n2501.99999\n")
    with pytest.raises(StoreError, match="names .* papers but"):
        vf.import_vectors(store, KEY, out)
    np.save(out / vf.VECTORS, np.vstack([vecs, np.ones((1, DIM))]))
    got = vf.import_vectors(store, KEY, out)
    assert got.stored == len(lines) and got.unknown == ["2501.99999"]
    norms = np.linalg.norm(np.vstack([v for v in _stored(store).values()]), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)


def test_bad_files_are_refused_with_nothing_stored(sqlite_store, tmp_path):
    store = sqlite_store
    made = _fill(store, n=4)
    out = tmp_path / "out"
    vf.export_vectors(store, KEY, out)
    with store.begin() as conn:
        conn.exec_driver_sql("DELETE FROM paper_embeddings")

    meta = json.loads((out / vf.META).read_text())
    (out / vf.META).write_text(json.dumps({**meta, "model": "another-model/fp32"}))
    with pytest.raises(StoreError, match="another-model"):
        vf.import_vectors(store, KEY, out)
    (out / vf.META).write_text(json.dumps(meta))

    good = np.load(out / vf.VECTORS)
    for bad, problem in (
        (good[:, :10], "float rows of"),
        (np.vstack([good[:3], np.full((1, DIM), np.nan)]), "zero or NaN"),
        (np.vstack([good[:3], np.zeros((1, DIM))]), "zero or NaN"),
    ):
        np.save(out / vf.VECTORS, bad)
        with pytest.raises(StoreError, match=problem):
            vf.import_vectors(store, KEY, out)
    np.save(out / vf.VECTORS, np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    with pytest.raises(StoreError, match="cannot read"):  # a pickle runs no code here
        vf.import_vectors(store, KEY, out)
    (out / vf.META).write_text("{not json")
    with pytest.raises(StoreError, match="cannot read"):
        vf.import_vectors(store, KEY, out)
    assert store.embeddings.state(KEY)[0] == 0
    assert len(made) == 4


def test_the_index_command_exports_and_imports(sqlite_store, tmp_path):
    store = sqlite_store
    made = _fill(store, n=6)
    env = {
        "PAPERWIRE_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "PAPERWIRE_INDEX_DIR": str(tmp_path / "ix"),
    }
    run = CliRunner().invoke
    out = tmp_path / "out"
    r = run(main, ["--db", store.url, "index", "--export", str(out)], env=env)
    assert r.exit_code == 0, r.output
    assert f"exported {len(made)} vectors" in r.output
    with store.begin() as conn:
        conn.exec_driver_sql("DELETE FROM paper_embeddings")
    r = run(main, ["--db", store.url, "index", "--import", str(out)], env=env)
    assert r.exit_code == 0, r.output
    assert f"imported {len(made)} vectors" in r.output and "6 papers" in r.output
    # paperwire stats says where the index stands
    r = run(main, ["--db", store.url, "stats", "--json"], env=env)
    ix = json.loads(r.output)["search_index"]
    assert ix["embedded"] == 6 and ix["to_embed"] == 60 - 6 and ix["delta"] == 0
    assert ix["snapshot"]["vectors"] == 6 and ix["snapshot"]["kind"] == "exact"
    vf.import_vectors(store, KEY, out)  # stored again after the snapshot: the delta
    r = run(main, ["--db", store.url, "stats"], env=env)
    assert "index snapshot              6  (exact search, written" in r.output
    assert "index delta                 6  (stored since the snapshot, oldest" in r.output
    (out / vf.META).write_text("[]")
    r = run(main, ["--db", store.url, "index", "--import", str(out)], env=env)
    assert r.exit_code == 1 and "not a JSON object" in r.output
    both = ["--export", str(out), "--import", str(out)]
    assert run(main, ["--db", store.url, "index", *both], env=env).exit_code == 2


def test_a_replaced_vector_gets_an_id_above_every_earlier_one(store):
    """Each process's index reads the vectors stored after the highest id it has seen: a
    vector that replaces the newest one must not get that one's id again (SQLite reused it
    before AUTOINCREMENT, migration 0015)."""
    made = _fill(store, n=3)
    _, high = store.embeddings.state(KEY)
    newest = list(made)[-1]
    seq = store.embeddings.seqs_of([newest])[newest]
    store.embeddings.save(KEY, [(seq, made[newest])])
    ids = [int(i) for row_ids, _, _ in store.embeddings.rows_after(KEY, high) for i in row_ids]
    assert ids and min(ids) > high


def test_catching_up_reads_from_the_high_water_mark_not_every_vector(store):
    """What each process reads on every refresh — the vectors stored after the highest row
    id it has, of its model — comes from a walk of the primary key from there (at 3 million
    vectors the model's index made it read them all: 420 ms per refresh); the rows are those
    of the model only, in id order, and so are the lag and the export."""
    made = _fill(store, n=12)
    seqs = store.embeddings.seqs_of(list(made))
    store.embeddings.save("other-model", [(seqs[pid], v) for pid, v in made.items()][:5])
    ids = [
        int(i) for row_ids, _, _ in store.embeddings.rows_after(KEY, 0, batch=5) for i in row_ids
    ]
    assert len(ids) == 12 and ids == sorted(ids)
    after = [int(i) for row_ids, _, _ in store.embeddings.rows_after(KEY, ids[6]) for i in row_ids]
    assert after == ids[7:]
    assert store.embeddings.behind(KEY, ids[6])[0] == 5
    assert set(_stored(store)) == set(made)
    if store.dialect == "sqlite":
        from paperwire.store import schema

        e = schema.paper_embeddings
        q = store.embeddings._rows_query(KEY).where(e.c.id > 5).order_by(e.c.id).limit(10)
        with store.db.engine.connect() as conn:
            plan = " ".join(
                str(r[-1])
                for r in conn.execute(
                    sa.text(
                        "EXPLAIN QUERY PLAN "
                        + str(q.compile(compile_kwargs={"literal_binds": True}))
                    )
                )
            )
        assert "INTEGER PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan
