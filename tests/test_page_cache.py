"""Index files read ahead into the page cache when an index is loaded (search/page_cache.py)."""

from __future__ import annotations

import os

import pytest

from paperwire.search import page_cache


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_preload_advises_the_kernel_to_read_each_file(tmp_path, monkeypatch):
    """Every file is opened and advised WILLNEED over its whole length, on a background
    thread; a folder, or a file gone meanwhile, is passed over without an error."""
    files = [tmp_path / "a", tmp_path / "b"]
    for f in files:
        f.write_bytes(b"x" * 10_000)
    (tmp_path / "dir").mkdir()
    advised: list[tuple[int, int, int, int]] = []
    real = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        advised.append((os.fstat(fd).st_ino, offset, length, advice))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    gone = tmp_path / "gone"
    gone.write_bytes(b"y")
    original_open = os.open

    def vanishing_open(path, *args, **kw):
        if str(path) == str(gone):
            raise FileNotFoundError(path)
        return original_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", vanishing_open)
    thread = page_cache.preload([*files, tmp_path / "dir", gone, tmp_path / "missing"])
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive()
    inodes = [f.stat().st_ino for f in files]
    assert advised == [(i, 0, 0, os.POSIX_FADV_WILLNEED) for i in inodes]
