"""Log output of every command: text lines for people, or one JSON object a line
(``log_format = json``) for a log collector, with the fields of access lines kept apart."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any

from .errors import ConfigError
from .settings import OpsSettings

FORMATS = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
# What an access line carries besides its message (set as ``extra`` by the web layer).
ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "client")
# Loggers of uvicorn's own messages (start, stop, errors); its access log is replaced by
# paperwire.access, which knows the route and leaves secrets out of paths.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the access
    fields when present, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler[Any]):
    """Writes to whatever ``sys.stderr`` is when a record comes (as logging's last resort
    does), not to the stream that was current when logging was set up."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def check_format(ops: OpsSettings) -> str:
    fmt = ops.log_format.strip().lower()
    if fmt not in FORMATS:
        raise ConfigError(f"log_format is {ops.log_format!r}: use text or json")
    return fmt


def logging_config(ops: OpsSettings, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for this process: the root logger (Paperwire's own
    messages) and uvicorn's, in the chosen format, to standard error."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if check_format(ops) == "json"
        else {"format": TEXT_FORMAT}
    )
    handler = {"()": f"{__name__}.StderrHandler", "formatter": "main"}
    passing = {"level": level, "propagate": True, "handlers": []}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": level},
        "loggers": {
            **{name: passing for name in UVICORN_LOGGERS},
            "uvicorn.access": {"level": "WARNING", "propagate": False, "handlers": []},
        },
    }


def configure(ops: OpsSettings, level: str = "INFO") -> None:
    """Set up logging for this process (idempotent: replaces what was there)."""
    logging.config.dictConfig(logging_config(ops, level))
