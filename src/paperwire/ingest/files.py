"""Reading input files: plain or gzip, or standard input; JSON Lines one object at a time, so
that memory stays flat whatever the file size."""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ..core.errors import BadRecord


def open_input(path: str | Path) -> tuple[BinaryIO, int | None]:
    """Open a (possibly gzipped) file or ``-`` for stdin; return the stream and its size."""
    if str(path) == "-":
        return sys.stdin.buffer, None
    p = Path(path)
    size = p.stat().st_size
    raw = p.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw), size  # type: ignore[return-value]
    raw.seek(0)
    return raw, size


def raw_position(stream: Any) -> int:
    """Bytes consumed from the underlying file (compressed bytes for gzip)."""
    inner = getattr(stream, "fileobj", None)
    try:
        return (inner or stream).tell()
    except (OSError, ValueError, io.UnsupportedOperation):
        return 0


def iter_json_lines(stream: Any) -> Iterator[tuple[int, dict[str, Any] | BadRecord]]:
    """Yield (line number, object or BadRecord) for each non-blank line."""
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            yield n, BadRecord(f"invalid JSON ({exc})", f"line {n}")
            continue
        if not isinstance(obj, dict):
            yield n, BadRecord("expected a JSON object", f"line {n}")
            continue
        yield n, obj
