"""A real nginx in front of the agent, configured with the README's snippet.

nginx rewrites `Host` by default (`proxy_pass http://127.0.0.1:PORT;` sends `Host:
127.0.0.1:PORT`): the setup `--public-url` exists for. scripts/test unpacks Debian's nginx
binary into .cache/nginx (no package installed, no service started on the machine); an
nginx already on PATH is used as it is.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT, port_is_open

UNPACKED = ROOT / ".cache" / "nginx" / "usr" / "sbin" / "nginx"

# The README's location block (section "Behind a reverse proxy"), with the ports filled in.
CONFIG = """\
worker_processes 1;
error_log {work}/error.log warn;
pid {work}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{listen};
        location {prefix} {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found:
        return found
    return str(UNPACKED) if UNPACKED.exists() else None


@contextmanager
def nginx_proxy(listen: int, upstream: int, prefix: str, work: Path) -> Iterator[None]:
    """nginx on 127.0.0.1:`listen` passing `prefix` to the agent on `upstream`; stopped (by
    its PID) and its files removed on exit."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("no nginx: run ./scripts/test, which unpacks Debian's nginx binary")
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(CONFIG.format(work=work, listen=listen, upstream=upstream, prefix=prefix))
    proc = subprocess.Popen(
        [binary, "-p", str(work), "-c", str(conf), "-g", "daemon off; user root;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not port_is_open(listen):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {proc.communicate()[1].strip()}")
            time.sleep(0.05)
        yield
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # fast shutdown of master and worker
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
