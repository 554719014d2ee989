"""The store: the one place that talks SQL. SQLite by default, PostgreSQL for scale-out."""

from .core import Store, StoreError, UpsertCounts
from .search import SearchFilters

__all__ = ["SearchFilters", "Store", "StoreError", "UpsertCounts"]
