"""Collections: a user's named lists of papers, their items (in order, with a note each), who
may see which, and the limits every write keeps (whatever calls it: pages, API or tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.clock import utcnow
from ..core.errors import CollectionRefused
from ..core.models import COLLECTION_VISIBILITIES, Collection, CollectionItem
from ..core.text import clean
from . import schema as t
from .common import Repository, chunks

C, IT, U, P = t.collections, t.collection_items, t.users, t.papers
MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_NOTE = 2000
MAX_COLLECTIONS = 200  # per user
MAX_ITEMS = 5000  # per collection
DEFAULT_NAME = "Reading list"

_SIZE = (
    sa.select(sa.func.count())
    .select_from(IT)
    .where(IT.c.collection_id == C.c.id)
    .correlate(C)
    .scalar_subquery()
    .label("size")
)
_COLUMNS = (
    C.c.id,
    C.c.user_id,
    U.c.username.label("owner"),
    C.c.name,
    C.c.description,
    C.c.visibility,
    C.c.created_at,
    C.c.updated_at,
    _SIZE,
)


def _select() -> Any:
    return sa.select(*_COLUMNS).select_from(C.join(U, U.c.id == C.c.user_id))


def _model(row: Any) -> Collection:
    return Collection(**{**row._mapping, "size": int(row.size or 0)})


def check_name(name: str) -> str:
    name = " ".join(clean(name, lines=False).split())
    if not name:
        raise CollectionRefused("Give the collection a name.")
    if len(name) > MAX_NAME:
        raise CollectionRefused(f"A collection's name is at most {MAX_NAME} characters.")
    return name


def check_description(text: str) -> str:
    text = clean(text)
    if len(text) > MAX_DESCRIPTION:
        raise CollectionRefused(f"A description is at most {MAX_DESCRIPTION} characters.")
    return text


def check_note(text: str) -> str:
    text = clean(text)
    if len(text) > MAX_NOTE:
        raise CollectionRefused(f"A note is at most {MAX_NOTE} characters.")
    return text


def check_visibility(value: str) -> str:
    if value not in COLLECTION_VISIBILITIES:
        raise CollectionRefused(f"visibility must be one of {', '.join(COLLECTION_VISIBILITIES)}")
    return value


class CollectionRepo(Repository):
    # -- collections ---------------------------------------------------------------------
    def create(
        self, user_id: int, name: str, description: str = "", visibility: str = "private"
    ) -> Collection:
        """A new collection of the user's; refused past :data:`MAX_COLLECTIONS` (counted
        under a lock on the user's row, so racing creates cannot pass it)."""
        name, description = check_name(name), check_description(description)
        visibility = check_visibility(visibility)
        now = utcnow()
        with self.db.begin() as conn:
            # Write first, then count: SQLite's write lock (or, on PostgreSQL, the lock on
            # the user's row) makes racing creates count one after another.
            self._lock_user(conn, user_id)
            new_id = conn.execute(
                C.insert()
                .values(
                    user_id=user_id,
                    name=name,
                    description=description,
                    visibility=visibility,
                    created_at=now,
                    updated_at=now,
                )
                .returning(C.c.id)
            ).scalar_one()
            have = conn.execute(
                sa.select(sa.func.count()).select_from(C).where(C.c.user_id == user_id)
            ).scalar_one()
            if have > MAX_COLLECTIONS:  # the insert is rolled back with the transaction
                raise CollectionRefused(
                    f"You have {MAX_COLLECTIONS} collections, the most one may have: "
                    "delete one first."
                )
            row = conn.execute(_select().where(C.c.id == new_id)).one()
        return _model(row)

    def get(self, collection_id: int) -> Collection | None:
        with self.db.connect() as conn:
            row = conn.execute(_select().where(C.c.id == collection_id)).first()
        return _model(row) if row else None

    def visible(self, collection_id: int, viewer: int | None) -> Collection | None:
        """The collection if ``viewer`` may see it (a private one: its owner only)."""
        found = self.get(collection_id)
        return found if found is not None and found.visible_to(viewer) else None

    def owned(self, collection_id: int, user_id: int) -> Collection | None:
        found = self.get(collection_id)
        return found if found is not None and found.user_id == user_id else None

    def update(
        self,
        collection_id: int,
        user_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        visibility: str | None = None,
    ) -> Collection | None:
        """Change what is given of the owner's collection; None when it is not theirs."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = check_name(name)
        if description is not None:
            values["description"] = check_description(description)
        if visibility is not None:
            values["visibility"] = check_visibility(visibility)
        with self.db.begin() as conn:
            res = conn.execute(
                C.update()
                .where(C.c.id == collection_id, C.c.user_id == user_id)
                .values(updated_at=utcnow(), **values)
            )
            if res.rowcount != 1:
                return None
        return self.get(collection_id)

    def delete(self, collection_id: int, user_id: int) -> bool:
        with self.db.begin() as conn:
            mine = C.c.user_id == user_id
            if conn.execute(sa.select(C.c.id).where(C.c.id == collection_id, mine)).first():
                conn.execute(IT.delete().where(IT.c.collection_id == collection_id))
                conn.execute(C.delete().where(C.c.id == collection_id))
                return True
        return False

    def of_user(self, user_id: int, viewer: int | None = None) -> list[Collection]:
        """A user's collections, most recently changed first: all of them for the owner
        (``viewer``); for anyone else the public ones only (never an unlisted or private
        one)."""
        stmt = _select().where(C.c.user_id == user_id)
        if viewer != user_id:
            stmt = stmt.where(C.c.visibility == "public")
        with self.db.connect() as conn:
            rows = conn.execute(stmt.order_by(C.c.updated_at.desc(), C.c.id.desc()))
            return [_model(r) for r in rows]

    def including(self, paper_id: str, viewer: int | None) -> list[Collection]:
        """The collections holding a paper that a page may list: public ones, and the
        viewer's own (never anyone else's unlisted or private one)."""
        shown = C.c.visibility == "public"
        if viewer is not None:
            shown = sa.or_(shown, C.c.user_id == viewer)
        stmt = (
            _select()
            .where(C.c.id.in_(sa.select(IT.c.collection_id).where(IT.c.paper_id == paper_id)))
            .where(shown)
            .order_by(C.c.updated_at.desc(), C.c.id.desc())
            .limit(50)
        )
        with self.db.connect() as conn:
            return [_model(r) for r in conn.execute(stmt)]

    def holding(self, user_id: int, paper_id: str) -> set[int]:
        """Which of the user's collections hold the paper."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(IT.c.collection_id)
                .join(C, C.c.id == IT.c.collection_id)
                .where(C.c.user_id == user_id, IT.c.paper_id == paper_id)
            )
            return {r[0] for r in rows}

    def default_for(self, user_id: int) -> Collection:
        """Where a one-click save goes: the user's most recently changed collection, or a
        new private "Reading list" when they have none."""
        with self.db.connect() as conn:
            row = conn.execute(
                _select()
                .where(C.c.user_id == user_id)
                .order_by(C.c.updated_at.desc(), C.c.id.desc())
                .limit(1)
            ).first()
        if row is not None:
            return _model(row)
        return self.create(user_id, DEFAULT_NAME, visibility="private")

    # -- items ---------------------------------------------------------------------------
    def items(self, collection_id: int) -> list[CollectionItem]:
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(IT.c.paper_id, IT.c.position, IT.c.note, IT.c.added_at)
                .where(IT.c.collection_id == collection_id)
                .order_by(IT.c.position, IT.c.added_at)
            )
            return [CollectionItem(**r._mapping) for r in rows]

    def add(self, collection_id: int, paper_id: str, note: str = "") -> bool | None:
        """Put a paper at the end of a collection. True: added; False: it was there
        already; None: no such paper or collection. Refused past :data:`MAX_ITEMS`."""
        note = check_note(note)
        now = utcnow()
        with self.db.begin() as conn:
            if not self._lock(conn, collection_id, now):
                return None
            if conn.execute(sa.select(P.c.seq).where(P.c.id == paper_id)).first() is None:
                return None
            there = IT.c.collection_id == collection_id
            held = sa.select(IT.c.position).where(there, IT.c.paper_id == paper_id)
            if conn.execute(held).first():
                return False
            count, last = conn.execute(
                sa.select(sa.func.count(), sa.func.max(IT.c.position)).where(there)
            ).one()
            if count >= MAX_ITEMS:
                raise CollectionRefused(
                    f"A collection holds at most {MAX_ITEMS} papers: start another one."
                )
            conn.execute(
                IT.insert().values(
                    collection_id=collection_id,
                    paper_id=paper_id,
                    position=(last + 1) if last is not None else 0,
                    note=note,
                    added_at=now,
                )
            )
        return True

    def add_many(self, collection_id: int, paper_ids: Sequence[str]) -> int | None:
        """Put papers at the end of a collection, in the order given, in one transaction
        (a library import): those not indexed or already there are passed over. The number
        added, or None when there is no such collection. Refused, adding nothing, when the
        collection would hold more than :data:`MAX_ITEMS`."""
        wanted = list(dict.fromkeys(paper_ids))
        now = utcnow()
        with self.db.begin() as conn:
            if not self._lock(conn, collection_id, now):
                return None
            there = IT.c.collection_id == collection_id
            held = set(conn.execute(sa.select(IT.c.paper_id).where(there)).scalars())
            known: set[str] = set()
            for chunk in chunks([p for p in wanted if p not in held]):
                known.update(conn.execute(sa.select(P.c.id).where(P.c.id.in_(chunk))).scalars())
            new = [p for p in wanted if p in known]
            if len(held) + len(new) > MAX_ITEMS:
                raise CollectionRefused(
                    f"A collection holds at most {MAX_ITEMS} papers: start another one."
                )
            if new:
                last = conn.execute(sa.select(sa.func.max(IT.c.position)).where(there)).scalar()
                start = (last + 1) if last is not None else 0
                conn.execute(
                    IT.insert(),
                    [
                        {
                            "collection_id": collection_id,
                            "paper_id": p,
                            "position": start + k,
                            "note": "",
                            "added_at": now,
                        }
                        for k, p in enumerate(new)
                    ],
                )
        return len(new)

    def remove(self, collection_id: int, paper_id: str) -> bool:
        with self.db.begin() as conn:
            res = conn.execute(
                IT.delete().where(IT.c.collection_id == collection_id, IT.c.paper_id == paper_id)
            )
            if res.rowcount != 1:
                return False
            self._touch(conn, collection_id, utcnow())
        return True

    def set_note(self, collection_id: int, paper_id: str, note: str) -> bool:
        note = check_note(note)
        with self.db.begin() as conn:
            res = conn.execute(
                IT.update()
                .where(IT.c.collection_id == collection_id, IT.c.paper_id == paper_id)
                .values(note=note)
            )
            if res.rowcount != 1:
                return False
            self._touch(conn, collection_id, utcnow())
        return True

    def move(self, collection_id: int, paper_id: str, position: int) -> bool:
        """Put a paper at ``position`` (0 first; past the end: last), the others keeping
        their order; positions are renumbered 0, 1, 2... False when it is not there."""
        with self.db.begin() as conn:
            if not self._lock(conn, collection_id, utcnow()):
                return False
            order = [
                r[0]
                for r in conn.execute(
                    sa.select(IT.c.paper_id)
                    .where(IT.c.collection_id == collection_id)
                    .order_by(IT.c.position, IT.c.added_at)
                )
            ]
            if paper_id not in order:
                return False
            order.remove(paper_id)
            order.insert(max(0, min(position, len(order))), paper_id)
            self._renumber(conn, collection_id, order)
        return True

    def _renumber(self, conn: Connection, collection_id: int, order: Sequence[str]) -> None:
        current = dict(
            conn.execute(
                sa.select(IT.c.paper_id, IT.c.position).where(IT.c.collection_id == collection_id)
            ).all()
        )
        changed = [
            {"cid": collection_id, "pid": pid, "pos": i}
            for i, pid in enumerate(order)
            if current.get(pid) != i
        ]
        if changed:
            conn.execute(
                IT.update()
                .where(
                    IT.c.collection_id == sa.bindparam("cid"), IT.c.paper_id == sa.bindparam("pid")
                )
                .values(position=sa.bindparam("pos")),
                changed,
            )

    def _lock(self, conn: Connection, collection_id: int, now: Any) -> bool:
        """Mark the collection changed, first thing in the transaction: the write takes
        SQLite's write lock and PostgreSQL's row lock, so that racing writes to its items
        count and number them one after another. False when there is no such collection."""
        return self._touch(conn, collection_id, now)

    def _lock_user(self, conn: Connection, user_id: int) -> None:
        if self.db.dialect == "postgresql":
            conn.execute(sa.select(U.c.id).where(U.c.id == user_id).with_for_update())

    def _touch(self, conn: Connection, collection_id: int, now: Any) -> bool:
        res = conn.execute(C.update().where(C.c.id == collection_id).values(updated_at=now))
        return bool(res.rowcount == 1)

    # -- a user's collections as a whole -------------------------------------------------
    def export(self, user_id: int) -> list[dict[str, Any]]:
        """Every collection of the user's with its items and notes, as JSON-ready data."""
        out = []
        for c in self.of_user(user_id, viewer=user_id):
            out.append(
                {
                    "name": c.name,
                    "description": c.description,
                    "visibility": c.visibility,
                    "created_at": c.created_at.isoformat() + "Z",
                    "updated_at": c.updated_at.isoformat() + "Z",
                    "items": [
                        {
                            "paper_id": i.paper_id,
                            "note": i.note,
                            "added_at": i.added_at.isoformat() + "Z",
                        }
                        for i in self.items(c.id)
                    ],
                }
            )
        return out

    def saved_ids(self, user_id: int) -> list[str]:
        """Every paper in any of the user's collections, oldest save first."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(IT.c.paper_id, sa.func.min(IT.c.added_at).label("first_added"))
                .join(C, C.c.id == IT.c.collection_id)
                .where(C.c.user_id == user_id)
                .group_by(IT.c.paper_id)
                .order_by(sa.literal_column("first_added"), IT.c.paper_id)
            )
            return [r[0] for r in rows]


def delete_all(conn: Connection, user_id: int) -> None:
    """Delete a user's collections and items in the caller's transaction (account
    deletion)."""
    theirs = sa.select(C.c.id).where(C.c.user_id == user_id)
    conn.execute(IT.delete().where(IT.c.collection_id.in_(theirs)))
    conn.execute(C.delete().where(C.c.user_id == user_id))
