"""What the store's repositories share: the database handle they are built on, batching,
and turning rows into domain models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..core.clock import utcnow
from ..core.models import User

if TYPE_CHECKING:
    from .database import Database

BATCH = 900  # rows per statement; stays under SQLite's bound-parameter limits
T = TypeVar("T")
M = TypeVar("M")


def chunks(items: Sequence[T], size: int = BATCH) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def model(cls: type[M], row: Row[Any] | Any, **fixes: Any) -> M:
    """A domain model from a row whose column names are its fields."""
    return cls(**{**row._mapping, **fixes})


def user_from(row: Row[Any] | Any) -> User:
    """A user from a row that may carry other columns too."""
    values = row._asdict()
    return User(**{k: values[k] for k in User.__dataclass_fields__})


def split_words(value: str | None) -> list[str]:
    return value.split() if value else []


class Repository:
    """A group of related queries over one :class:`~paperwire.store.database.Database`."""

    def __init__(self, db: Database):
        self.db = db


def ensure_named(
    db: Database, conn: Connection, table: sa.Table, wanted: dict[str, dict[str, Any]], key: str
) -> dict[str, int]:
    """Make sure a row exists per name (filling empty details); return name -> id."""
    if not wanted:
        return {}
    col = table.c[key]
    found = {r[0]: r for r in conn.execute(sa.select(col, table).where(col.in_(list(wanted))))}
    now = utcnow()
    missing = [{key: k, "created_at": now, **v} for k, v in wanted.items() if k not in found]
    if missing:
        conn.execute(db.insert(table).on_conflict_do_nothing(index_elements=[key]), missing)
    for name, details in wanted.items():
        row = found.get(name)
        if row is None:
            continue
        fill = {k: v for k, v in details.items() if v and not getattr(row, k, None)}
        if fill:
            conn.execute(table.update().where(col == name).values(**fill))
    rows = conn.execute(sa.select(col, table.c.id).where(col.in_(list(wanted))))
    return {name: row_id for name, row_id in rows}
