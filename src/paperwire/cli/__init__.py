"""The ``paperwire`` command line: the group and its runtime (:mod:`.main`), and the
built-in commands by subject. Source commands (``paperwire ingest …``) come from the sources
plugins register; other plugins add commands through ``register_commands``."""

from __future__ import annotations

from . import (  # noqa: F401 - they add their commands
    catalogue,
    digest,
    jobs,
    library,
    recommend,
    search,
    site,
    thumbnails,
)
from .main import main

__all__ = ["main"]
