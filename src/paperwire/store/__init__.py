"""The store: the one place that talks SQL. SQLite by default, PostgreSQL for scale-out."""

from .core import Store, StoreError, UpsertCounts

__all__ = ["Store", "StoreError", "UpsertCounts"]
