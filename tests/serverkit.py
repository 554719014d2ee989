"""Real `paperwire serve` processes for tests: started on a free port in their own process
group, ready when /healthz answers, stopped with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float = 90.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


class Server:
    """`paperwire serve` with settings from ``settings`` (as PAPERWIRE_* variables)."""

    def __init__(
        self,
        database_url: str,
        settings: Mapping[str, str],
        workdir: Path,
        workers: int = 1,
        port: int | None = None,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
        env.update({f"PAPERWIRE_{k.upper()}": str(v) for k, v in settings.items()})
        env["TMPDIR"] = str(workdir)
        self.log = workdir / f"serve-{self.port}.log"
        cmd = [sys.executable, "-m", "paperwire", "--db", database_url, "serve",
               "--port", str(self.port), "--workers", str(workers)]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def __enter__(self) -> Server:
        try:
            wait_until_up(f"{self.url}/healthz", proc=self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(self.log.read_text(errors="replace")[-3000:]) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill(self) -> None:
        """SIGKILL to the whole process group: the server and its workers, no goodbye."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
