"""Debian's nginx for real in front of real `paperwire serve` processes, for tests and
benchmarks: deploy/nginx/paperwire.conf rendered into a temporary folder (TLS with a
self-signed certificate, non-privileged ports, its own pid, logs, temp and cache folders),
started in the foreground, waited for, stopped. Works as root or not.

    with app_server(db_url, tmp / "app") as app, run_nginx(tmp / "nginx", [app.address]) as ngx:
        with ngx.client() as client:        # from 127.0.0.3, through nginx over HTTPS
            client.get("/papers")
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

import paperwire.web

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NGINX = "/usr/sbin/nginx"
STATIC = Path(paperwire.web.__file__).parent / "static"
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so")
# Test clients connect from this loopback address, nginx reaches the app from 127.0.0.1:
# the app trusts 127.0.0.1 only, so the client is never mistaken for the proxy.
CLIENT_ADDRESS = "127.0.0.3"


def _render_module():
    spec = importlib.util.spec_from_file_location("paperwire_deploy_render", DEPLOY / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _render_module().render


def nginx_problem() -> str | None:
    """Why nginx cannot run here (None when it can): for conftest's ``require``."""
    if not os.access(NGINX, os.X_OK):
        return f"{NGINX} is not installed (apt install nginx)"
    if shutil.which("openssl") is None:
        return "openssl (for a test certificate) is not installed"
    return None


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports. The sockets are all held until every port is chosen:
    two calls of one-at-a-time may get the same port back, and nginx then merges the plain
    and the TLS ``listen`` into one (CI saw "no ssl_certificate … for listen … ssl")."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _wait(url: str, proc: subprocess.Popen, what: str, log: Path | None, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = log.read_text()[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}: {detail}")
        try:
            httpx.get(url, verify=False, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url} within {seconds:g} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@dataclass
class AppServer:
    """One `paperwire serve` process."""

    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def app_env(settings: Mapping[str, object]) -> dict[str, str]:
    """The environment of a server process: this one without PAPERWIRE_* variables, plus
    ``settings`` as PAPERWIRE_<NAME> (quiet background loops unless given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    values: dict[str, object] = {
        "digest_interval": 0,
        "job_interval": 0,
        "thumbnail_interval": 0,
        "secret_key": "nginxkit-secret",
        **settings,
    }
    env.update({f"PAPERWIRE_{k.upper()}": str(v) for k, v in values.items()})
    return env


@contextmanager
def app_server(
    db_url: str,
    folder: Path,
    *,
    workers: int = 1,
    port: int | None = None,
    settings: Mapping[str, object] | None = None,
    startup_seconds: float = 60,
) -> Iterator[AppServer]:
    """`paperwire serve --workers N` on a free port (its own process group), with the given
    settings; answering /healthz when entered, stopped on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = folder / f"serve-{port}.log"
    cmd = [sys.executable, "-m", "paperwire", "-q", "--db", db_url, "serve", "--port", str(port),
           "--workers", str(workers)]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=app_env(settings or {}), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=folder,
        )  # fmt: skip
    server = AppServer(proc, port, log)
    try:
        _wait(f"{server.url}/healthz", proc, "paperwire serve", log, startup_seconds)
        yield server
    finally:
        _stop(proc)


@dataclass
class Nginx:
    """A running nginx: its folder, ports and rendered configuration."""

    proc: subprocess.Popen
    folder: Path
    http_port: int
    https_port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def cache(self) -> Path:
        return self.folder / "cache"

    def client(self, source: str = CLIENT_ADDRESS, **kw: object) -> httpx.Client:
        """An HTTPS client of this nginx connecting from ``source`` (a loopback address)."""
        transport = httpx.HTTPTransport(local_address=source, verify=False)
        return httpx.Client(base_url=self.url, transport=transport, timeout=10, **kw)  # type: ignore[arg-type]

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text() if path.exists() else ""


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key (openssl, one day)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
         "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


MAIN_CONF = """\
{user}worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{modules}
events {{ worker_connections 4096; }}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log {access_log};
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
{includes}
}}
"""


def write_config(
    folder: Path,
    upstreams: list[str],
    *,
    workers: int | str = 1,
    access_log: bool = True,
    extra_http: str = "",
    **values: str,
) -> tuple[Path, int, int]:
    """Render the site into ``folder`` with a main nginx.conf around it; returns the main
    file and the HTTP and HTTPS ports. ``values`` override the template's (e.g.
    conn_per_address); ``extra_http`` is more configuration for the http block (e.g. a
    server of static files), where @FOLDER@ stands for ``folder`` (cert.pem, key.pem)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    cert, key = self_signed(folder)
    http_port, https_port = free_ports(2)
    site = render(
        (DEPLOY / "nginx" / "paperwire.conf").read_text(),
        {
            "server_name": "localhost 127.0.0.1",
            "https_url": f"https://127.0.0.1:{https_port}",
            "listen_http": f"127.0.0.1:{http_port}",
            "listen_https": f"127.0.0.1:{https_port}",
            "upstreams": ",".join(upstreams),
            "ssl_certificate": str(cert),
            "ssl_certificate_key": str(key),
            "cache_path": str(folder / "cache"),
            "static_root": str(STATIC),
            **values,
        },
    )
    (folder / "paperwire.conf").write_text(site)
    includes = [f"    include {folder}/paperwire.conf;"]
    modules = ""
    if BROTLI_MODULE.exists():  # Debian's libnginx-mod-http-brotli-filter
        modules = f"load_module {BROTLI_MODULE};"
        includes.append(f"    include {DEPLOY}/nginx/brotli.conf;")
    main = folder / "nginx.conf"
    main.write_text(
        MAIN_CONF.format(
            # As root, workers would run as nobody and could not read this private folder.
            user="user root;\n" if os.geteuid() == 0 else "",
            workers=workers,
            dir=folder,
            modules=modules,
            access_log=f"{folder}/access.log" if access_log else "off",
            includes="\n".join([*includes, extra_http.replace("@FOLDER@", str(folder))]),
        )
    )
    return main, http_port, https_port


@contextmanager
def run_nginx(folder: Path, upstreams: list[str], **options: object) -> Iterator[Nginx]:
    """nginx in the foreground with the site in front of ``upstreams`` (host:port), until the
    block ends. ``options`` go to :func:`write_config`."""
    main, http_port, https_port = write_config(folder, upstreams, **options)  # type: ignore[arg-type]
    check = subprocess.run([NGINX, "-t", "-q", "-p", str(folder), "-e", str(folder / "error.log"),
                            "-c", str(main)], capture_output=True, text=True)  # fmt: skip
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t refused the configuration: {check.stderr}")
    proc = subprocess.Popen(
        [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(main),
         "-g", "daemon off;"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    ngx = Nginx(proc, folder, http_port, https_port)
    try:
        _wait(ngx.http_url + "/", proc, "nginx", folder / "error.log", 20)
        yield ngx
    finally:
        _stop(proc)
