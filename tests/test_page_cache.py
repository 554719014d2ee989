"""Index files read ahead into the page cache when an index is loaded (search/page_cache.py)."""

from __future__ import annotations

from pathlib import Path

from paperwire.search import page_cache


def test_preload_reads_every_file_through_on_a_thread(tmp_path, monkeypatch):
    """Each file is read to its end, in chunks, on a background thread; a folder, or a file
    gone meanwhile, is passed over without an error."""
    sizes = {"a": 10_000, "b": 3 * 4096, "empty": 0}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
    (tmp_path / "dir").mkdir()
    gone = tmp_path / "gone"
    gone.write_bytes(b"y")
    monkeypatch.setattr(page_cache, "CHUNK", 4096)
    read: dict[str, int] = {}
    real_open = Path.open

    def counting_open(self: Path, *args, **kw):
        if self == gone:
            raise FileNotFoundError(self)
        f = real_open(self, *args, **kw)
        real_readinto = f.readinto

        class Counted:
            def __enter__(self_inner):
                return self_inner

            def __exit__(self_inner, *exc):
                f.close()

            def readinto(self_inner, buffer):
                n = real_readinto(buffer)
                read[self.name] = read.get(self.name, 0) + n
                return n

        return Counted()

    monkeypatch.setattr(Path, "open", counting_open)
    thread = page_cache.preload([*(tmp_path / n for n in sizes), tmp_path / "dir", gone])
    thread.join(10)
    assert not thread.is_alive() and thread.name == "preload"
    assert read == {"a": 10_000, "b": 3 * 4096, "empty": 0}
